// Issue #13's figures for the TypeScript SDK against $WRENN_BENCH_SANDBOX:
// JSON lines on stdout (see tests/sdk/bench.py).
import { randomFillSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Sandbox } from "../dist/index.js";

const RUNS = Number(process.env.SDK_BENCH_RUNS ?? "200");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const p99 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
};
const now = () => performance.now();
const emit = (o) => console.log(JSON.stringify({ sdk: "typescript", ...o }));

const sbx = await Sandbox.connect(process.env.WRENN_BENCH_SANDBOX);
for (let i = 0; i < 20; i++) await sbx.commands.run("echo hi");
const runs = [];
for (let i = 0; i < RUNS; i++) {
  const t = now();
  await sbx.commands.run("echo hi");
  runs.push(now() - t);
}
emit({ figure: "run_echo", median_ms: median(runs), p99_ms: p99(runs), n: RUNS });

const firsts = [];
for (let i = 0; i < 10; i++) {
  const t = now();
  const fresh = await Sandbox.create();
  try {
    await fresh.commands.run("true");
    firsts.push(now() - t);
  } finally {
    await fresh.kill();
  }
}
emit({ figure: "create_first_command", median_ms: median(firsts), n: 10 });

const payload = new Uint8Array(10 * 1024 * 1024);
randomFillSync(payload);
const ups = [];
const downs = [];
for (let i = 0; i < 5; i++) {
  let t = now();
  await sbx.files.write("/tmp/bench-10mib", payload);
  ups.push(now() - t);
  t = now();
  const back = await sbx.files.read("/tmp/bench-10mib", { format: "bytes" });
  downs.push(now() - t);
  if (back.length !== payload.length || back[12345] !== payload[12345]) throw new Error("10 MiB round trip differs");
}
emit({ figure: "file_10mib", upload_ms: median(ups), download_ms: median(downs) });
