import { Code, ConnectError, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Commands, CommandExitError, Files, NotFoundError, Pty, resolveConfig, type WriteData } from "../src/index.js";
import { Envd } from "../src/envd.js";
import { Process, type StartRequest } from "../src/gen/envd/process/process_pb.js";
import { json, serve } from "./server.js";

const enc = new TextEncoder();

function ev(e: StartResponseSchemaInit): { event: { event: StartResponseSchemaInit } } {
  return { event: { event: e } };
}
type StartResponseSchemaInit =
  | { case: "start"; value: { pid: number } }
  | { case: "data"; value: { output: { case: "stdout" | "stderr"; value: Uint8Array } } }
  | { case: "end"; value: { exitCode: number; exited: boolean; status: string } };

interface Fake {
  starts: { req: StartRequest; user: string | null; sandbox: string | null; token: string | null }[];
  killed: number[];
  stdin: string[];
}

function fakeEnvd(script: (cmd: string) => StartResponseSchemaInit[]): { commands: Commands; pty: Pty; fake: Fake } {
  const fake: Fake = { starts: [], killed: [], stdin: [] };
  const transport = (interceptors: Interceptor[]) => createRouterTransport(({ service }) => {
    service(Process, {
      async *start(req, ctx) {
        fake.starts.push({
          req,
          user: ctx.requestHeader.get("authorization"),
          sandbox: ctx.requestHeader.get("e2b-sandbox-id"),
          token: ctx.requestHeader.get("x-access-token"),
        });
        for (const e of script(req.process?.args.at(-1) ?? "")) {
          yield ev(e);
          await new Promise((r) => setTimeout(r, 1));
        }
      },
      async *connect(req) {
        const pid = req.process?.selector.case === "pid" ? req.process.selector.value : 0;
        await Promise.resolve();
        if (pid !== 42) throw new ConnectError("no such process", Code.NotFound);
        yield ev({ case: "start", value: { pid } });
        yield ev({ case: "data", value: { output: { case: "stdout", value: enc.encode("again\n") } } });
        yield ev({ case: "end", value: { exitCode: 0, exited: true, status: "exit status 0" } });
      },
      sendSignal(req) {
        const pid = req.process?.selector.case === "pid" ? req.process.selector.value : 0;
        if (pid !== 42) throw new ConnectError("no such process", Code.NotFound);
        fake.killed.push(pid);
        return {};
      },
      sendInput(req) {
        const i = req.input?.input;
        if (i?.case === "stdin") fake.stdin.push(new TextDecoder().decode(i.value));
        return {};
      },
      list() {
        return { processes: [{ pid: 42, config: { cmd: "/bin/bash", args: ["-l", "-c", "sleep 9"], envs: {} } }] };
      },
    });
  }, { transport: { interceptors } });
  const envd = new Envd({
    sandboxId: "sbx-1",
    accessToken: "tok",
    config: resolveConfig({ apiKey: "k", baseUrl: "http://unused" }, {}, undefined),
    transport,
  });
  const commands = new Commands(envd);
  return { commands, pty: new Pty(envd, commands), fake };
}

const hi: StartResponseSchemaInit[] = [
  { case: "start", value: { pid: 7 } },
  { case: "data", value: { output: { case: "stdout", value: enc.encode("hi\n") } } },
  { case: "data", value: { output: { case: "stderr", value: enc.encode("warn\n") } } },
  { case: "end", value: { exitCode: 0, exited: true, status: "exit status 0" } },
];

describe("commands", () => {
  it("run_collects_output_and_sends_bash_login_with_routing_headers", async () => {
    const { commands, fake } = fakeEnvd(() => hi);
    const out: string[] = [];
    const r = await commands.run("echo hi", { onStdout: (d) => out.push(d), user: "root", envs: { A: "1" } });
    expect(r).toEqual({ stdout: "hi\n", stderr: "warn\n", exitCode: 0 });
    expect(out).toEqual(["hi\n"]);
    const s = fake.starts[0];
    expect(s?.req.process?.cmd).toBe("/bin/bash");
    expect(s?.req.process?.args).toEqual(["-l", "-c", "echo hi"]);
    expect(s?.req.process?.envs).toEqual({ A: "1" });
    expect(s?.user).toBe(`Basic ${btoa("root:")}`);
    expect(s?.sandbox).toBe("sbx-1");
    expect(s?.token).toBe("tok");
  });

  it("non_zero_exit_throws_command_exit_error_with_output", async () => {
    const { commands } = fakeEnvd(() => [
      { case: "start", value: { pid: 8 } },
      { case: "data", value: { output: { case: "stderr", value: enc.encode("bad\n") } } },
      { case: "end", value: { exitCode: 3, exited: true, status: "exit status 3" } },
    ]);
    const err: unknown = await commands.run("false").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandExitError);
    expect(err).toMatchObject({ exitCode: 3, stderr: "bad\n", stdout: "" });
  });

  it("no_throw_answers_the_non_zero_result", async () => {
    const { commands } = fakeEnvd(() => [
      { case: "start", value: { pid: 8 } },
      { case: "end", value: { exitCode: 1, exited: true, status: "exit status 1" } },
    ]);
    expect((await commands.run("false", { noThrow: true })).exitCode).toBe(1);
  });

  it("background_handle_iterates_output_in_order", async () => {
    const { commands } = fakeEnvd(() => hi);
    const h = await commands.run("x", { background: true });
    expect(h.pid).toBe(7);
    const chunks = [];
    for await (const c of h) chunks.push(c);
    expect(chunks).toEqual([{ stdout: "hi\n" }, { stderr: "warn\n" }]);
    expect((await h.wait()).exitCode).toBe(0);
  });

  it("multibyte_utf8_split_across_chunks_decodes_once", async () => {
    const bytes = enc.encode("é");
    const { commands } = fakeEnvd(() => [
      { case: "start", value: { pid: 9 } },
      { case: "data", value: { output: { case: "stdout", value: bytes.slice(0, 1) } } },
      { case: "data", value: { output: { case: "stdout", value: bytes.slice(1) } } },
      { case: "end", value: { exitCode: 0, exited: true, status: "" } },
    ]);
    expect((await commands.run("x")).stdout).toBe("é");
  });

  it("connect_by_pid_streams_and_unknown_pid_is_not_found", async () => {
    const { commands } = fakeEnvd(() => hi);
    const h = await commands.connect(42);
    expect((await h.wait()).stdout).toBe("again\n");
    await expect(commands.connect(5)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("kill_list_and_stdin", async () => {
    const { commands, fake } = fakeEnvd(() => hi);
    expect(await commands.kill(42)).toBe(true);
    expect(await commands.kill(5)).toBe(false);
    expect(fake.killed).toEqual([42]);
    await commands.sendStdin(42, "abc");
    expect(fake.stdin).toEqual(["abc"]);
    expect((await commands.list()).map((p) => p.pid)).toEqual([42]);
  });

  it("pty_starts_an_interactive_login_shell_with_a_size", async () => {
    const { pty, fake } = fakeEnvd(() => [
      { case: "start", value: { pid: 11 } },
      { case: "end", value: { exitCode: 0, exited: true, status: "" } },
    ]);
    const h = await pty.create({ cols: 100, rows: 30, onData: () => undefined });
    await h.wait();
    const s = fake.starts[0]?.req;
    expect(s?.process?.args).toEqual(["-i", "-l"]);
    expect(s?.process?.envs["TERM"]).toBe("xterm-256color");
    expect(s?.pty?.size).toMatchObject({ cols: 100, rows: 30 });
  });
});

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("files over /files", () => {
  function files(url: string): Files {
    const envd = new Envd({ sandboxId: "sbx-1", accessToken: "tok", config: resolveConfig({ apiKey: "k", baseUrl: url }, {}, undefined) });
    return new Files(envd, () => "wrenn.example");
  }

  it("write_streams_an_async_iterable_with_routing_and_user_headers", async () => {
    const s = await serve((req, res) => json(res, 200, [{ path: "/home/user/a", name: "a", type: "file" }]));
    close = s.close;
    async function* gen(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        yield enc.encode(`part${i};`);
      }
    }
    const info = await files(s.url).write("a", gen() as WriteData);
    expect(info.path).toBe("/home/user/a");
    const r = s.seen[0];
    expect(r?.method).toBe("POST");
    expect(r?.url).toBe("/files?path=a&username=user");
    expect(r?.body).toBe("part0;part1;part2;");
    expect(r?.headers["e2b-sandbox-id"]).toBe("sbx-1");
    expect(r?.headers["e2b-sandbox-port"]).toBe("49983");
    expect(r?.headers["x-access-token"]).toBe("tok");
    expect(r?.headers["authorization"]).toBe(`Basic ${btoa("user:")}`);
    expect(r?.headers["transfer-encoding"]).toBe("chunked");
  });

  it("read_text_and_missing_file_is_not_found", async () => {
    const s = await serve((req, res) => {
      if (req.url.includes("missing")) json(res, 404, { message: "no such file", code: 404 });
      else {
        res.writeHead(200);
        res.end("hello");
      }
    });
    close = s.close;
    expect(await files(s.url).read("/x")).toBe("hello");
    await expect(files(s.url).read("/missing")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("signed_urls_point_at_the_sandbox_host", () => {
    const u = new URL(files("http://x").downloadUrl("/home/user/a.txt", { expiresInSecs: 60 }));
    expect(u.host).toBe("49983-sbx-1.wrenn.example");
    expect(u.protocol).toBe("https:");
    expect(u.searchParams.get("signature")).toMatch(/^v1_[A-Za-z0-9+/]+$/);
    expect(Number(u.searchParams.get("signature_expiration"))).toBeGreaterThan(Date.now() / 1000);
  });
});
