/**
 * `Wrenn`: the account surface of the control plane (templates, API keys,
 * teams and members, hosts, the pool and its usage) with one resolved
 * configuration.
 * @module
 */
import { resolveConfig, type ConnectionOptions } from "./config.js";
import { RestClient } from "./http.js";
import type {
  ApiKey,
  CreatedHost,
  CreatedKey,
  Host,
  Invoice,
  KeyOwner,
  Me,
  Member,
  Pool,
  Role,
  Team,
  Template,
  Usage,
  UsageGrouping,
  UsageInterval,
} from "./models.js";

const e = encodeURIComponent;

/** Templates: built-ins and the team's own (snapshots among them). */
export class Templates {
  /** @internal */
  constructor(private readonly rest: RestClient) {}
  async list(): Promise<Template[]> {
    return (await this.rest.request<{ templates: Template[] }>({ method: "GET", path: "/v1/templates" })).templates;
  }
  async get(name: string): Promise<Template> {
    return this.rest.request<Template>({ method: "GET", path: `/v1/templates/${e(name)}` });
  }
  /** Deletes a team template (`409` while a live sandbox still boots from it). */
  async delete(name: string): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/templates/${e(name)}` });
  }
  /** The team's templates made from sandboxes, newest first. */
  async listSnapshots(opts: { sandboxId?: string; name?: string } = {}): Promise<Template[]> {
    const r = await this.rest.request<{ snapshots: Template[] }>({
      method: "GET",
      path: "/v1/snapshots",
      query: { sandbox_id: opts.sandboxId, name: opts.name },
    });
    return r.snapshots;
  }
}

/** The team's API keys. */
export class Keys {
  /** @internal */
  constructor(private readonly rest: RestClient) {}
  async list(): Promise<ApiKey[]> {
    return (await this.rest.request<{ keys: ApiKey[] }>({ method: "GET", path: "/v1/keys" })).keys;
  }
  /** Mints a key; its secret (`key`) is shown only in this answer. */
  async create(opts: { name: string; expiresInSecs?: number; owner?: KeyOwner; e2b?: boolean }): Promise<CreatedKey> {
    const body: Record<string, unknown> = { name: opts.name };
    if (opts.expiresInSecs !== undefined) body["expires_in_secs"] = opts.expiresInSecs;
    if (opts.owner !== undefined) body["owner"] = opts.owner;
    if (opts.e2b !== undefined) body["e2b"] = opts.e2b;
    return this.rest.request<CreatedKey>({ method: "POST", path: "/v1/keys", body });
  }
  async revoke(keyId: string): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/keys/${e(keyId)}` });
  }
}

/** Teams and their members. */
export class Teams {
  /** @internal */
  constructor(private readonly rest: RestClient) {}
  async list(): Promise<Team[]> {
    return (await this.rest.request<{ teams: Team[] }>({ method: "GET", path: "/v1/teams" })).teams;
  }
  async create(name: string): Promise<Team> {
    return this.rest.request<Team>({ method: "POST", path: "/v1/teams", body: { name } });
  }
  async delete(teamId: string): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/teams/${e(teamId)}` });
  }
  async members(teamId: string): Promise<Member[]> {
    return (await this.rest.request<{ members: Member[] }>({ method: "GET", path: `/v1/teams/${e(teamId)}/members` })).members;
  }
  async addMember(teamId: string, email: string, role: Role): Promise<Member> {
    return this.rest.request<Member>({ method: "POST", path: `/v1/teams/${e(teamId)}/members`, body: { email, role } });
  }
  async removeMember(teamId: string, userId: string): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/teams/${e(teamId)}/members/${e(userId)}` });
  }
}

/** Hosts (platform admins: all; team owners: their BYOC hosts). */
export class Hosts {
  /** @internal */
  constructor(private readonly rest: RestClient) {}
  /** Creates a host record and its registration token (for `wrenn-agent --register`). */
  async create(opts: { name: string; byoc?: boolean; tags?: string[]; tlsFingerprint?: string }): Promise<CreatedHost> {
    const body: Record<string, unknown> = { name: opts.name };
    if (opts.byoc !== undefined) body["byoc"] = opts.byoc;
    if (opts.tags !== undefined) body["tags"] = opts.tags;
    if (opts.tlsFingerprint !== undefined) body["tls_fingerprint"] = opts.tlsFingerprint;
    return this.rest.request<CreatedHost>({ method: "POST", path: "/v1/hosts", body });
  }
  async list(): Promise<Host[]> {
    return (await this.rest.request<{ hosts: Host[] }>({ method: "GET", path: "/v1/hosts" })).hosts;
  }
  async get(hostId: string): Promise<Host> {
    return this.rest.request<Host>({ method: "GET", path: `/v1/hosts/${e(hostId)}` });
  }
  /** Drains (no new sandboxes) or undrains a host. */
  async setDraining(hostId: string, draining: boolean): Promise<Host> {
    return this.rest.request<Host>({ method: "PATCH", path: `/v1/hosts/${e(hostId)}`, body: { draining } });
  }
  async delete(hostId: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/hosts/${e(hostId)}`, query: { force: opts.force } });
  }
  /** A new registration token for a pending host. */
  async newToken(hostId: string): Promise<{ registration_token: string; token_expires_at: string }> {
    return this.rest.request({ method: "POST", path: `/v1/hosts/${e(hostId)}/token` });
  }
  async tags(hostId: string): Promise<string[]> {
    return (await this.rest.request<{ tags: string[] }>({ method: "GET", path: `/v1/hosts/${e(hostId)}/tags` })).tags;
  }
  async addTags(hostId: string, tags: string[]): Promise<string[]> {
    return (await this.rest.request<{ tags: string[] }>({ method: "POST", path: `/v1/hosts/${e(hostId)}/tags`, body: { tags } }))
      .tags;
  }
  async removeTag(hostId: string, tag: string): Promise<void> {
    await this.rest.request({ method: "DELETE", path: `/v1/hosts/${e(hostId)}/tags/${e(tag)}` });
  }
}

/** The control plane's account surface under one configuration. */
export class Wrenn {
  readonly templates: Templates;
  readonly keys: Keys;
  readonly teams: Teams;
  readonly hosts: Hosts;
  /** @internal */
  readonly rest: RestClient;

  constructor(opts: ConnectionOptions = {}) {
    this.rest = new RestClient(resolveConfig(opts));
    this.templates = new Templates(this.rest);
    this.keys = new Keys(this.rest);
    this.teams = new Teams(this.rest);
    this.hosts = new Hosts(this.rest);
  }

  /** Who the credential is, and the team it acts on. */
  async me(): Promise<Me> {
    return this.rest.request<Me>({ method: "GET", path: "/v1/me" });
  }

  /** The team's pool: its plan (`null` without one), its size, what is used and whether use is `over` it. */
  async pool(): Promise<Pool> {
    return this.rest.request<Pool>({ method: "GET", path: "/v1/pool" });
  }

  /** Usage totals per `by` group (default `day`) over `[start, end)` (default: the last 30 days). */
  async usage(opts: UsageRange & { by?: UsageGrouping } = {}): Promise<Usage> {
    return this.rest.request<Usage>({ method: "GET", path: "/v1/usage", query: { by: opts.by, ...range(opts) } });
  }

  /**
   * The ledger's intervals overlapping `[start, end)`, oldest first, read
   * from the server's JSON-lines stream as they arrive (never the whole
   * export at once). Breaking out of the loop cancels the download.
   */
  async *usageExport(opts: UsageRange = {}): AsyncGenerator<UsageInterval, void, undefined> {
    const res = await this.rest.send({
      method: "GET",
      path: "/v1/usage/export",
      query: { format: "json", ...range(opts) },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.body === null) return;
    yield* jsonLines<UsageInterval>(res.body);
  }

  /** The invoice preview of `[start, end)`: the plan's price plus burst vCPU-hours, in cents. */
  async invoice(opts: UsageRange = {}): Promise<Invoice> {
    return this.rest.request<Invoice>({ method: "GET", path: "/v1/usage/invoice", query: range(opts) });
  }
}

/** A usage range: RFC 3339 strings or Dates; `end` is exclusive. */
export interface UsageRange {
  start?: string | Date;
  end?: string | Date;
  signal?: AbortSignal;
}

function range(opts: UsageRange): { start?: string; end?: string } {
  const at = (v: string | Date | undefined): string | undefined => (v instanceof Date ? v.toISOString() : v);
  return { start: at(opts.start), end: at(opts.end) };
}

/** Parses a byte stream of JSON lines one line at a time; cancels the stream when the reader stops early. */
export async function* jsonLines<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let done = false;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        done = true;
        buf += decoder.decode();
      } else {
        buf += decoder.decode(chunk.value, { stream: true });
      }
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== "") yield JSON.parse(line) as T;
      }
      if (done) {
        if (buf.trim() !== "") yield JSON.parse(buf) as T;
        return;
      }
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
