import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConflictError,
  NotFoundError,
  PermissionError,
  PoolExhaustedError,
  RateLimitError,
  Sandbox,
  SandboxError,
  TimeoutError,
  ValidationError,
  WrennError,
  errorFromConnect,
  errorFromResponse,
} from "../src/index.js";
import { json, serve } from "./server.js";

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("REST error mapping", () => {
  const cases: [number, string, new (...a: never[]) => WrennError][] = [
    [401, "unauthenticated", AuthenticationError],
    [403, "forbidden", PermissionError],
    [404, "not_found", NotFoundError],
    [404, "template_not_found", NotFoundError],
    [409, "conflict", ConflictError],
    [409, "sandbox_not_running", SandboxError],
    [422, "validation_failed", ValidationError],
    [400, "invalid_json", ValidationError],
    [429, "rate_limited", RateLimitError],
    [429, "too_many_attempts", RateLimitError],
    [429, "quota_exceeded", PoolExhaustedError],
    [429, "pool_exhausted", PoolExhaustedError],
    [503, "no_capacity", SandboxError],
    [503, "agent_unavailable", SandboxError],
  ];
  for (const [status, code, cls] of cases) {
    it(`maps_${code}_${status}_to_${cls.name}`, () => {
      const e = errorFromResponse(status, { error: { code, message: "m" } }, "req-1");
      expect(e).toBeInstanceOf(cls);
      expect(e).toBeInstanceOf(WrennError);
      expect(e.status).toBe(status);
      expect(e.code).toBe(code);
      expect(e.message).toBe("m");
      expect(e.requestId).toBe("req-1");
    });
  }

  it("unknown_code_falls_back_on_the_status", () => {
    expect(errorFromResponse(404, { error: { code: "new_thing", message: "x" } }, undefined)).toBeInstanceOf(NotFoundError);
    expect(errorFromResponse(504, "gateway timeout", undefined)).toBeInstanceOf(TimeoutError);
  });

  it("proxy_and_envd_bodies_map_by_status", () => {
    const e = errorFromResponse(502, { sandboxId: "s", message: "sandbox is paused", code: 502 }, undefined);
    expect(e).toBeInstanceOf(SandboxError);
    expect(e.message).toBe("sandbox is paused");
  });

  it("a_real_404_answer_carries_the_request_id", async () => {
    const s = await serve((_req, res) =>
      json(res, 404, { error: { code: "not_found", message: "no such sandbox" } }, { "x-request-id": "abc123" }),
    );
    close = s.close;
    const err: unknown = await Sandbox.getInfo("nope", { apiKey: "wrn_x", baseUrl: s.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ status: 404, code: "not_found", requestId: "abc123", message: "no such sandbox" });
    expect(s.seen[0]?.headers["authorization"]).toBe("Bearer wrn_x");
  });

  it("kill_of_a_missing_sandbox_answers_false", async () => {
    const s = await serve((_req, res) => json(res, 404, { error: { code: "not_found", message: "gone" } }));
    close = s.close;
    expect(await Sandbox.kill("nope", { apiKey: "wrn_x", baseUrl: s.url })).toBe(false);
  });
});

describe("Connect error mapping", () => {
  const cases: [Code, new (...a: never[]) => WrennError, string][] = [
    [Code.Unauthenticated, AuthenticationError, "unauthenticated"],
    [Code.PermissionDenied, PermissionError, "permission_denied"],
    [Code.NotFound, NotFoundError, "not_found"],
    [Code.AlreadyExists, ConflictError, "already_exists"],
    [Code.InvalidArgument, ValidationError, "invalid_argument"],
    [Code.DeadlineExceeded, TimeoutError, "deadline_exceeded"],
    [Code.Unavailable, SandboxError, "unavailable"],
  ];
  for (const [code, cls, name] of cases) {
    it(`maps_connect_${name}_to_${cls.name}`, () => {
      const e = errorFromConnect(new ConnectError("boom", code));
      expect(e).toBeInstanceOf(cls);
      expect(e.code).toBe(name);
      expect(e.message).toBe("boom");
    });
  }
});
