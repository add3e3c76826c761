/**
 * Many service instances over many nodes, for the discovery benchmark: `--nodes M`
 * mesh connections (node-00 …), `--instances N` tools spread round-robin over them
 * (tool `fleet_0000` …, one method `run` with a published schema). Prints `ready`.
 *
 *   node --import tsx bench/children/fleet.ts --nats URL --instances 1000 --nodes 50
 */
import { parseArgs } from "node:util";
import { Mesh } from "../../src/mesh/index.js";
import { fleetToolName } from "../lib/names.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nats: { type: "string" }, instances: { type: "string" }, nodes: { type: "string", default: "50" } },
  });
  const instances = Number(values.instances);
  const nodes = Math.min(Number(values.nodes), instances);
  const meshes = await Promise.all(
    Array.from({ length: nodes }, (_, n) => Mesh.connect({ servers: values.nats, node: `node-${String(n).padStart(2, "0")}` })),
  );
  await Promise.all(
    meshes.map(async (mesh, n) => {
      for (let i = n; i < instances; i += nodes) {
        await mesh.registerTool({
          name: fleetToolName(i),
          version: "1.0.0",
          description: `Fleet tool ${i}`,
          methods: {
            run: {
              schema: {
                type: "object",
                description: `Runs fleet job ${i}.`,
                properties: { x: { type: "number", description: "Input." }, label: { type: "string" } },
                required: ["x"],
              },
              handler: (p) => p,
            },
          },
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
