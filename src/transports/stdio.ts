/** MCP over stdio: stdout carries only protocol messages; everything else goes to stderr. */
import { StdioServerTransport } from "./stdio-transport.js";
import type { Bridge } from "../mcp/bridge.js";
import { createServer } from "../mcp/server.js";

export async function serveStdio(bridge: Bridge, onClosed: () => void): Promise<{ close(): Promise<void> }> {
  const session = createServer(bridge, { progressBarrier: true });
  const transport = new StdioServerTransport();
  transport.onclose = onClosed;
  process.stdin.once("end", onClosed);
  await session.server.connect(transport);
  return { close: () => session.close() };
}
