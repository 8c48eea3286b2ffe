/**
 * AbortSignal helpers that work on Node 18 (no `AbortSignal.any`).
 * @module
 */

/** A signal that aborts when any of `signals` does. */
export function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0] as AbortSignal;
  const ctl = new AbortController();
  for (const s of present) {
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

/** Connect's `timeoutMs` for a bound where 0 means none (Connect aborts at once on 0). */
export function callTimeout(ms: number | undefined): number | undefined {
  return ms !== undefined && ms > 0 ? ms : undefined;
}
