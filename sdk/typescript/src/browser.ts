/**
 * Wrenn SDK, browser entry: fetch and WebSocket only, no `node:` imports
 * (the CLI's config file is not read; pass `apiKey` or `sessionCookie`).
 * @module
 */
export * from "./public.js";
