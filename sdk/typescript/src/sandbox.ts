/**
 * `Sandbox`: the control-plane lifecycle (create, connect, list, pause,
 * fork, snapshot, kill, ...) and the data-plane modules of one sandbox
 * (`commands`, `pty`, `files`).
 * @module
 */
import { Commands, Pty } from "./commands.js";
import { resolveConfig, type ConnectionOptions } from "./config.js";
import { Envd } from "./envd.js";
import { NotFoundError, SandboxError } from "./errors.js";
import { Files } from "./files.js";
import { RestClient, randomKey } from "./http.js";
import type { CreateSandboxBody, Metrics, MetricsSample, SandboxInfo, SandboxPage, SandboxState, Template, TimeoutAction } from "./models.js";
import { Paginator } from "./paginate.js";

// `await using` needs Symbol.asyncDispose (Node < 20.4 lacks it): the same
// registered symbol TypeScript's downlevel helper falls back to.
if (typeof (Symbol as { asyncDispose?: symbol }).asyncDispose !== "symbol") {
  Object.defineProperty(Symbol, "asyncDispose", { value: Symbol.for("Symbol.asyncDispose") });
}

/** Options of {@link Sandbox.create}. */
export interface SandboxCreateOptions extends ConnectionOptions {
  /** Template name (default `base`). */
  template?: string;
  vcpus?: number;
  memoryMb?: number;
  diskMb?: number;
  /** Inactivity timeout in seconds (default 300). */
  timeoutSecs?: number;
  /** What the timeout does: `kill` (default) or `pause`. */
  onTimeout?: TimeoutAction;
  /** A request through the sandbox proxy resumes the sandbox when paused. */
  autoResume?: boolean;
  envVars?: Record<string, string>;
  metadata?: Record<string, string>;
  /** Internet access outside `egressAllow` (default true). */
  internet?: boolean;
  egressAllow?: string[];
  egressDeny?: string[];
  /** Host tags the sandbox's host must carry. */
  tags?: string[];
  /** False: user ports need the traffic access token. */
  publicTraffic?: boolean;
  /** Idempotency-Key of the create (default: a fresh one, reused by retries). */
  idempotencyKey?: string;
}

/** Options of {@link Sandbox.list}. */
export interface SandboxListOptions extends ConnectionOptions {
  state?: SandboxState;
  /** Only sandboxes whose metadata has all these pairs. */
  metadata?: Record<string, string>;
  /** Page size (1-200, default 50). */
  limit?: number;
}

/** A sandbox: lifecycle calls and the `commands`, `pty` and `files` of its guest. */
export class Sandbox {
  /** Commands in the sandbox. */
  readonly commands: Commands;
  /** Interactive terminals. */
  readonly pty: Pty;
  /** The sandbox's file system. */
  readonly files: Files;
  private envd: Envd;

  private constructor(
    private data: SandboxInfo,
    private readonly rest: RestClient,
  ) {
    this.envd = new Envd({
      sandboxId: data.id,
      accessToken: data.envd_access_token ?? undefined,
      config: rest.config,
    });
    this.commands = new Commands(this.envd);
    this.pty = new Pty(this.envd, this.commands);
    this.files = new Files(this.envd, () => this.data.domain ?? undefined);
  }

  /** The sandbox's id. */
  get sandboxId(): string {
    return this.data.id;
  }

  /** What the control plane last said about the sandbox. */
  get info(): SandboxInfo {
    return this.data;
  }

  /** The envd access token (create/connect answers only). */
  get envdAccessToken(): string | undefined {
    return this.data.envd_access_token ?? undefined;
  }

  private static client(opts: ConnectionOptions | RestClient | undefined): RestClient {
    return opts instanceof RestClient ? opts : new RestClient(resolveConfig(opts));
  }

  /** Creates a sandbox and waits until it runs. A retried create never makes two (Idempotency-Key). */
  static async create(opts: SandboxCreateOptions = {}): Promise<Sandbox> {
    const rest = Sandbox.client(opts);
    const body: CreateSandboxBody & { template: string } = { template: opts.template ?? "base" };
    if (opts.vcpus !== undefined) body.vcpus = opts.vcpus;
    if (opts.memoryMb !== undefined) body.memory_mb = opts.memoryMb;
    if (opts.diskMb !== undefined) body.disk_mb = opts.diskMb;
    if (opts.timeoutSecs !== undefined) body.timeout_secs = opts.timeoutSecs;
    if (opts.onTimeout !== undefined) body.on_timeout = opts.onTimeout;
    if (opts.autoResume !== undefined) body.auto_resume = opts.autoResume;
    if (opts.envVars !== undefined) body.env_vars = opts.envVars;
    if (opts.metadata !== undefined) body.metadata = opts.metadata;
    if (opts.internet !== undefined) body.internet = opts.internet;
    if (opts.egressAllow !== undefined) body.egress_allow = opts.egressAllow;
    if (opts.egressDeny !== undefined) body.egress_deny = opts.egressDeny;
    if (opts.tags !== undefined) body.tags = opts.tags;
    if (opts.publicTraffic !== undefined) body.public_traffic = opts.publicTraffic;
    const info = await rest.request<SandboxInfo>({
      method: "POST",
      path: "/v1/sandboxes",
      body,
      headers: { "idempotency-key": opts.idempotencyKey ?? randomKey() },
      retrySafe: true,
      timeoutMs: Math.max(rest.config.requestTimeoutMs, 180000),
    });
    return new Sandbox(info, rest);
  }

  /** Connects to an existing sandbox, resuming it when paused. */
  static async connect(sandboxId: string, opts: ConnectionOptions = {}): Promise<Sandbox> {
    const rest = Sandbox.client(opts);
    const info = await connectCall(rest, sandboxId);
    return new Sandbox(info, rest);
  }

  /** The team's sandboxes, newest first, fetched page by page. */
  static list(opts: SandboxListOptions = {}): Paginator<SandboxInfo> {
    const rest = Sandbox.client(opts);
    return new Paginator(async (cursor) => {
      const query: Record<string, string | number | undefined> = { state: opts.state, limit: opts.limit, cursor };
      for (const [k, v] of Object.entries(opts.metadata ?? {})) query[`metadata[${k}]`] = v;
      const page = await rest.request<SandboxPage>({ method: "GET", path: "/v1/sandboxes", query });
      return { items: page.sandboxes, next: page.next_cursor ?? undefined };
    });
  }

  /** One sandbox's info. */
  static async getInfo(sandboxId: string, opts: ConnectionOptions = {}): Promise<SandboxInfo> {
    return Sandbox.client(opts).request<SandboxInfo>({ method: "GET", path: `/v1/sandboxes/${enc(sandboxId)}` });
  }

  /** Kills a sandbox by id; false when it did not exist. */
  static async kill(sandboxId: string, opts: ConnectionOptions | RestClient = {}): Promise<boolean> {
    try {
      await Sandbox.client(opts).request({ method: "DELETE", path: `/v1/sandboxes/${enc(sandboxId)}` });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  private path(suffix = ""): string {
    return `/v1/sandboxes/${enc(this.data.id)}${suffix}`;
  }

  private update(info: SandboxInfo): void {
    const token = info.envd_access_token ?? this.data.envd_access_token;
    this.data = { ...info, envd_access_token: token ?? null };
    if (token !== undefined && token !== null && token !== this.envd.target.accessToken) {
      this.envd.target.accessToken = token;
    }
  }

  /** Refreshes and answers the sandbox's info. */
  async getInfo(): Promise<SandboxInfo> {
    this.update(await this.rest.request<SandboxInfo>({ method: "GET", path: this.path() }));
    return this.data;
  }

  /** Whether the sandbox is running. */
  async isRunning(): Promise<boolean> {
    return (await this.getInfo()).state === "running";
  }

  /** Kills the sandbox; false when it was already gone. */
  async kill(): Promise<boolean> {
    return Sandbox.kill(this.data.id, this.rest);
  }

  /** `await using sbx = await Sandbox.create()` kills it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }

  /** Pauses the sandbox: with memory (processes survive, the default) or only its disk. */
  async pause(opts: { memory?: boolean } = {}): Promise<void> {
    const body = opts.memory === undefined ? undefined : { memory: opts.memory };
    this.update(await this.rest.request<SandboxInfo>({ method: "POST", path: this.path("/pause"), body }));
  }

  /** Resumes a paused sandbox. */
  async resume(): Promise<void> {
    this.update(await this.rest.request<SandboxInfo>({ method: "POST", path: this.path("/resume") }));
  }

  /** Connects again (resumes when paused) and refreshes the envd token. */
  async connect(): Promise<this> {
    this.update(await connectCall(this.rest, this.data.id));
    return this;
  }

  /** Sets the inactivity timeout, from now. */
  async setTimeout(timeoutSecs: number): Promise<void> {
    this.update(
      await this.rest.request<SandboxInfo>({ method: "POST", path: this.path("/timeout"), body: { timeout_secs: timeoutSecs } }),
    );
  }

  /** Copies of the running sandbox (memory and disk), each a sandbox of its own. */
  async fork(opts: { count?: number; timeoutSecs?: number } = {}): Promise<Sandbox[]> {
    const body: { count?: number; timeout_secs?: number } = {};
    if (opts.count !== undefined) body.count = opts.count;
    if (opts.timeoutSecs !== undefined) body.timeout_secs = opts.timeoutSecs;
    const r = await this.rest.request<{ sandboxes: SandboxInfo[] }>({
      method: "POST",
      path: this.path("/fork"),
      body,
      timeoutMs: Math.max(this.rest.config.requestTimeoutMs, 180000),
    });
    return r.sandboxes.map((s) => new Sandbox(s, this.rest));
  }

  /** The sandbox's disk as a team template; create sandboxes from it with `template: t.name`. */
  async snapshot(opts: { name?: string } = {}): Promise<Template> {
    return this.rest.request<Template>({
      method: "POST",
      path: this.path("/snapshots"),
      body: opts.name === undefined ? {} : { name: opts.name },
      timeoutMs: Math.max(this.rest.config.requestTimeoutMs, 180000),
    });
  }

  /** Current resource use. */
  async metrics(): Promise<Metrics> {
    return this.rest.request<Metrics>({ method: "GET", path: this.path("/metrics") });
  }

  /** Samples of the last hour (every 5 s), oldest first. */
  async metricsHistory(opts: { start?: number; end?: number } = {}): Promise<MetricsSample[]> {
    const r = await this.rest.request<{ samples: MetricsSample[] }>({
      method: "GET",
      path: this.path("/metrics/history"),
      query: { start: opts.start, end: opts.end },
    });
    return r.samples;
  }

  /** Replaces the egress policy at once. */
  async setNetwork(policy: { internet?: boolean; allowOut?: string[]; denyOut?: string[] }): Promise<void> {
    const body: { internet?: boolean; allow_out?: string[]; deny_out?: string[] } = {};
    if (policy.internet !== undefined) body.internet = policy.internet;
    if (policy.allowOut !== undefined) body.allow_out = policy.allowOut;
    if (policy.denyOut !== undefined) body.deny_out = policy.denyOut;
    this.update(await this.rest.request<SandboxInfo>({ method: "PUT", path: this.path("/network"), body }));
  }

  /** `<port>-<id>.<domain>`: where a server on `port` in the guest is reached (over https). */
  getHost(port: number): string {
    const domain = this.data.domain;
    if (domain === undefined || domain === null) {
      throw new SandboxError("the server has no WRENN_DOMAIN, so sandbox ports have no host name", { code: "no_domain" });
    }
    return `${port}-${this.data.id}.${domain}`;
  }

  /** `https://<port>-<id>.<domain>`. */
  getUrl(port: number): string {
    return `https://${this.getHost(port)}`;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

async function connectCall(rest: RestClient, sandboxId: string): Promise<SandboxInfo> {
  return rest.request<SandboxInfo>({
    method: "POST",
    path: `/v1/sandboxes/${enc(sandboxId)}/connect`,
    timeoutMs: Math.max(rest.config.requestTimeoutMs, 180000),
  });
}
