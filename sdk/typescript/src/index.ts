/**
 * Wrenn SDK, Node entry: the browser surface plus the CLI's config file
 * (`~/.config/wrenn/config.toml`) as the last source of the API key and URL.
 * @module
 */
import { setFileConfigLoader } from "./config.js";
import { loadConfigFile } from "./node-config.js";

setFileConfigLoader(loadConfigFile);

export * from "./public.js";
export { configDir, loadConfigFile } from "./node-config.js";
