/** Streamable HTTP transport: see issue 4 (placeholder until it lands). */
import type { Config } from "../config.js";
import type { Bridge } from "../mcp/bridge.js";
import type { Logger } from "../mcp/log.js";

export async function serveHttp(_bridge: Bridge, _config: Config, _log: Logger, _onClosed: () => void): Promise<{ close(): Promise<void> }> {
  throw new Error("--transport http is not available in this build yet");
}
