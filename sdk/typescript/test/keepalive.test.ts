// run() over a real HTTP server: the SDK lets each Connect stream reach its
// end-of-stream frame (it never aborts a finished command's call), so
// back-to-back runs reuse keep-alive connections instead of opening (and,
// over TLS, handshaking) a new one per command.
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Sandbox } from "../src/index.js";
import { StartResponseSchema } from "../src/gen/envd/process/process_pb.js";
import { SANDBOX, json, serve } from "./server.js";

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

function frame(flags: number, data: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, Buffer.from(data)]);
}

function startFrames(): Buffer[] {
  const msgs = [
    create(StartResponseSchema, { event: { event: { case: "start", value: { pid: 7 } } } }),
    create(StartResponseSchema, {
      event: { event: { case: "data", value: { output: { case: "stdout", value: new TextEncoder().encode("hi\n") } } } },
    }),
    create(StartResponseSchema, { event: { event: { case: "end", value: { exitCode: 0, exited: true, status: "exit status 0" } } } }),
  ];
  return [...msgs.map((m) => frame(0, toBinary(StartResponseSchema, m))), frame(2, new TextEncoder().encode("{}"))];
}

describe("connection reuse", () => {
  it("ten_runs_in_a_row_reuse_keep_alive_connections", async () => {
    const sockets = new Set<unknown>();
    const s = await serve((req, res) => {
      sockets.add(res.socket);
      if (req.url.startsWith("/v1/sandboxes/sbx-1/connect")) {
        json(res, 200, { ...SANDBOX, envd_access_token: "tok" });
      } else if (req.url === "/process.Process/Start") {
        res.writeHead(200, { "content-type": "application/connect+proto" });
        // One write per frame, a moment apart, as envd streams them.
        const frames = startFrames();
        const next = (): void => {
          const f = frames.shift();
          if (f === undefined) res.end();
          else {
            res.write(f);
            setTimeout(next, 2);
          }
        };
        next();
      } else {
        json(res, 404, { error: { code: "not_found", message: req.url } });
      }
    });
    close = s.close;
    const sbx = await Sandbox.connect("sbx-1", { apiKey: "wrn_x", baseUrl: s.url });
    for (let i = 0; i < 10; i++) {
      const r = await sbx.commands.run("echo hi");
      expect(r.stdout).toBe("hi\n");
    }
    expect(s.seen.filter((r) => r.url === "/process.Process/Start")).toHaveLength(10);
    // Node's fetch hands a finished connection back to its pool a tick
    // after the body ends, so back-to-back calls alternate between two
    // keep-alive sockets; aborting a call after its `end` event, before the
    // end-of-stream frame, opens one per run (10 here: checked).
    expect(sockets.size).toBeLessThanOrEqual(2);
  });
});
