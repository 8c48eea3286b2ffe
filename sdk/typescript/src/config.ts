/**
 * Client configuration: argument, then environment, then the CLI's
 * `config.toml` (through a loader that only the Node entry installs, so the
 * browser path never imports `node:` modules), then defaults.
 * @module
 */
import { ConfigError } from "./errors.js";
import { DEFAULT_RETRY, type ResolvedRetry, type RetryOptions } from "./retry.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8000";

/** Options every entry point takes. */
export interface ConnectionOptions {
  /** `wrn_...` API key or a user JWT; else `WRENN_API_KEY`, else the CLI's config file. */
  apiKey?: string;
  /** Control plane URL; else `WRENN_BASE_URL`, `WRENN_API_URL`, the config file's `api_url`, `http://127.0.0.1:8000`. */
  baseUrl?: string;
  /**
   * Browser dashboards: authenticate with the session cookie instead of a key
   * (`credentials: "include"`, no Authorization header).
   */
  sessionCookie?: boolean;
  /** Team to act on with a user JWT (`X-Team-Id`). */
  teamId?: string;
  /** Per-request timeout in ms (default 60000). */
  requestTimeoutMs?: number;
  retry?: RetryOptions;
  /** Extra headers on every control-plane request. */
  headers?: Record<string, string>;
  /** Custom fetch (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

/** What a config file may hold (the CLI's keys). */
export interface FileConfig {
  api_url?: string;
  api_key?: string;
  token?: string;
}

/** Reads the config file; installed by the Node entry. */
export type FileConfigLoader = (env: Record<string, string | undefined>) => FileConfig | undefined;

let fileLoader: FileConfigLoader | undefined;

/** Installs the config-file loader (the Node entry does this; browsers have none). */
export function setFileConfigLoader(loader: FileConfigLoader | undefined): void {
  fileLoader = loader;
}

/** Configuration after resolution. */
export interface ResolvedConfig {
  apiKey: string | undefined;
  baseUrl: string;
  sessionCookie: boolean;
  teamId: string | undefined;
  requestTimeoutMs: number;
  retry: ResolvedRetry;
  headers: Record<string, string>;
  fetch: typeof globalThis.fetch;
  /** A `fetch` was passed in: every request goes through it. */
  customFetch: boolean;
}

/** The process environment where there is one (Node, Deno, Bun), else empty. */
export function runtimeEnv(): Record<string, string | undefined> {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env ?? {};
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** Resolves options against the environment and the config file. */
export function resolveConfig(
  opts: ConnectionOptions = {},
  env: Record<string, string | undefined> = runtimeEnv(),
  loader: FileConfigLoader | undefined = fileLoader,
): ResolvedConfig {
  const sessionCookie = opts.sessionCookie ?? false;
  let file: FileConfig | undefined;
  const fromFile = (): FileConfig => {
    file ??= loader?.(env) ?? {};
    return file;
  };
  let apiKey = nonEmpty(opts.apiKey) ?? nonEmpty(env["WRENN_API_KEY"]);
  if (apiKey === undefined && !sessionCookie) {
    apiKey = nonEmpty(fromFile().api_key) ?? nonEmpty(fromFile().token);
  }
  if (apiKey === undefined && !sessionCookie) {
    throw new ConfigError(
      "no Wrenn API key: pass apiKey, set WRENN_API_KEY, or run `wrenn login` (config.toml)",
      { code: "missing_api_key" },
    );
  }
  const baseUrl =
    nonEmpty(opts.baseUrl) ??
    nonEmpty(env["WRENN_BASE_URL"]) ??
    nonEmpty(env["WRENN_API_URL"]) ??
    nonEmpty(fromFile().api_url) ??
    DEFAULT_BASE_URL;
  const f = opts.fetch ?? globalThis.fetch;
  return {
    apiKey,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    sessionCookie,
    teamId: opts.teamId,
    requestTimeoutMs: opts.requestTimeoutMs ?? 60000,
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    headers: opts.headers ?? {},
    fetch: f.bind(globalThis),
    customFetch: opts.fetch !== undefined,
  };
}

/** Parses the top-level `key = "string"` pairs of a TOML file (all the CLI writes). */
export function parseTomlStrings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("[")) break;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*(#.*)?$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const v = m[2];
    out[m[1]] = v.startsWith("'") ? v.slice(1, -1) : (JSON.parse(v) as string);
  }
  return out;
}
