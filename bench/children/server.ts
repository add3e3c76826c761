/**
 * A stdio MCP server like `mesh-mcp` itself (same Bridge, createServer and stdio
 * transport) with the file store mode selectable, for the files benchmark:
 * `--files-mode nats` makes resources/read go through `files.*` even though
 * JetStream is reachable (the CLI has no such switch: it picks the Object Store
 * whenever JetStream answers).
 *
 *   node --import tsx bench/children/server.ts --nats URL --files-mode auto|nats --resource-max BYTES
 */
import { parseArgs } from "node:util";
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { serveStdio } from "../../src/transports/stdio.js";

const { values } = parseArgs({
  options: {
    nats: { type: "string" },
    "files-mode": { type: "string", default: "auto" },
    "resource-max": { type: "string", default: String(64 * 1024 * 1024) },
  },
});
const mode = values["files-mode"] as "auto" | "nats" | "objectstore";
const bridge = new Bridge(
  {
    mesh: { servers: values.nats, name: "mesh-mcp-bench", files: { mode } },
    resourceMax: Number(values["resource-max"]),
  },
  new Logger("warning"),
);
bridge.start();
await serveStdio(bridge, () => {
  void bridge.shutdown().finally(() => process.exit(0));
});
