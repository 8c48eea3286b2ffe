/**
 * Wrenn SDK, Node entry: the browser surface plus the CLI's config file
 * (`~/.config/wrenn/config.toml`) as the last source of the API key and URL.
 * @module
 */
import { setFileConfigLoader } from "./config.js";
import { setStreamUploader } from "./files.js";
import { loadConfigFile } from "./node-config.js";
import { nodeStreamUpload } from "./node-upload.js";

setFileConfigLoader(loadConfigFile);
setStreamUploader(nodeStreamUpload);

export * from "./public.js";
export { configDir, loadConfigFile } from "./node-config.js";
