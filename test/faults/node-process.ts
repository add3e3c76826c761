/**
 * A mesh node run as its own process by the fault tests (NodeProcess in
 * helpers.ts), so that it can die by SIGKILL like a real node host. Not a test.
 *
 *   NATS_URL=nats://127.0.0.1:4222 MESH_NODE=victim node --import tsx test/faults/node-process.ts
 *
 * stdout carries `ready` once registered and `started <tool.method> <call_id>` when a
 * handler starts; logs go to stderr.
 */
import { Mesh } from "../../src/mesh/index.js";

const say = (line: string) => process.stdout.write(`${line}\n`);
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<boolean>((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve(false)), { once: true });
  });

const mesh = await Mesh.connect({
  servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  node: process.env.MESH_NODE ?? "fault-node",
  reconnectWaitMs: 200,
  log: (level, m) => process.stderr.write(`[node] ${level}: ${m}\n`),
});

await mesh.registerTool({
  name: "slow",
  version: "1.0.0",
  description: "Sleeps, then answers",
  methods: {
    sleep: {
      schema: { type: "object", properties: { seconds: { type: "number" } }, required: ["seconds"] },
      handler: async (p, ctx) => {
        say(`started slow.sleep ${ctx.request.call_id ?? ""}`);
        const full = await pause(Number(p.seconds) * 1000, ctx.signal);
        if (!full) throw new Error("cancelled");
        return { slept: p.seconds };
      },
    },
  },
});

await mesh.registerTool({
  name: "counter",
  version: "1.0.0",
  description: "Counts, streaming each step",
  methods: {
    count: {
      stream: true,
      schema: { type: "object", properties: { n: { type: "integer" }, delay_ms: { type: "integer" } } },
      handler: async (p, ctx) => {
        say(`started counter.count ${ctx.request.call_id ?? ""}`);
        const n = Number(p.n ?? 10);
        for (let i = 1; i <= n; i++) {
          if (!(await pause(Number(p.delay_ms ?? 100), ctx.signal))) throw new Error("cancelled");
          ctx.emit({ progress: i, total: n, message: `step ${i} of ${n}` });
        }
        return { count: n };
      },
    },
  },
});

say("ready");
process.on("SIGTERM", () => void mesh.close().finally(() => process.exit(0)));
