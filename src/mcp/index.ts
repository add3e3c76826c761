/**
 * Embedding the MCP server (`import { … } from "mesh-mcp/mcp"`): one Bridge per
 * process (shared mesh connection and catalog), one createServer() per MCP session,
 * connected to any SDK transport.
 */
export { Bridge, globToRegExp } from "./bridge.js";
export type { BridgeOptions, BridgeState } from "./bridge.js";
export { createServer, SERVER_NAME, SERVER_VERSION } from "./server.js";
export type { Session, SessionOptions } from "./server.js";
export { ANONYMOUS, localPrincipal, PRINCIPAL_AUTH_KEY } from "./principal.js";
export type { Principal, PrincipalSource } from "./principal.js";
export { Logger } from "./log.js";
export type { Level, LogSink } from "./log.js";
export { ToolNameTable, baseName, MAX_TOOL_NAME } from "./naming.js";
