/**
 * REST models: aliases of the types generated from the control plane's
 * OpenAPI document (src/gen/openapi.ts, `npm run gen`), so a drift in the
 * contract fails the type check.
 * @module
 */
import type { components } from "./gen/openapi.js";

type Schemas = components["schemas"];

/** A sandbox as the control plane shows it. `envd_access_token` is in create/connect/resume/fork answers. */
export type SandboxInfo = Schemas["Sandbox"] & { envd_access_token?: string | null; envd_version?: string | null };
export type SandboxState = Schemas["SandboxState"];
export type TimeoutAction = Schemas["TimeoutAction"];
export type CreateSandboxBody = Schemas["CreateSandbox"];
export type SandboxPage = Schemas["SandboxPage"];
export type Template = Schemas["Template"];
export type Metrics = Schemas["Metrics"];
export type MetricsSample = Schemas["MetricsSample"];
export type ApiKey = Schemas["ApiKey"];
export type CreatedKey = Schemas["CreatedKey"];
export type KeyOwner = Schemas["KeyOwner"];
export type Team = Schemas["Team"];
export type Member = Schemas["Member"];
export type Role = Schemas["Role"];
export type Host = Schemas["Host"];
export type CreatedHost = Schemas["CreatedHost"];
export type Me = Schemas["Me"];

// Pools and usage (issue #14). Until the control plane's document carries
// these schemas, the shapes below (docs/api.md "Pools and usage") stand in;
// once `npm run gen` reads a document that has them, the generated types
// win and any drift fails the type check (see test/pool.test.ts).
type Generated<K extends string, Fallback> = Schemas extends Record<K, infer G> ? G : Fallback;

/** Amounts of a pool: sizes, limits or use. */
export type PoolAmounts = Generated<
  "PoolAmounts",
  { vcpus: number; memory_mib: number; storage_mib: number; running: number; paused: number }
>;
/** A plan as written and read (sizes in GiB and counts). */
export type Plan = Generated<
  "Plan",
  {
    name?: string;
    vcpus: number;
    memory_gib: number;
    storage_gib: number;
    max_running: number;
    max_paused: number;
    price_cents?: number;
    period?: string;
    overflow?: string;
    burst_vcpus?: number;
    burst_cents_per_vcpu_hour?: number;
  }
>;
/** The team's pool: its plan (`null`: no plan, no pool limit), sizes with overrides, use, and `over`. */
export type Pool = Generated<
  "Pool",
  { team_id: string; plan?: Plan | null; size?: PoolAmounts | null; used: PoolAmounts; over: boolean; updated_at?: string | null }
>;
/** One group's usage (`key`: the hour's or day's start, the sandbox id or the template). */
export type UsageEntry = Generated<
  "UsageEntry",
  {
    key: string;
    template?: string;
    running_seconds: number;
    paused_seconds: number;
    vcpu_seconds: number;
    memory_gib_seconds: number;
    storage_gib_hours: number;
    /** CPU seconds the guests actually used (their VMM processes). */
    guest_cpu_seconds: number;
  }
>;
/** Usage totals per group over `[start, end)`. */
export type Usage = Generated<"Usage", { by: string; start: string; end: string; entries: UsageEntry[] }>;
/** An invoice preview: the plan's price plus burst vCPU-hours, in cents. */
export type Invoice = Generated<
  "Invoice",
  {
    plan?: string | null;
    period: string;
    start: string;
    end: string;
    price_cents: number;
    burst_vcpu_hours: number;
    burst_cents_per_vcpu_hour: number;
    burst_cents: number;
    total_cents: number;
  }
>;
/** How usage is grouped. */
export type UsageGrouping = "day" | "hour" | "sandbox" | "template";
/** One ledger interval of `usageExport` (a JSON line; the document describes no schema for it). */
export interface UsageInterval {
  sandbox_id: string;
  template: string;
  host_id: string | null;
  /** `running` or `paused`. */
  phase: string;
  vcpus: number;
  memory_mib: number;
  storage_mib: number;
  started_at: string;
  /** `null`: still open. */
  ended_at: string | null;
}
