/**
 * Many service instances over many nodes, for the discovery benchmark: `--nodes M`
 * mesh connections (node-00 …), `--instances N` tools spread round-robin over them
 * (tool `fleet_0000` …, `--methods M` methods each: `run`, then `op_01` …, each with a
 * published schema). Prints `ready`.
 *
 *   node --import tsx bench/children/fleet.ts --nats URL --instances 1000 --nodes 50
 *   node --import tsx bench/children/fleet.ts --nats URL --instances 1000 --methods 10 --nodes 500
 */
import { parseArgs } from "node:util";
import { Mesh } from "../../src/mesh/index.js";
import { fleetToolName } from "../lib/names.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nats: { type: "string" }, instances: { type: "string" }, nodes: { type: "string", default: "50" }, methods: { type: "string", default: "1" } },
  });
  const instances = Number(values.instances);
  const perTool = Math.max(1, Number(values.methods));
  const nodes = Math.min(Number(values.nodes), instances);
  const meshes = await Promise.all(
    Array.from({ length: nodes }, (_, n) => Mesh.connect({ servers: values.nats, node: `node-${String(n).padStart(nodes > 100 ? 3 : 2, "0")}` })),
  );
  await Promise.all(
    meshes.map(async (mesh, n) => {
      for (let i = n; i < instances; i += nodes) {
        await mesh.registerTool({
          name: fleetToolName(i),
          version: "1.0.0",
          description: `Fleet tool ${i}`,
          methods: Object.fromEntries(Array.from({ length: perTool }, (_, m) => [
            m === 0 ? "run" : `op_${String(m).padStart(2, "0")}`,
            {
              schema: {
                type: "object",
                description: m === 0 ? `Runs fleet job ${i}.` : `Runs step ${m} of fleet job ${i}.`,
                properties: { x: { type: "number", description: "Input." }, label: { type: "string" } },
                required: ["x"],
              },
              handler: (p: Record<string, unknown>) => p,
            },
          ])),
        });
      }
      await mesh.nc.flush();
    }),
  );
  const stop = async () => {
    await Promise.all(meshes.map((m) => m.close().catch(() => {})));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  process.stdout.write("ready\n");
}

await main();
