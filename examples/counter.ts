/**
 * Example node: a streaming tool. `counter.count` counts to `n`, one step every
 * `delay_ms`, and emits a progress chunk `{progress, total, message}` per step on the
 * `.stream` subject (an MCP bridge turns these into progress notifications). It stops
 * as soon as the caller cancels (`cancel.<call_id>` → ctx.signal).
 *
 *   MESH_NODE=counter1 npx tsx examples/counter.ts
 *
 *   // from any caller:
 *   for await (const f of mesh.stream("counter", "count", { n: 5, delay_ms: 500 })) console.log(f.chunk ?? f.result);
 */
import type { Mesh, ToolDefinition } from "mesh-mcp";
import { cancelledError, numberParam, runIfMain, sleep } from "./common.js";

export const COUNTER_TOOL = "counter";

/** One partial frame's chunk. */
export interface ProgressChunk {
  progress: number;
  total: number;
  message: string;
}

export function counterTool(): ToolDefinition {
  return {
    name: COUNTER_TOOL,
    version: "1.0.0",
    description: "Counts with a delay, streaming progress; cancellable",
    methods: {
      count: {
        stream: true,
        schema: {
          type: "object",
          description: "Count from 1 to n, one step every delay_ms, streaming {progress, total, message} after each step.",
          properties: {
            n: { type: "integer", description: "How far to count (1-10000).", default: 10 },
            delay_ms: { type: "integer", description: "Pause before each step in milliseconds (0-60000).", default: 500 },
          },
          required: [],
        },
        handler: async (params, ctx) => {
          const total = numberParam(params, "n", { default: 10, min: 1, max: 10_000, integer: true });
          const delayMs = numberParam(params, "delay_ms", { default: 500, min: 0, max: 60_000, integer: true });
          const started = Date.now();
          for (let i = 1; i <= total; i++) {
            if (!(await sleep(delayMs, ctx.signal))) {
              throw cancelledError(`stopped at ${i - 1} of ${total}`);
            }
            const chunk: ProgressChunk = { progress: i, total, message: `counted ${i} of ${total}` };
            ctx.emit(chunk);
          }
          return { count: total, elapsed_ms: Date.now() - started };
        },
      },
    },
  };
}

export async function registerCounter(mesh: Mesh): Promise<void> {
  await mesh.registerTool(counterTool());
}

runIfMain(import.meta.url, "counter", registerCounter);
