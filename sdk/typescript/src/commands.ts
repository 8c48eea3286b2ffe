/**
 * `sbx.commands` and `sbx.pty`: processes in the sandbox over envd's
 * `process.Process` Connect service.
 * @module
 */
import { CommandExitError, NotFoundError, errorFromConnect, type CommandResult } from "./errors.js";
import { DEFAULT_USER, type Envd } from "./envd.js";
import { anySignal, callTimeout } from "./signals.js";
import { Signal, type ConnectResponse, type ProcessInfo, type StartResponse } from "./gen/envd/process/process_pb.js";

export type { CommandResult };

/** Options of `commands.run`. */
export interface RunOptions {
  /** Extra environment variables. */
  envs?: Record<string, string>;
  /** Working directory (default: the user's home). */
  cwd?: string;
  /** Guest user (default `user`). */
  user?: string;
  /** Bound on the whole command in ms (default 60000; 0: none). */
  timeoutMs?: number;
  onStdout?: (data: string) => void;
  onStderr?: (data: string) => void;
  /** Keep stdin open for `sendStdin`. */
  stdin?: boolean;
  /** Answer a {@link CommandHandle} at once instead of waiting. */
  background?: boolean;
  /** Resolve with the result instead of throwing {@link CommandExitError} on a non-zero exit. */
  noThrow?: boolean;
  signal?: AbortSignal;
}

/** One chunk of a command's output (async iteration of a handle). */
export type OutputChunk = { stdout: string; stderr?: undefined } | { stderr: string; stdout?: undefined };

/** A process started (or reconnected to) in the sandbox. */
export interface ProcessEntry {
  pid: number;
  tag: string | undefined;
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd: string | undefined;
}

type Stream = AsyncIterable<StartResponse | ConnectResponse>;

/**
 * A running command: its output so far, `wait()` for the result, `kill()`,
 * `sendStdin()`, and async iteration over its output chunks.
 */
export class CommandHandle implements AsyncIterable<OutputChunk> {
  stdout = "";
  stderr = "";
  private readonly chunks: OutputChunk[] = [];
  private wakers: (() => void)[] = [];
  private finished = false;
  private readonly done: Promise<CommandResult>;
  private readonly outDecoder = new TextDecoder();
  private readonly errDecoder = new TextDecoder();

  /** @internal */
  constructor(
    readonly pid: number,
    private readonly commands: Commands,
    private readonly iterator: AsyncIterator<StartResponse | ConnectResponse>,
    private readonly abort: AbortController,
    private readonly hooks: {
      onStdout?: ((d: string) => void) | undefined;
      onStderr?: ((d: string) => void) | undefined;
      onPty?: ((d: Uint8Array) => void) | undefined;
    },
    private readonly noThrow: boolean,
  ) {
    this.done = this.pump();
    // Failures surface from wait(); keep an unobserved one from crashing Node.
    this.done.catch(() => undefined);
  }

  private push(chunk: OutputChunk): void {
    this.chunks.push(chunk);
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  private async pump(): Promise<CommandResult> {
    let exitCode = -1;
    let error: string | undefined;
    try {
      for (;;) {
        const next = await this.iterator.next();
        if (next.done === true) break;
        const ev = next.value.event?.event;
        if (ev === undefined) continue;
        if (ev.case === "data") {
          const out = ev.value.output;
          if (out.case === "stdout") {
            const s = this.outDecoder.decode(out.value, { stream: true });
            this.stdout += s;
            this.hooks.onStdout?.(s);
            this.push({ stdout: s });
          } else if (out.case === "stderr") {
            const s = this.errDecoder.decode(out.value, { stream: true });
            this.stderr += s;
            this.hooks.onStderr?.(s);
            this.push({ stderr: s });
          } else if (out.case === "pty") {
            this.hooks.onPty?.(out.value);
          }
        } else if (ev.case === "end") {
          exitCode = ev.value.exitCode;
          error = ev.value.error;
        }
      }
    } catch (err) {
      throw errorFromConnect(err);
    } finally {
      this.finished = true;
      this.push({ stdout: "" });
    }
    const result: CommandResult = { stdout: this.stdout, stderr: this.stderr, exitCode };
    if (error !== undefined && error !== "") result.error = error;
    return result;
  }

  /** Whether the process has ended (or the stream was closed). */
  get exited(): boolean {
    return this.finished;
  }

  /** Waits for the end; throws {@link CommandExitError} on a non-zero exit unless `noThrow` was set. */
  async wait(): Promise<CommandResult> {
    const r = await this.done;
    if (r.exitCode !== 0 && !this.noThrow) throw new CommandExitError(r);
    return r;
  }

  /** SIGKILL the process; false when it was already gone. */
  async kill(): Promise<boolean> {
    return this.commands.kill(this.pid);
  }

  /** Write to the process's stdin (started with `stdin: true`). */
  async sendStdin(data: string | Uint8Array): Promise<void> {
    await this.commands.sendStdin(this.pid, data);
  }

  /** Stop receiving output; the process keeps running (reconnect with `commands.connect(pid)`). */
  async disconnect(): Promise<void> {
    this.abort.abort();
    await this.done.catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    let i = 0;
    for (;;) {
      while (i < this.chunks.length) {
        const c = this.chunks[i++] as OutputChunk;
        if (c.stdout === "" || c.stderr === "") continue;
        yield c;
      }
      if (this.finished) break;
      await new Promise<void>((r) => this.wakers.push(r));
    }
    await this.wait();
  }
}

function selector(pid: number): { selector: { case: "pid"; value: number } } {
  return { selector: { case: "pid", value: pid } };
}

/** Commands in one sandbox (`sbx.commands`). */
export class Commands {
  /** @internal */
  constructor(private readonly envd: Envd) {}

  /** Runs `cmd` with `/bin/bash -l -c`; waits for it unless `background`. */
  run(cmd: string, opts: RunOptions & { background: true }): Promise<CommandHandle>;
  run(cmd: string, opts?: RunOptions & { background?: false }): Promise<CommandResult>;
  run(cmd: string, opts?: RunOptions): Promise<CommandHandle | CommandResult>;
  async run(cmd: string, opts: RunOptions = {}): Promise<CommandHandle | CommandResult> {
    const handle = await this.start(
      {
        process: { cmd: "/bin/bash", args: ["-l", "-c", cmd], envs: opts.envs ?? {}, cwd: opts.cwd },
        stdin: opts.stdin ?? false,
      },
      opts,
      {},
    );
    return opts.background === true ? handle : handle.wait();
  }

  /** @internal Starts a process and waits for its `start` event. */
  async start(
    request: Parameters<Envd["process"]["start"]>[0],
    opts: RunOptions,
    hooks: { onPty?: (d: Uint8Array) => void },
  ): Promise<CommandHandle> {
    const abort = new AbortController();
    const signal = anySignal([abort.signal, opts.signal]);
    const stream = this.envd.process.start(request, {
      signal,
      timeoutMs: callTimeout(opts.timeoutMs ?? 60000),
      headers: this.envd.userHeaders(opts.user ?? DEFAULT_USER),
    });
    return this.handleFrom(stream, abort, { ...opts, ...hooks });
  }

  private async handleFrom(
    stream: Stream,
    abort: AbortController,
    opts: RunOptions & { onPty?: (d: Uint8Array) => void },
  ): Promise<CommandHandle> {
    const it = stream[Symbol.asyncIterator]();
    let pid: number | undefined;
    try {
      while (pid === undefined) {
        const first = await it.next();
        if (first.done === true) throw new NotFoundError("process stream ended before it started", { code: "not_found" });
        const ev = first.value.event?.event;
        if (ev?.case === "start") pid = ev.value.pid;
      }
    } catch (err) {
      abort.abort();
      throw errorFromConnect(err);
    }
    return new CommandHandle(
      pid,
      this,
      it,
      abort,
      { onStdout: opts.onStdout, onStderr: opts.onStderr, onPty: opts.onPty },
      opts.noThrow ?? false,
    );
  }

  /** Reattaches to a running process by pid (output from now on). */
  async connect(
    pid: number,
    opts: Pick<RunOptions, "onStdout" | "onStderr" | "timeoutMs" | "noThrow" | "signal"> = {},
  ): Promise<CommandHandle> {
    const abort = new AbortController();
    const signal = anySignal([abort.signal, opts.signal]);
    const stream = this.envd.process.connect(
      { process: selector(pid) },
      { signal, timeoutMs: callTimeout(opts.timeoutMs ?? 60000), headers: this.envd.userHeaders() },
    );
    return this.handleFrom(stream, abort, opts);
  }

  /** The running processes. */
  async list(): Promise<ProcessEntry[]> {
    try {
      const r = await this.envd.process.list({}, { headers: this.envd.userHeaders() });
      return r.processes.map((p: ProcessInfo) => ({
        pid: p.pid,
        tag: p.tag,
        cmd: p.config?.cmd ?? "",
        args: p.config?.args ?? [],
        envs: p.config?.envs ?? {},
        cwd: p.config?.cwd,
      }));
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** SIGKILL (or SIGTERM) a process; false when there was none. */
  async kill(pid: number, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<boolean> {
    try {
      await this.envd.process.sendSignal(
        { process: selector(pid), signal: signal === "SIGKILL" ? Signal.SIGKILL : Signal.SIGTERM },
        { headers: this.envd.userHeaders() },
      );
      return true;
    } catch (err) {
      const e = errorFromConnect(err);
      if (e instanceof NotFoundError) return false;
      throw e;
    }
  }

  /** Writes to a process's stdin. */
  async sendStdin(pid: number, data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    try {
      await this.envd.process.sendInput(
        { process: selector(pid), input: { input: { case: "stdin", value: bytes } } },
        { headers: this.envd.userHeaders() },
      );
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Closes a process's stdin (EOF). */
  async closeStdin(pid: number): Promise<void> {
    try {
      await this.envd.process.closeStdin({ process: selector(pid) }, { headers: this.envd.userHeaders() });
    } catch (err) {
      throw errorFromConnect(err);
    }
  }
}

/** Options of `pty.create`. */
export interface PtyOptions {
  cols?: number;
  rows?: number;
  /** Terminal output bytes. */
  onData: (data: Uint8Array) => void;
  envs?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** Bound on the session in ms (default 0: none). */
  timeoutMs?: number;
}

/** Interactive terminals (`sbx.pty`): `/bin/bash -i -l` in a PTY. */
export class Pty {
  /** @internal */
  constructor(
    private readonly envd: Envd,
    private readonly commands: Commands,
  ) {}

  /** Starts a shell in a PTY; its output goes to `onData`. */
  async create(opts: PtyOptions): Promise<CommandHandle> {
    return this.commands.start(
      {
        process: {
          cmd: "/bin/bash",
          args: ["-i", "-l"],
          envs: { TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...opts.envs },
          cwd: opts.cwd,
        },
        pty: { size: { cols: opts.cols ?? 80, rows: opts.rows ?? 24 } },
      },
      { timeoutMs: opts.timeoutMs ?? 0, user: opts.user ?? DEFAULT_USER, noThrow: true },
      { onPty: opts.onData },
    );
  }

  /** Keyboard input to the PTY. */
  async sendInput(pid: number, data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    try {
      await this.envd.process.sendInput(
        { process: selector(pid), input: { input: { case: "pty", value: bytes } } },
        { headers: this.envd.userHeaders() },
      );
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Resizes the terminal. */
  async resize(pid: number, size: { cols: number; rows: number }): Promise<void> {
    try {
      await this.envd.process.update({ process: selector(pid), pty: { size } }, { headers: this.envd.userHeaders() });
    } catch (err) {
      throw errorFromConnect(err);
    }
  }

  /** Kills the PTY's shell. */
  async kill(pid: number): Promise<boolean> {
    return this.commands.kill(pid);
  }
}
