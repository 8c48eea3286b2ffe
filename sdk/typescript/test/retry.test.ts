import { afterEach, describe, expect, it } from "vitest";
import { ConnectionError, PoolExhaustedError, RateLimitError, Sandbox, SandboxError, Wrenn } from "../src/index.js";
import { backoffMs, DEFAULT_RETRY, parseRetryAfter } from "../src/retry.js";
import { SANDBOX, json, serve } from "./server.js";

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

const fast = { baseDelayMs: 1, maxDelayMs: 2 };

describe("retries", () => {
  it("create_when_503_twice_then_201_retries_with_the_same_idempotency_key", async () => {
    const s = await server((_req, res, n) => {
      if (n <= 2) json(res, 503, { error: { code: "no_capacity", message: "full" } });
      else json(res, 201, SANDBOX);
    });
    const sbx = await Sandbox.create({ apiKey: "wrn_x", baseUrl: s.url, retry: fast });
    expect(sbx.sandboxId).toBe("sbx-1");
    expect(s.seen).toHaveLength(3);
    const keys = s.seen.map((r) => r.headers["idempotency-key"]);
    expect(keys[0]).toMatch(/^[a-z0-9-]{1,255}$/);
    expect(new Set(keys).size).toBe(1);
  });

  it("two_creates_send_different_idempotency_keys", async () => {
    const s = await server((_req, res) => json(res, 201, SANDBOX));
    await Sandbox.create({ apiKey: "wrn_x", baseUrl: s.url });
    await Sandbox.create({ apiKey: "wrn_x", baseUrl: s.url });
    expect(s.seen[0]?.headers["idempotency-key"]).not.toBe(s.seen[1]?.headers["idempotency-key"]);
  });

  it("retry_after_seconds_is_honoured", async () => {
    const s = await server((_req, res, n) => {
      if (n === 1) json(res, 429, { error: { code: "rate_limited", message: "slow" } }, { "retry-after": "1" });
      else json(res, 200, { templates: [] });
    });
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: fast });
    const t0 = Date.now();
    await w.templates.list();
    // Backoff alone would wait at most 2 ms; Retry-After asks for 1 s.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(s.seen).toHaveLength(2);
  });

  it("gives_up_after_max_retries_with_the_last_error", async () => {
    const s = await server((_req, res) => json(res, 502, { sandboxId: "x", message: "bad gateway", code: 502 }));
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: { ...fast, maxRetries: 2 } });
    await expect(w.templates.list()).rejects.toBeInstanceOf(SandboxError);
    expect(s.seen).toHaveLength(3);
  });

  it("non_idempotent_post_is_not_retried_after_a_503", async () => {
    const s = await server((_req, res) => json(res, 503, { error: { code: "agent_unavailable", message: "down" } }));
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: fast });
    await expect(w.teams.create("a")).rejects.toMatchObject({ status: 503, code: "agent_unavailable" });
    expect(s.seen).toHaveLength(1);
  });

  it("a_429_rate_limit_is_retried_even_for_a_post", async () => {
    const s = await server((_req, res, n) => {
      if (n === 1) json(res, 429, { error: { code: "rate_limited", message: "slow" } }, { "retry-after": "0" });
      else json(res, 201, { id: "t1", name: "a", role: "owner", personal: false });
    });
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: fast });
    expect((await w.teams.create("a")).id).toBe("t1");
    expect(s.seen).toHaveLength(2);
  });

  it("quota_exceeded_is_not_retried", async () => {
    const s = await server((_req, res) =>
      json(res, 429, { error: { code: "quota_exceeded", message: "limit" } }, { "retry-after": "30" }),
    );
    await expect(Sandbox.create({ apiKey: "wrn_x", baseUrl: s.url, retry: fast })).rejects.toBeInstanceOf(PoolExhaustedError);
    expect(s.seen).toHaveLength(1);
  });

  it("retry_after_beyond_the_total_deadline_fails_at_once", async () => {
    const s = await server((_req, res) =>
      json(res, 429, { error: { code: "rate_limited", message: "slow" } }, { "retry-after": "120" }),
    );
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: { ...fast, totalDeadlineMs: 5000 } });
    const err: unknown = await w.templates.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterSecs).toBe(120);
    expect(s.seen).toHaveLength(1);
  });

  it("connection_errors_are_retried_for_gets", async () => {
    const s = await server((req, res, n) => {
      if (n === 1) res.socket?.destroy();
      else json(res, 200, { templates: [] });
    });
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: fast });
    expect(await w.templates.list()).toEqual([]);
    expect(s.seen).toHaveLength(2);
  });

  it("a_refused_connection_is_a_connection_error_after_the_retries", async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    await s.close();
    const w = new Wrenn({ apiKey: "wrn_x", baseUrl: s.url, retry: { ...fast, maxRetries: 1 } });
    await expect(w.templates.list()).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe("retry policy", () => {
  it("parses_retry_after_seconds_and_http_dates", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("backoff_is_full_jitter_capped", () => {
    expect(backoffMs(0, DEFAULT_RETRY, () => 0.999)).toBeLessThan(500);
    expect(backoffMs(10, DEFAULT_RETRY, () => 0.999)).toBeLessThan(8000);
    expect(backoffMs(10, DEFAULT_RETRY, () => 0.999)).toBeGreaterThan(7900);
    expect(backoffMs(3, DEFAULT_RETRY, () => 0)).toBe(0);
  });
});
