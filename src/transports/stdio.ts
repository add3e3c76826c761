/** MCP over stdio: stdout carries only protocol messages; everything else goes to stderr. */
import { randomUUID } from "node:crypto";
import { StdioServerTransport } from "./stdio-transport.js";
import type { Bridge } from "../mcp/bridge.js";
import { createServer } from "../mcp/server.js";

export async function serveStdio(bridge: Bridge, onClosed: () => void): Promise<{ close(): Promise<void> }> {
  // Tasks belong to this process unless --task-owner names a shared identity (bridge.opts.tasks.owner).
  const session = createServer(bridge, { progressBarrier: true, taskOwner: bridge.opts.tasks?.owner ?? `stdio:${process.pid}:${randomUUID()}` });
  const transport = new StdioServerTransport();
  transport.onclose = onClosed;
  process.stdin.once("end", onClosed);
  await session.server.connect(transport);
  return { close: () => session.close() };
}
