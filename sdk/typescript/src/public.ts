/**
 * The SDK's public surface, shared by the Node and browser entries.
 * @module
 */
export { Sandbox, type SandboxCreateOptions, type SandboxListOptions } from "./sandbox.js";
export { Wrenn, Templates, Keys, Teams, Hosts, type UsageRange } from "./account.js";
export { Commands, CommandHandle, Pty, type RunOptions, type PtyOptions, type OutputChunk, type ProcessEntry } from "./commands.js";
export {
  Files,
  type EntryInfo,
  type WriteInfo,
  type WriteData,
  type WriteEntry,
  type FilesystemEvent,
  type FileOptions,
  type WatchOptions,
  type WatchHandle,
} from "./files.js";
export { Paginator, type Page } from "./paginate.js";
export { resolveConfig, DEFAULT_BASE_URL, type ConnectionOptions, type ResolvedConfig } from "./config.js";
export { DEFAULT_RETRY, type RetryOptions } from "./retry.js";
export * from "./errors.js";
export type * from "./models.js";
