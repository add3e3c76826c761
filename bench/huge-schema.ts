/**
 * A node answering `$SRV.INFO` with a schema of N properties (issue 9): how long the
 * mesh-mcp bridge blocks its event loop and how much heap it takes while discovering
 * it and building tools/list. A raw NATS responder plays the node, its answer built
 * before measuring. Usage:
 *   node --import tsx bench/huge-schema.ts [N=50000] [dist dir=./dist]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../test/helpers/nats-server.js";

const N = Number(process.argv[2] ?? 50_000);
const dist = resolve(process.argv[3] ?? new URL("../dist", import.meta.url).pathname);
const { Bridge } = await import(join(dist, "mcp/bridge.js"));
const { Logger } = await import(join(dist, "mcp/log.js"));
const { Mesh } = await import(join(dist, "mesh/index.js"));
const { ToolList, inputSchemaOf, validateArgs } = await import(join(dist, "mcp/tools.js"));

const conf = join(mkdtempSync(join(tmpdir(), "huge-schema-")), "nats.conf");
writeFileSync(conf, "max_payload: 67108864\n");
const nats = await NatsServer.start({ args: ["-c", conf] });

const properties: Record<string, unknown> = {};
for (let i = 0; i < N; i++) properties[`p${i}`] = { type: "string", description: `property ${i}`, required: i % 2 === 0 };
const schema = JSON.stringify({ type: "object", description: "huge", properties });
const info = new TextEncoder().encode(JSON.stringify({
  type: "io.nats.micro.v1.info_response", name: "huge", id: "HUGE1", version: "1.0.0", description: "", metadata: { node: "evil" },
  endpoints: [{ name: "m", subject: "tools.huge.m", queue_group: "q", metadata: { schema } }],
}));
const small = new TextEncoder().encode(JSON.stringify({
  type: "io.nats.micro.v1.info_response", name: "calc", id: "CALC1", version: "1.0.0", description: "", metadata: { node: "good" },
  endpoints: [{ name: "add", subject: "tools.calc.add", queue_group: "q", metadata: { schema: JSON.stringify({ type: "object", properties: { a: { type: "number" } } }) } }],
}));
const node = await connect({ servers: nats.url });
let answering = false;
node.subscribe("$SRV.INFO", { callback: (_e, m) => void m.respond(answering ? info : small) });
node.subscribe("$SRV.INFO.>", { callback: (_e, m) => void m.respond(small) });

const warnings: string[] = [];
const log = new Logger("error");
const mesh = await Mesh.connect({ servers: nats.url, log: (level: string, m: string) => log.log(level, m) });
log.addSink((level: string, message: string) => level === "warning" && warnings.push(message));
const bridge = await Bridge.withMesh(mesh, {}, log);
const tools = new ToolList(bridge);
await new Promise((r) => setTimeout(r, 500));

globalThis.gc?.();
const heap0 = process.memoryUsage().heapUsed;
const h = monitorEventLoopDelay({ resolution: 5 });
h.enable();
const t0 = performance.now();
answering = true;
node.publish("events.tool.registered", "{}");
let settled = false;
const isAboutHuge = (w: string) => /huge|discovery answer/.test(w);
while (performance.now() - t0 < 60_000) {
  await new Promise((r) => setTimeout(r, 50));
  const hugeListed = bridge.methods().some((e: { tool: string; schemaSource: string }) => e.tool === "huge" && e.schemaSource === "metadata");
  const refused = warnings.some(isAboutHuge);
  if (hugeListed || refused) {
    settled = true;
    break;
  }
}
// What every client's tools/list then costs, and the first call's argument validation.
const listed = JSON.stringify({ tools: tools.meshTools() }).length;
const huge = bridge.methods().find((e: { tool: string }) => e.tool === "huge");
if (huge) validateArgs(inputSchemaOf(huge), {}, () => {});
await new Promise((r) => setTimeout(r, 20)); // the histogram sees a block only at the next tick
const ms = performance.now() - t0;
h.disable();
const heap1 = process.memoryUsage().heapUsed;
console.log(JSON.stringify({
  dist, properties: N, infoBytes: info.length, settled, settleMs: Math.round(ms),
  maxEventLoopBlockMs: Math.round(h.max / 1e6), heapGrowthMB: Math.round((heap1 - heap0) / 2 ** 20),
  toolsListChars: listed, hugeListed: bridge.methods().some((e: { tool: string }) => e.tool === "huge"),
  warnings: warnings.filter(isAboutHuge).map((w) => w.slice(0, 160)),
}));
await bridge.shutdown();
await node.close();
await nats.stop();
process.exit(0);
