/**
 * Every example in one process, as one node: calculator, counter, image, slow, plus
 * the built-in `files` tool and the `files.*` request/reply handlers (so callers
 * without JetStream access can still use the store). Handy for demos:
 *
 *   nats-server -js &
 *   MESH_NODE=demo npx tsx examples/all.ts
 */
import type { Mesh } from "mesh-mcp";
import { registerCalculator } from "./calculator.js";
import { runIfMain } from "./common.js";
import { registerCounter } from "./counter.js";
import { registerImageTool } from "./image-tool.js";
import { registerSlowTool } from "./slow-tool.js";

export async function registerAll(mesh: Mesh): Promise<void> {
  await registerCalculator(mesh);
  await registerCounter(mesh);
  await registerImageTool(mesh);
  await registerSlowTool(mesh);
  await mesh.registerFileTool();
  mesh.subscribeFileHandlers();
}

runIfMain(import.meta.url, "all", registerAll);
