import { defineConfig } from "tsup";

// ESM + CJS with .d.ts for both entries; `browser` never pulls `node:` modules
// (test/browser-bundle.test.ts checks it).
export default defineConfig({
  entry: { index: "src/index.ts", browser: "src/browser.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  splitting: false,
});
