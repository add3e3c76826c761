// The floor of start-up for any MCP server built on the SDK: its Server and stdio
// transport, no tools, nothing else. Plain JavaScript so it starts like dist/cli.js
// (no TypeScript loader in between).
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new Server({ name: "bare-sdk-server", version: "0.0.0" }, { capabilities: { tools: {} } });
const transport = new StdioServerTransport();
process.stdin.once("end", () => process.exit(0));
await server.connect(transport);
