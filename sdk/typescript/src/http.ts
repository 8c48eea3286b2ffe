/**
 * The control-plane REST client: auth headers, timeouts, retries and error
 * mapping. Everything above it speaks in typed models.
 * @module
 */
import type { ResolvedConfig } from "./config.js";
import { ConnectionError, TimeoutError, WrennError, errorFromResponse } from "./errors.js";
import { RETRYABLE_STATUS, backoffMs, parseRetryAfter, sleep } from "./retry.js";

/** One REST call. */
export interface RestRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to retry although the method is not idempotent (create with an Idempotency-Key). */
  retrySafe?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const IDEMPOTENT = new Set(["GET", "PUT", "DELETE"]);

/** Errors of fetch that mean the request never left (nothing reached the server). */
function neverSent(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN";
}

/** A fresh random id (Idempotency-Key): `[a-z0-9-]`. */
export function randomKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let s = "";
  for (let i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

export class RestClient {
  constructor(readonly config: ResolvedConfig) {}

  /** Headers for the control plane. */
  authHeaders(): Record<string, string> {
    const h: Record<string, string> = { ...this.config.headers };
    if (this.config.apiKey !== undefined && !this.config.sessionCookie) {
      h["authorization"] = `Bearer ${this.config.apiKey}`;
    }
    if (this.config.teamId !== undefined) h["x-team-id"] = this.config.teamId;
    return h;
  }

  url(path: string, query?: RestRequest["query"]): string {
    const u = new URL(this.config.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  /** Sends the request with retries; answers the parsed JSON body (undefined for 204). */
  async request<T>(req: RestRequest): Promise<T> {
    const res = await this.send(req);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** Sends the request with retries; answers the raw 2xx response. */
  async send(req: RestRequest): Promise<Response> {
    const policy = this.config.retry;
    const started = Date.now();
    const canRetryAfterSend = IDEMPOTENT.has(req.method) || req.retrySafe === true;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      let failure: WrennError;
      let waitMs: number | undefined;
      let retryable: boolean;
      try {
        res = await this.once(req);
        if (res.ok) return res;
        const requestId = res.headers.get("x-request-id") ?? undefined;
        waitMs = parseRetryAfter(res.headers.get("retry-after"));
        const body = await readBody(res);
        failure = errorFromResponse(
          res.status,
          body,
          requestId,
          waitMs === undefined ? undefined : waitMs / 1000,
        );
        // A 429 was refused before any work; others only when safe to repeat.
        retryable = RETRYABLE_STATUS.has(res.status) && (canRetryAfterSend || res.status === 429);
        if (failure.code === "quota_exceeded" || failure.code === "pool_exhausted") retryable = false;
      } catch (err) {
        if (err instanceof WrennError) {
          failure = err;
          retryable = err instanceof ConnectionError && (canRetryAfterSend || neverSent(err.cause));
        } else {
          throw err;
        }
      }
      if (!retryable || attempt >= policy.maxRetries || req.signal?.aborted) throw failure;
      const delay = waitMs ?? backoffMs(attempt, policy);
      if (Date.now() - started + delay > policy.totalDeadlineMs) throw failure;
      await sleep(delay, req.signal);
    }
  }

  private async once(req: RestRequest): Promise<Response> {
    const headers: Record<string, string> = { ...this.authHeaders(), ...req.headers };
    let body: string | undefined;
    if (req.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.body);
    }
    const timeoutMs = req.timeoutMs ?? this.config.requestTimeoutMs;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const onAbort = (): void => ctl.abort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const init: RequestInit = { method: req.method, headers, signal: ctl.signal };
      if (body !== undefined) init.body = body;
      if (this.config.sessionCookie) init.credentials = "include";
      const res = await this.config.fetch(this.url(req.path, req.query), init);
      return res;
    } catch (err) {
      if (req.signal?.aborted) throw err;
      if (ctl.signal.aborted) {
        throw new TimeoutError(`${req.method} ${req.path}: no answer in ${timeoutMs} ms`, {
          code: "timeout",
          cause: err,
        });
      }
      throw new ConnectionError(`${req.method} ${req.path}: ${String(err)}`, { code: "connection_error", cause: err });
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** Reads an error answer's body as JSON when it is, else text. */
export async function readBody(res: Response): Promise<unknown> {
  const text = await res.text().catch(() => "");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
