import { build } from "esbuild";
import { builtinModules } from "node:module";
import { describe, expect, it } from "vitest";

describe("browser entry", () => {
  it("bundles_for_the_browser_without_node_modules", async () => {
    const r = await build({
      entryPoints: ["src/browser.ts"],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((p) => p.includes("node-config"))).toBe(false);
    const imports = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    expect(imports.filter((p) => p.startsWith("node:") || builtins.has(p))).toEqual([]);
    const code = r.outputFiles[0]?.text ?? "";
    expect(code).not.toMatch(/from\s*["']node:/);
    expect(code).not.toMatch(/require\(["']node:/);
  });
});
