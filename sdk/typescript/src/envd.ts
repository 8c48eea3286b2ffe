/**
 * The data plane: envd's Connect services and `/files` routes, reached
 * through the control plane's sandbox proxy on the same base URL with the
 * `E2b-Sandbox-Id` / `E2b-Sandbox-Port` headers (docs/envd-wire.md).
 * @module
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { Filesystem } from "./gen/envd/filesystem/filesystem_pb.js";
import { Process } from "./gen/envd/process/process_pb.js";
import type { ResolvedConfig } from "./config.js";

/** envd's port in the guest. */
export const ENVD_PORT = 49983;
/** The guest user commands and file operations act as by default. */
export const DEFAULT_USER = "user";

/** `Authorization: Basic base64("<user>:")`, how envd picks the OS user. */
export function basicUser(user: string): string {
  const bytes = new TextEncoder().encode(`${user}:`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** Where and how to reach one sandbox's envd. */
export interface EnvdTarget {
  sandboxId: string;
  accessToken: string | undefined;
  config: ResolvedConfig;
  /** Makes the transport instead of the proxy's fetch one (tests, custom HTTP stacks). */
  transport?: (interceptors: Interceptor[]) => Transport;
}

/** The connection to one sandbox's envd. */
export class Envd {
  readonly process: Client<typeof Process>;
  readonly filesystem: Client<typeof Filesystem>;
  readonly transport: Transport;

  constructor(readonly target: EnvdTarget) {
    const routing = this.routingHeaders();
    const interceptor: Interceptor = (next) => (req) => {
      for (const [k, v] of Object.entries(routing)) {
        if (!req.header.has(k)) req.header.set(k, v);
      }
      if (req.stream) req.header.set("keepalive-ping-interval", "50");
      return next(req);
    };
    const fetchFn = target.config.fetch;
    this.transport = target.transport?.([interceptor]) ?? createConnectTransport({
      baseUrl: target.config.baseUrl,
      useBinaryFormat: true,
      interceptors: [interceptor],
      fetch: (input, init) => fetchFn(input, { ...init, credentials: target.config.sessionCookie ? "include" : "same-origin" }),
    });
    this.process = createClient(Process, this.transport);
    this.filesystem = createClient(Filesystem, this.transport);
  }

  /** The proxy routing and envd token headers (no user). */
  routingHeaders(): Record<string, string> {
    const h: Record<string, string> = {
      "e2b-sandbox-id": this.target.sandboxId,
      "e2b-sandbox-port": String(ENVD_PORT),
    };
    if (this.target.accessToken !== undefined) h["x-access-token"] = this.target.accessToken;
    return h;
  }

  /** Headers for a call acting as `user`. */
  userHeaders(user: string = DEFAULT_USER): Record<string, string> {
    return { authorization: basicUser(user) };
  }

  /** URL of envd's `/files` route on the proxy. */
  filesUrl(path: string, user: string): string {
    const u = new URL(`${this.target.config.baseUrl}/files`);
    u.searchParams.set("path", path);
    u.searchParams.set("username", user);
    return u.toString();
  }
}
