// Pools and usage against a local fake server answering as docs/api.md
// ("Pools and usage") and openapi.json's Pool/Usage/Invoice schemas say.
import { afterEach, describe, expect, it } from "vitest";
import { PoolExhaustedError, Sandbox, Wrenn } from "../src/index.js";
import type { Invoice, Pool, Usage, UsageInterval } from "../src/index.js";
import { jsonLines } from "../src/account.js";
import { json, serve } from "./server.js";

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers) await c();
  closers = [];
});

async function server(h: Parameters<typeof serve>[0]) {
  const s = await serve(h);
  closers.push(s.close);
  return s;
}

// Typed as the models: a drift of the generated schemas fails the type check.
const NO_PLAN: Pool = {
  team_id: "team-1",
  plan: null,
  size: null,
  used: { vcpus: 2, memory_mib: 1024, storage_mib: 2048, running: 2, paused: 0 },
  over: false,
  updated_at: null,
};
const PLANNED: Pool = {
  team_id: "team-1",
  plan: { name: "tiny", vcpus: 8, memory_gib: 16, storage_gib: 100, max_running: 1, max_paused: 20, price_cents: 900, period: "month", overflow: "refuse" },
  size: { vcpus: 8, memory_mib: 16384, storage_mib: 102400, running: 1, paused: 20 },
  used: { vcpus: 3, memory_mib: 1536, storage_mib: 3072, running: 3, paused: 0 },
  over: true,
  updated_at: "2026-12-01T00:00:00Z",
};
const USAGE: Usage = {
  by: "sandbox",
  start: "2026-11-01T00:00:00Z",
  end: "2026-12-01T00:00:00Z",
  entries: [
    { key: "sbx-1", template: "base", running_seconds: 12.5, paused_seconds: 0, vcpu_seconds: 12.5, memory_gib_seconds: 6.25, storage_gib_hours: 0, guest_cpu_seconds: 3.5 },
  ],
};
const INVOICE: Invoice = {
  plan: null,
  period: "month",
  start: "2026-11-01T00:00:00Z",
  end: "2026-12-01T00:00:00Z",
  price_cents: 0,
  burst_vcpu_hours: 0,
  burst_cents_per_vcpu_hour: 0,
  burst_cents: 0,
  total_cents: 0,
};
function interval(i: number): UsageInterval {
  return {
    sandbox_id: `sbx-${i}`,
    template: "base",
    host_id: null,
    phase: "running",
    vcpus: 1,
    memory_mib: 512,
    storage_mib: 1024,
    started_at: "2026-11-30T00:00:00Z",
    ended_at: i % 2 ? null : "2026-11-30T00:01:00Z",
  };
}

describe("pool and usage", () => {
  it("pool_without_a_plan_answers_null_plan_and_size", async () => {
    const s = await server((_req, res) => json(res, 200, NO_PLAN));
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url });
    const p = await w.pool();
    expect(p.plan).toBeNull();
    expect(p.size).toBeNull();
    expect(p.used.running).toBe(2);
    expect(s.seen[0]).toMatchObject({ method: "GET", url: "/v1/pool" });
    expect(s.seen[0]?.headers["authorization"]).toBe("Bearer wrn_x");
  });

  it("pool_with_a_plan_answers_its_size_and_over", async () => {
    const s = await server((_req, res) => json(res, 200, PLANNED));
    const p = await new Wrenn({ apiKey: "wrn_x", baseUrl: s.url }).pool();
    expect(p.plan?.name).toBe("tiny");
    expect(p.size?.running).toBe(1);
    expect(p.over).toBe(true);
  });

  it("usage_sends_by_start_and_end_and_answers_entries", async () => {
    const s = await server((_req, res) => json(res, 200, USAGE));
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url });
    const u = await w.usage({ by: "sandbox", start: new Date("2026-11-01T00:00:00Z"), end: "2026-12-01T00:00:00Z" });
    expect(u.entries[0]).toMatchObject({ key: "sbx-1", running_seconds: 12.5 });
    const url = new URL(s.seen[0]?.url ?? "", s.url);
    expect(url.pathname).toBe("/v1/usage");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      by: "sandbox",
      start: "2026-11-01T00:00:00.000Z",
      end: "2026-12-01T00:00:00Z",
    });
  });

  it("usage_without_options_sends_no_query", async () => {
    const s = await server((_req, res) => json(res, 200, { ...USAGE, by: "day", entries: [] }));
    await new Wrenn({ apiKey: "wrn_x", baseUrl: s.url }).usage();
    expect(s.seen[0]?.url).toBe("/v1/usage");
  });

  it("invoice_answers_the_preview", async () => {
    const s = await server((_req, res) => json(res, 200, INVOICE));
    const inv = await new Wrenn({ apiKey: "wrn_x", baseUrl: s.url }).invoice({ start: "2026-11-01T00:00:00Z" });
    expect(inv).toEqual(INVOICE);
    const url = new URL(s.seen[0]?.url ?? "", s.url);
    expect(url.pathname).toBe("/v1/usage/invoice");
    expect(url.searchParams.get("start")).toBe("2026-11-01T00:00:00Z");
    expect(url.searchParams.has("end")).toBe(false);
  });

  it("usage_export_streams_json_lines_split_across_chunks", async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      const text = [0, 1, 2, 3, 4].map((i) => JSON.stringify(interval(i)) + "\n").join("");
      // Cut mid-line and mid-character boundaries: the parser must join them.
      let at = 0;
      const step = (): void => {
        if (at >= text.length) {
          res.end();
          return;
        }
        res.write(text.slice(at, at + 37));
        at += 37;
        setImmediate(step);
      };
      step();
    });
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url });
    const got: UsageInterval[] = [];
    for await (const row of w.usageExport({ start: "2026-11-30T00:00:00Z" })) got.push(row);
    expect(got).toEqual([0, 1, 2, 3, 4].map(interval));
    const url = new URL(s.seen[0]?.url ?? "", s.url);
    expect(url.pathname).toBe("/v1/usage/export");
    expect(url.searchParams.get("format")).toBe("json");
    expect(url.searchParams.get("start")).toBe("2026-11-30T00:00:00Z");
    expect(url.searchParams.has("by")).toBe(false);
  });

  it("usage_export_yields_before_the_server_finishes_and_stops_on_break", async () => {
    let closed = false;
    let wrote = 0;
    const s = await server((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.on("close", () => {
        closed = true;
      });
      // An export that never ends unless the client goes away.
      const tick = setInterval(() => {
        res.write(JSON.stringify(interval(wrote++)) + "\n");
      }, 2);
      res.on("close", () => clearInterval(tick));
    });
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url });
    const got: string[] = [];
    for await (const row of w.usageExport()) {
      got.push(row.sandbox_id);
      if (got.length === 3) break;
    }
    expect(got).toEqual(["sbx-0", "sbx-1", "sbx-2"]);
    await expect.poll(() => closed, { timeout: 5000 }).toBe(true);
  });

  it("json_lines_handles_a_last_line_without_newline_and_multibyte_splits", async () => {
    const bytes = new TextEncoder().encode('{"a":"é"}\n\n{"a":"ü"}');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const got: { a: string }[] = [];
    for await (const v of jsonLines<{ a: string }>(stream)) got.push(v);
    expect(got).toEqual([{ a: "é" }, { a: "ü" }]);
  });

  it("an_export_error_answer_maps_before_any_row", async () => {
    const s = await server((_req, res) =>
      json(res, 422, { error: { code: "validation_failed", message: "the range is longer than 400 days" } }),
    );
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url });
    const it = w.usageExport({ start: "2020-01-01T00:00:00Z" });
    await expect(it.next()).rejects.toMatchObject({ status: 422, code: "validation_failed" });
  });
});

describe("pool_exhausted", () => {
  const MESSAGE =
    "the team's pool is exhausted: running sandboxes: 3 in use of 1, 1 asked (plan 'tiny'); the team uses more than its plan allows: new sandboxes are refused until its use fits";

  it("create_refused_by_the_pool_raises_pool_exhausted_with_the_message_and_no_retry", async () => {
    const s = await server((_req, res) =>
      json(res, 429, { error: { code: "pool_exhausted", message: MESSAGE } }, { "x-request-id": "req-9", "retry-after": "30" }),
    );
    const err: unknown = await Sandbox.create({ apiKey: "wrn_x", baseUrl: s.url, retry: { baseDelayMs: 1, maxDelayMs: 2 } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect(err).toMatchObject({ status: 429, code: "pool_exhausted", message: MESSAGE, requestId: "req-9" });
    expect(s.seen).toHaveLength(1);
  });

  it("resume_refused_by_the_pool_raises_pool_exhausted", async () => {
    const s = await server((_req, res) => json(res, 429, { error: { code: "pool_exhausted", message: MESSAGE } }));
    const err: unknown = await Sandbox.connect("sbx-1", { apiKey: "wrn_x", baseUrl: s.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect((err as PoolExhaustedError).message).toBe(MESSAGE);
    expect(s.seen).toHaveLength(1);
  });
});
