/**
 * `sbx.files`: reads and writes stream through envd's `/files` route; the
 * rest (list, stat, mkdir, move, remove, watch) is envd's
 * `filesystem.Filesystem` Connect service.
 * @module
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ConflictError, NotFoundError, SandboxError, errorFromConnect, errorFromResponse } from "./errors.js";
import { DEFAULT_USER, ENVD_PORT, type Envd } from "./envd.js";
import {
  EventType,
  FileType,
  type EntryInfo as PbEntry,
  type FilesystemEvent as PbEvent,
} from "./gen/envd/filesystem/filesystem_pb.js";
import { readBody } from "./http.js";
import { fileSignature } from "./sha256.js";
import { callTimeout } from "./signals.js";

/** A file-system entry in the sandbox. */
export interface EntryInfo {
  name: string;
  type: "file" | "dir" | "symlink" | "unknown";
  path: string;
  size: number;
  mode: number;
  permissions: string;
  owner: string;
  group: string;
  modifiedTime: Date | undefined;
  symlinkTarget: string | undefined;
  metadata: Record<string, string>;
}

/** What an upload answers per file. */
export interface WriteInfo {
  path: string;
  name: string;
  type: string;
  metadata?: Record<string, string>;
}

/** What `files.write` accepts: all of it streamed, never buffered whole by the SDK. */
export type WriteData = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** One file of a multi-file write. */
export interface WriteEntry {
  path: string;
  data: WriteData;
}

/** A change seen by `watchDir`. */
export interface FilesystemEvent {
  name: string;
  type: "create" | "write" | "remove" | "rename" | "chmod" | "unknown";
  entry: EntryInfo | undefined;
}

export interface FileOptions {
  /** Guest user (default `user`); relative paths resolve against their home. */
  user?: string;
  signal?: AbortSignal;
}

export interface WatchOptions extends FileOptions {
  recursive?: boolean;
  /** Bound on the watch in ms (default 0: none). */
  timeoutMs?: number;
  onExit?: (err?: Error) => void;
}

/** A running `watchDir`. */
export interface WatchHandle {
  /** Stops the watch. */
  stop(): Promise<void>;
}

const FILE_TYPES: Record<number, EntryInfo["type"]> = {
  [FileType.FILE]: "file",
  [FileType.DIRECTORY]: "dir",
  [FileType.SYMLINK]: "symlink",
};

const EVENT_TYPES: Record<number, FilesystemEvent["type"]> = {
  [EventType.CREATE]: "create",
  [EventType.WRITE]: "write",
  [EventType.REMOVE]: "remove",
  [EventType.RENAME]: "rename",
  [EventType.CHMOD]: "chmod",
};

function entryFrom(e: PbEntry): EntryInfo {
  return {
    name: e.name,
    type: FILE_TYPES[e.type] ?? "unknown",
    path: e.path,
    size: Number(e.size),
    mode: e.mode,
    permissions: e.permissions,
    owner: e.owner,
    group: e.group,
    modifiedTime: e.modifiedTime ? timestampDate(e.modifiedTime) : undefined,
    symlinkTarget: e.symlinkTarget,
    metadata: e.metadata,
  };
}

function eventFrom(e: PbEvent): FilesystemEvent {
  return { name: e.name, type: EVENT_TYPES[e.type] ?? "unknown", entry: e.entry ? entryFrom(e.entry) : undefined };
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

/** A body fetch can send without the SDK holding it whole. */
function toBody(data: WriteData): { body: BodyInit; streamed: boolean } {
  if (typeof data === "string" || data instanceof Uint8Array || data instanceof ArrayBuffer) {
    return { body: data as BodyInit, streamed: false };
  }
  if (typeof Blob !== "undefined" && data instanceof Blob) return { body: data, streamed: false };
  if (typeof ReadableStream !== "undefined" && data instanceof ReadableStream) return { body: data, streamed: true };
  if (isAsyncIterable(data)) {
    const it = data[Symbol.asyncIterator]();
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const n = await it.next();
        if (n.done === true) ctl.close();
        else ctl.enqueue(n.value);
      },
      async cancel() {
        await it.return?.();
      },
    });
    return { body: stream, streamed: true };
  }
  throw new TypeError("files.write: unsupported data type");
}

/** Sends a streamed upload; the Node entry installs one over node:http (see node-upload.ts). */
export type StreamUploader = (
  url: string,
  init: {
    method: "POST";
    headers: Record<string, string>;
    body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
    signal?: AbortSignal | undefined;
  },
) => Promise<Response>;

let streamUploader: StreamUploader | undefined;

/** Installs the uploader for streamed bodies (the Node entry does; browsers use fetch). */
export function setStreamUploader(u: StreamUploader | undefined): void {
  streamUploader = u;
}

/** Files in one sandbox (`sbx.files`). */
export class Files {
  /** @internal */
  constructor(
    private readonly envd: Envd,
    private readonly domain: () => string | undefined,
  ) {}

  private async fetchFiles(method: "GET" | "POST", path: string, opts: FileOptions, init: RequestInit = {}): Promise<Response> {
    const user = opts.user ?? DEFAULT_USER;
    const cfg = this.envd.target.config;
    const headers = { ...this.envd.routingHeaders(), ...this.envd.userHeaders(user), ...(init.headers as Record<string, string>) };
    const req: RequestInit & { duplex?: "half" } = { ...init, method, headers };
    if (opts.signal) req.signal = opts.signal;
    if (cfg.sessionCookie) req.credentials = "include";
    const res = await cfg.fetch(this.envd.filesUrl(path, user), req);
    if (!res.ok) {
      throw errorFromResponse(res.status, await readBody(res), res.headers.get("x-request-id") ?? undefined);
    }
    return res;
  }

  /** Reads a file: text (default), bytes, or a stream that is never held whole. */
  read(path: string, opts?: FileOptions & { format?: "text" }): Promise<string>;
  read(path: string, opts: FileOptions & { format: "bytes" }): Promise<Uint8Array>;
  read(path: string, opts: FileOptions & { format: "stream" }): Promise<ReadableStream<Uint8Array>>;
  async read(
    path: string,
    opts: FileOptions & { format?: "text" | "bytes" | "stream" } = {},
  ): Promise<string | Uint8Array | ReadableStream<Uint8Array>> {
    // Raw bytes: envd would gzip on the fly for fetch's default Accept-Encoding,
    // which costs more CPU on both ends than it saves on the proxy's path.
    const res = await this.fetchFiles("GET", path, opts, { headers: { "accept-encoding": "identity" } });
    if (opts.format === "stream") {
      if (res.body === null) return new ReadableStream({ start: (c) => c.close() });
      return res.body;
    }
    if (opts.format === "bytes") return new Uint8Array(await res.arrayBuffer());
    return res.text();
  }

  /** Writes one file (parents are made), or many with `write([{path, data}, ...])`. */
  write(path: string, data: WriteData, opts?: FileOptions): Promise<WriteInfo>;
  write(files: WriteEntry[], opts?: FileOptions): Promise<WriteInfo[]>;
  async write(
    a: string | WriteEntry[],
    b?: WriteData | FileOptions,
    c?: FileOptions,
  ): Promise<WriteInfo | WriteInfo[]> {
    if (Array.isArray(a)) {
      const opts = (b as FileOptions | undefined) ?? {};
      const out: WriteInfo[] = [];
      for (const f of a) out.push(await this.writeOne(f.path, f.data, opts));
      return out;
    }
    return this.writeOne(a, b as WriteData, c ?? {});
  }

  private async writeOne(path: string, data: WriteData, opts: FileOptions): Promise<WriteInfo> {
    const streamable =
      isAsyncIterable(data) || (typeof ReadableStream !== "undefined" && data instanceof ReadableStream);
    if (streamUploader !== undefined && streamable && !this.envd.target.config.customFetch) {
      const user = opts.user ?? DEFAULT_USER;
      const headers = {
        ...this.envd.routingHeaders(),
        ...this.envd.userHeaders(user),
        "content-type": "application/octet-stream",
      };
      const res = await streamUploader(this.envd.filesUrl(path, user), {
        method: "POST",
        headers,
        body: data as ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
        signal: opts.signal,
      });
      return this.writeAnswer(res, path);
    }
    const { body, streamed } = toBody(data);
    const init: RequestInit & { duplex?: "half" } = {
      body,
      headers: { "content-type": "application/octet-stream" },
    };
    if (streamed) init.duplex = "half";
    return this.writeAnswer(await this.fetchFiles("POST", path, opts, init), path);
  }

  private async writeAnswer(res: Response, path: string): Promise<WriteInfo> {
    if (!res.ok) {
      throw errorFromResponse(res.status, await readBody(res), res.headers.get("x-request-id") ?? undefined);
    }
    const answer = (await res.json()) as WriteInfo[];
    return answer[0] ?? { path, name: path.split("/").pop() ?? path, type: "file" };
  }

  /** Entries of a directory (`depth` levels, default 1). */
  async list(path: string, opts: FileOptions & { depth?: number } = {}): Promise<EntryInfo[]> {
    try {
      const r = await this.envd.filesystem.listDir(
        { path, depth: opts.depth ?? 1 },
        { headers: this.envd.userHeaders(opts.user), signal: opts.signal },
      );
      return r.entries.map(entryFrom);
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Whether something exists at `path`. */
  async exists(path: string, opts: FileOptions = {}): Promise<boolean> {
    try {
      await this.getInfo(path, opts);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** Stat of one entry. */
  async getInfo(path: string, opts: FileOptions = {}): Promise<EntryInfo> {
    try {
      const r = await this.envd.filesystem.stat({ path }, { headers: this.envd.userHeaders(opts.user), signal: opts.signal });
      if (!r.entry) throw new NotFoundError(`no entry for ${path}`, { code: "not_found" });
      return entryFrom(r.entry);
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Makes a directory and its parents; false when it already existed. */
  async makeDir(path: string, opts: FileOptions = {}): Promise<boolean> {
    try {
      await this.envd.filesystem.makeDir({ path }, { headers: this.envd.userHeaders(opts.user), signal: opts.signal });
      return true;
    } catch (err) {
      const e = errorFromConnect(err);
      if (e instanceof ConflictError && e.code === "already_exists") return false;
      throw e;
    }
  }

  /** Moves `from` to `to`. */
  async rename(from: string, to: string, opts: FileOptions = {}): Promise<EntryInfo> {
    try {
      const r = await this.envd.filesystem.move(
        { source: from, destination: to },
        { headers: this.envd.userHeaders(opts.user), signal: opts.signal },
      );
      if (!r.entry) throw new NotFoundError(`no entry for ${to}`, { code: "not_found" });
      return entryFrom(r.entry);
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Removes a file or a directory tree (no error when nothing is there). */
  async remove(path: string, opts: FileOptions = {}): Promise<void> {
    try {
      await this.envd.filesystem.remove({ path }, { headers: this.envd.userHeaders(opts.user), signal: opts.signal });
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Watches a directory; resolves once the watch is in place. */
  async watchDir(path: string, onEvent: (e: FilesystemEvent) => void, opts: WatchOptions = {}): Promise<WatchHandle> {
    const ctl = new AbortController();
    opts.signal?.addEventListener("abort", () => ctl.abort(), { once: true });
    const stream = this.envd.filesystem.watchDir(
      { path, recursive: opts.recursive ?? false, includeEntry: true },
      { headers: this.envd.userHeaders(opts.user), signal: ctl.signal, timeoutMs: callTimeout(opts.timeoutMs) },
    );
    const it = stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        const first = await it.next();
        if (first.done === true) throw new SandboxError("watch ended before it started", { code: "watch_ended" });
        if (first.value.event.case === "start") break;
      }
    } catch (err) {
      ctl.abort();
      throw errorFromConnect(err);
    }
    const pump = (async (): Promise<void> => {
      try {
        for (;;) {
          const n = await it.next();
          if (n.done === true) break;
          if (n.value.event.case === "filesystem") onEvent(eventFrom(n.value.event.value));
        }
        opts.onExit?.();
      } catch (err) {
        opts.onExit?.(ctl.signal.aborted ? undefined : errorFromConnect(err));
      }
    })();
    return {
      stop: async () => {
        ctl.abort();
        await pump;
      },
    };
  }

  /** A URL that uploads to `path` without other credentials (POST multipart or octet-stream). */
  uploadUrl(path: string, opts: { user?: string; expiresInSecs?: number } = {}): string {
    return this.signedUrl(path, "write", opts);
  }

  /** A URL that downloads `path` without other credentials. */
  downloadUrl(path: string, opts: { user?: string; expiresInSecs?: number } = {}): string {
    return this.signedUrl(path, "read", opts);
  }

  private signedUrl(path: string, op: "read" | "write", opts: { user?: string; expiresInSecs?: number }): string {
    const domain = this.domain();
    const token = this.envd.target.accessToken;
    if (domain === undefined) {
      throw new SandboxError("signed file URLs need the server's WRENN_DOMAIN (the sandbox has no domain)", {
        code: "no_domain",
      });
    }
    const user = opts.user ?? DEFAULT_USER;
    const u = new URL(`https://${ENVD_PORT}-${this.envd.target.sandboxId}.${domain}/files`);
    u.searchParams.set("path", path);
    u.searchParams.set("username", user);
    if (token !== undefined) {
      const exp = opts.expiresInSecs === undefined ? undefined : Math.floor(Date.now() / 1000) + opts.expiresInSecs;
      u.searchParams.set("signature", fileSignature(path, op, user, token, exp));
      if (exp !== undefined) u.searchParams.set("signature_expiration", String(exp));
    }
    return u.toString();
  }
}
