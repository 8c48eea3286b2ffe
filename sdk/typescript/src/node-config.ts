/**
 * Node-only: reads the CLI's `config.toml`. Imported by the Node entry only.
 * @module
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseTomlStrings, type FileConfig } from "./config.js";

/** The directory holding `config.toml`: `$WRENN_CONFIG_DIR`, `$XDG_CONFIG_HOME/wrenn`, `~/.config/wrenn`. */
export function configDir(env: Record<string, string | undefined>): string {
  const set = (k: string): string | undefined => (env[k] !== undefined && env[k] !== "" ? env[k] : undefined);
  return (
    set("WRENN_CONFIG_DIR") ??
    (set("XDG_CONFIG_HOME") !== undefined ? join(set("XDG_CONFIG_HOME") as string, "wrenn") : undefined) ??
    join(set("HOME") ?? homedir(), ".config", "wrenn")
  );
}

/** Reads `config.toml`; undefined when there is none. */
export function loadConfigFile(env: Record<string, string | undefined>): FileConfig | undefined {
  let text: string;
  try {
    text = readFileSync(join(configDir(env), "config.toml"), "utf8");
  } catch {
    return undefined;
  }
  const kv = parseTomlStrings(text);
  const out: FileConfig = {};
  if (kv["api_url"] !== undefined) out.api_url = kv["api_url"];
  if (kv["api_key"] !== undefined) out.api_key = kv["api_key"];
  if (kv["token"] !== undefined) out.token = kv["token"];
  return out;
}
