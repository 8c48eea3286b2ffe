import { describe, expect, it } from "vitest";
import { anySignal, callTimeout } from "../src/signals.js";

describe("signals", () => {
  it("zero_or_no_timeout_is_no_connect_deadline", () => {
    expect(callTimeout(0)).toBeUndefined();
    expect(callTimeout(undefined)).toBeUndefined();
    expect(callTimeout(-5)).toBeUndefined();
    expect(callTimeout(1500)).toBe(1500);
  });

  it("any_signal_aborts_with_the_first", () => {
    const a = new AbortController();
    const b = new AbortController();
    const s = anySignal([a.signal, b.signal, undefined]);
    expect(s.aborted).toBe(false);
    b.abort(new Error("b"));
    expect(s.aborted).toBe(true);
    expect((s.reason as Error).message).toBe("b");
  });
});
