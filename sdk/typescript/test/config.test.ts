import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_BASE_URL, configDir, loadConfigFile, resolveConfig } from "../src/index.js";
import { parseTomlStrings } from "../src/config.js";

function dirWith(toml: string): string {
  const d = mkdtempSync(join(tmpdir(), "wrenn-cfg-"));
  writeFileSync(join(d, "config.toml"), toml);
  return d;
}

describe("config resolution", () => {
  it("argument_beats_environment_beats_file", () => {
    const dir = dirWith('api_url = "http://file:1"\napi_key = "wrn_file"\n');
    const env = { WRENN_CONFIG_DIR: dir, WRENN_API_KEY: "wrn_env", WRENN_BASE_URL: "http://env:2" };
    const byArg = resolveConfig({ apiKey: "wrn_arg", baseUrl: "http://arg:3/" }, env, loadConfigFile);
    expect(byArg.apiKey).toBe("wrn_arg");
    expect(byArg.baseUrl).toBe("http://arg:3");
    const byEnv = resolveConfig({}, env, loadConfigFile);
    expect(byEnv.apiKey).toBe("wrn_env");
    expect(byEnv.baseUrl).toBe("http://env:2");
    const byFile = resolveConfig({}, { WRENN_CONFIG_DIR: dir }, loadConfigFile);
    expect(byFile.apiKey).toBe("wrn_file");
    expect(byFile.baseUrl).toBe("http://file:1");
  });

  it("wrenn_api_url_is_used_after_wrenn_base_url", () => {
    const env = { WRENN_API_KEY: "k", WRENN_API_URL: "http://cli:4" };
    expect(resolveConfig({}, env, undefined).baseUrl).toBe("http://cli:4");
    expect(resolveConfig({}, { ...env, WRENN_BASE_URL: "http://b:5" }, undefined).baseUrl).toBe("http://b:5");
  });

  it("file_token_is_the_key_when_no_api_key", () => {
    const dir = dirWith('token = "jwt.token.here"\n');
    expect(resolveConfig({}, { WRENN_CONFIG_DIR: dir }, loadConfigFile).apiKey).toBe("jwt.token.here");
  });

  it("defaults_to_localhost_8000", () => {
    expect(resolveConfig({ apiKey: "k" }, {}, undefined).baseUrl).toBe(DEFAULT_BASE_URL);
  });

  it("no_key_anywhere_is_a_clear_config_error", () => {
    const run = (): unknown => resolveConfig({}, { WRENN_CONFIG_DIR: "/nonexistent" }, loadConfigFile);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/WRENN_API_KEY/);
  });

  it("session_cookie_mode_needs_no_key", () => {
    const c = resolveConfig({ sessionCookie: true }, {}, undefined);
    expect(c.apiKey).toBeUndefined();
    expect(c.sessionCookie).toBe(true);
  });

  it("config_dir_follows_the_cli", () => {
    expect(configDir({ WRENN_CONFIG_DIR: "/c", XDG_CONFIG_HOME: "/x", HOME: "/h" })).toBe("/c");
    expect(configDir({ XDG_CONFIG_HOME: "/x", HOME: "/h" })).toBe("/x/wrenn");
    expect(configDir({ HOME: "/h" })).toBe("/h/.config/wrenn");
  });

  it("xdg_config_home_file_is_read", () => {
    const xdg = mkdtempSync(join(tmpdir(), "wrenn-xdg-"));
    mkdirSync(join(xdg, "wrenn"));
    writeFileSync(join(xdg, "wrenn", "config.toml"), 'api_key = "wrn_xdg"\n');
    expect(resolveConfig({}, { XDG_CONFIG_HOME: xdg }, loadConfigFile).apiKey).toBe("wrn_xdg");
  });

  it("toml_strings_parse_escapes_and_stop_at_tables", () => {
    expect(parseTomlStrings('a = "x\\"y" # c\nb = \'lit\'\n[t]\nc = "no"')).toEqual({ a: 'x"y', b: "lit" });
  });
});
