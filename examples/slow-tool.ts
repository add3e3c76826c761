/**
 * Example node: a slow request/reply tool that honours cancellation. `slow.sleep`
 * waits `seconds`, but the moment the caller publishes `cancel.<call_id>` (ctx.signal
 * aborts) it stops and replies with a "cancelled: …" error. Cancellation in jb-mesh
 * is cooperative: a handler that never looks at ctx.signal simply runs to the end.
 *
 *   MESH_NODE=slow1 npx tsx examples/slow-tool.ts
 *
 *   // from any caller: abort after 1 s; the node stops sleeping at once
 *   await mesh.callWithSignal("slow", "sleep", { seconds: 30 }, AbortSignal.timeout(1000));
 */
import type { Mesh, ToolDefinition } from "mesh-mcp";
import { cancelledError, numberParam, runIfMain, sleep } from "./common.js";

export const SLOW_TOOL = "slow";

export function slowTool(): ToolDefinition {
  return {
    name: SLOW_TOOL,
    version: "1.0.0",
    description: "A deliberately slow tool for trying out timeouts and cancellation",
    methods: {
      sleep: {
        schema: {
          type: "object",
          description: "Wait the given number of seconds, then reply. Stops early when the call is cancelled.",
          properties: {
            seconds: { type: "number", description: "How long to wait (0-3600 seconds, fractions allowed).", default: 5 },
          },
          required: ["seconds"],
        },
        handler: async (params, ctx) => {
          const seconds = numberParam(params, "seconds", { default: 5, min: 0, max: 3600 });
          const started = Date.now();
          const done = await sleep(seconds * 1000, ctx.signal);
          const sleptMs = Date.now() - started;
          if (!done) throw cancelledError(`stopped after ${(sleptMs / 1000).toFixed(1)} s of ${seconds} s`);
          return { slept_seconds: seconds, elapsed_ms: sleptMs };
        },
      },
    },
  };
}

export async function registerSlowTool(mesh: Mesh): Promise<void> {
  await mesh.registerTool(slowTool());
}

runIfMain(import.meta.url, "slow", registerSlowTool);
