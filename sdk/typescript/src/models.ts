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
