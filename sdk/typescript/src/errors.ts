/**
 * The SDK's error hierarchy, keyed on the server's error `code` (REST) and on
 * Connect codes (envd). Every error carries the HTTP status, the code, the
 * message and the request id when the server sent one.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** What every SDK error carries. */
export interface WrennErrorFields {
  /** HTTP status of the answer; 0 when there was no answer. */
  status?: number;
  /** The server's error code (`not_found`, `sandbox_not_running`, ...). */
  code?: string;
  /** The `x-request-id` of the answer. */
  requestId?: string;
  cause?: unknown;
}

/** Base class of every error the SDK throws. */
export class WrennError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;

  constructor(message: string, fields: WrennErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.status = fields.status ?? 0;
    this.code = fields.code ?? "unknown";
    this.requestId = fields.requestId;
  }
}

/** 401: missing, malformed, expired or revoked credential. */
export class AuthenticationError extends WrennError {}
/** 403: authenticated but not allowed. */
export class PermissionError extends WrennError {}
/** 404: no such resource (or another team's). */
export class NotFoundError extends WrennError {}
/** 409: the resource's state forbids the request. */
export class ConflictError extends WrennError {}
/** 400 / 422: the request was malformed or failed validation. */
export class ValidationError extends WrennError {}
/** 429 `rate_limited` / `too_many_attempts`. */
export class RateLimitError extends WrennError {
  /** Seconds the server asked to wait, when it said. */
  readonly retryAfterSecs: number | undefined;
  constructor(message: string, fields: WrennErrorFields & { retryAfterSecs?: number } = {}) {
    super(message, fields);
    this.retryAfterSecs = fields.retryAfterSecs;
  }
}
/** 429 `pool_exhausted` / `quota_exceeded`: waiting helps only once a sandbox ends. */
export class PoolExhaustedError extends WrennError {}
/** A request, a command or a deadline ran out of time. */
export class TimeoutError extends WrennError {}
/** The sandbox or its host cannot serve the request (`sandbox_not_running`, `agent_unavailable`, `no_capacity`, ...). */
export class SandboxError extends WrennError {}
/** The connection failed before an answer came. */
export class ConnectionError extends WrennError {}
/** No API key was found in the arguments, the environment or the CLI's config file. */
export class ConfigError extends WrennError {}

/** The outcome of a finished command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** envd's error text, when the process could not run or was killed. */
  error?: string;
}

/** `commands.run` finished with a non-zero exit code (unless asked not to throw). */
export class CommandExitError extends WrennError implements CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
  readonly error: string | undefined;
  constructor(result: CommandResult) {
    super(`command exited with code ${result.exitCode}${result.error ? `: ${result.error}` : ""}`, {
      code: "command_exit",
    });
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.exitCode = result.exitCode;
    this.error = result.error;
  }
}

type ErrorClass = new (message: string, fields: WrennErrorFields) => WrennError;

const BY_CODE: Record<string, ErrorClass> = {
  unauthenticated: AuthenticationError,
  invalid_registration_token: AuthenticationError,
  registration_token_expired: AuthenticationError,
  invalid_host_token: AuthenticationError,
  forbidden: PermissionError,
  host_mismatch: PermissionError,
  not_found: NotFoundError,
  template_not_found: NotFoundError,
  conflict: ConflictError,
  team_has_hosts: ConflictError,
  host_already_registered: ConflictError,
  host_not_pending: ConflictError,
  host_has_sandboxes: ConflictError,
  tls_fingerprint_mismatch: ConflictError,
  bad_request: ValidationError,
  invalid_json: ValidationError,
  validation_failed: ValidationError,
  fork_limit_exceeded: ValidationError,
  payload_too_large: ValidationError,
  unsupported_media_type: ValidationError,
  rate_limited: RateLimitError,
  too_many_attempts: RateLimitError,
  pool_exhausted: PoolExhaustedError,
  quota_exceeded: PoolExhaustedError,
  sandbox_not_running: SandboxError,
  sandbox_not_paused: SandboxError,
  agent_unavailable: SandboxError,
  no_capacity: SandboxError,
  timeout: TimeoutError,
};

function classForStatus(status: number): ErrorClass {
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return ValidationError;
    case 401:
      return AuthenticationError;
    case 403:
      return PermissionError;
    case 404:
    case 410:
      return NotFoundError;
    case 409:
      return ConflictError;
    case 429:
      return RateLimitError;
    case 408:
    case 504:
      return TimeoutError;
    case 502:
    case 503:
      return SandboxError;
    default:
      return WrennError;
  }
}

/** The error for a REST answer (`{"error":{"code","message"}}`, or envd's / the proxy's `{"message","code":N}`). */
export function errorFromResponse(
  status: number,
  body: unknown,
  requestId: string | undefined,
  retryAfterSecs?: number,
): WrennError {
  let code: string | undefined;
  let message: string | undefined;
  if (typeof body === "object" && body !== null) {
    const b = body as Record<string, unknown>;
    const inner = b["error"];
    if (typeof inner === "object" && inner !== null) {
      const e = inner as Record<string, unknown>;
      if (typeof e["code"] === "string") code = e["code"];
      if (typeof e["message"] === "string") message = e["message"];
    } else {
      if (typeof b["message"] === "string") message = b["message"];
      if (typeof b["code"] === "string") code = b["code"];
    }
  } else if (typeof body === "string" && body.length > 0) {
    message = body.slice(0, 500);
  }
  const cls = (code !== undefined ? BY_CODE[code] : undefined) ?? classForStatus(status);
  const fields = { status, code: code ?? `http_${status}`, requestId };
  const text = message ?? `HTTP ${status}`;
  if (cls === RateLimitError) {
    return new RateLimitError(text, retryAfterSecs === undefined ? fields : { ...fields, retryAfterSecs });
  }
  return new cls(text, fields);
}

const BY_CONNECT_CODE: Partial<Record<Code, ErrorClass>> = {
  [Code.Unauthenticated]: AuthenticationError,
  [Code.PermissionDenied]: PermissionError,
  [Code.NotFound]: NotFoundError,
  [Code.AlreadyExists]: ConflictError,
  [Code.FailedPrecondition]: ConflictError,
  [Code.Aborted]: ConflictError,
  [Code.InvalidArgument]: ValidationError,
  [Code.OutOfRange]: ValidationError,
  [Code.DeadlineExceeded]: TimeoutError,
  [Code.ResourceExhausted]: SandboxError,
  [Code.Unavailable]: SandboxError,
};

/** Connect code name as envd writes it (`not_found`). */
function connectCodeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Turns anything a Connect call threw into a {@link WrennError}. */
export function errorFromConnect(err: unknown): WrennError {
  if (err instanceof WrennError) return err;
  const ce = ConnectError.from(err);
  const cls = BY_CONNECT_CODE[ce.code] ?? WrennError;
  const requestId = ce.metadata.get("x-request-id") ?? undefined;
  return new cls(ce.rawMessage, { code: connectCodeName(ce.code), requestId, cause: err });
}
