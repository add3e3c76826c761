/**
 * The benchmark's example-style node, in its own process: tool `bench` with a
 * trivial `echo`, an `add`, and a streaming `count` that emits N progress chunks,
 * plus `files.*` served from the Object Store. Prints `ready` when registered.
 *
 *   node --import tsx bench/children/node.ts --nats nats://127.0.0.1:4222 [--node bench1]
 */
import { parseArgs } from "node:util";
import { Mesh, type ToolDefinition } from "../../src/mesh/index.js";

const BENCH_TOOL = "bench";

function benchTool(): ToolDefinition {
  return {
    name: BENCH_TOOL,
    version: "1.0.0",
    description: "Benchmark tool: trivial methods",
    methods: {
      echo: {
        schema: { type: "object", description: "Returns its arguments.", properties: { text: { type: "string" } } },
        handler: (params) => params,
      },
      add: {
        schema: {
          type: "object",
          description: "a + b",
          properties: { a: { type: "number" }, b: { type: "number" } },
          required: ["a", "b"],
        },
        handler: (params) => (params.a as number) + (params.b as number),
      },
      count: {
        stream: true,
        schema: {
          type: "object",
          description: "Emits `n` chunks {progress, total}, then returns {count: n}.",
          properties: { n: { type: "integer", minimum: 0 } },
          required: ["n"],
        },
        handler: (params, ctx) => {
          const n = Number(params.n);
          for (let i = 1; i <= n; i++) ctx.emit({ progress: i, total: n });
          return { count: n };
        },
      },
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nats: { type: "string" }, node: { type: "string", default: "bench1" } } });
  const mesh = await Mesh.connect({ servers: values.nats, node: values.node });
  await mesh.registerTool(benchTool());
  mesh.subscribeFileHandlers();
  if ((await mesh.files.mode()) !== "objectstore") throw new Error("the bench node needs JetStream for files.*");
  await mesh.nc.flush();
  const stop = async () => {
    await mesh.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  process.stdout.write("ready\n");
}

await main();
