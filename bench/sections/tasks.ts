/**
 * 7. Durable tasks: what a task costs over a plain call, and what capturing a reply
 * in JetStream costs per call. Interleaved rounds like the call section.
 *
 * Mesh level (no MCP): a plain `bench.add` call (reply to a process inbox); the same
 * request with its reply captured by the task stream, done once the reply is readable
 * from JetStream; a whole task (KV record, publish, capture, the starter settles the
 * record). MCP level (stdio, the built CLI): a plain tools/call of the streaming
 * `bench.count` against the same call as a task — create, tasks/get until completed
 * (no pause between polls: the protocol's own cost, not the poll interval), tasks/result.
 */
import { connect, nuid, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { CallToolResultSchema, CreateTaskResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { Mesh, TASK_FRAMES_STREAM, taskFramesSubject } from "../../src/mesh/index.js";
import { callOk, stdioClient, waitForTools, type McpHandle } from "../lib/clients.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import type { SectionResult } from "../lib/report.js";
import { fmt, fmtRatio, now, percentile, ratio, rotate } from "../lib/stats.js";

const encoder = new TextEncoder();

interface Variant {
  name: string;
  group: "mesh" | "mcp";
  call(): Promise<number | void>;
}

/** A request whose reply lands in the task stream; resolves once JetStream serves it back. */
async function capturedCall(nc: NatsConnection, jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> {
  const id = nuid.next();
  const subject = taskFramesSubject(id);
  const got = new Promise<void>((resolve) => {
    const sub = nc.subscribe(subject, { max: 1, callback: () => resolve() });
    void sub;
  });
  nc.publish("node.bench1.tools.bench.add", encoder.encode(JSON.stringify({ params: { a: 1, b: 2 }, call_id: id })), { reply: subject });
  await got;
  for (let i = 0; ; i++) {
    try {
      const m = await jsm.streams.getMessage(TASK_FRAMES_STREAM, { last_by_subj: subject });
      if (m) return;
    } catch (err) {
      if (i > 100) throw err;
    }
  }
}

export async function runTasks(ctx: BenchContext): Promise<SectionResult> {
  const total = ctx.quick ? 60 : 600;
  const rounds = ctx.quick ? 3 : 10;
  const per = Math.ceil(total / rounds);
  const notes: string[] = [];
  const mesh = await Mesh.connect({ servers: ctx.natsUrl });
  const store = await mesh.tasks();
  const nc = await connect({ servers: ctx.natsUrl });
  const jsm = await jetstreamManager(nc);
  const owner = `bench-${nuid.next()}`;
  const stdio: McpHandle = await stdioClient(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "tasks-stdio"), args: ["--task-owner", owner] });

  /** A whole task at the mesh level, done when this process has settled its record. */
  const meshTask = async (): Promise<void> => {
    let resolve!: () => void;
    const ended = new Promise<void>((r) => (resolve = r));
    let id = "";
    const drop = store.onChange((changed, chunk) => {
      if (chunk === undefined && changed === id) resolve();
    });
    try {
      id = (await store.startTask({ tool: "bench", method: "add", params: { a: 1, b: 2 }, node: "bench1", stream: false, owner })).id;
      await ended;
    } finally {
      drop();
    }
  };

  /** Create, poll tasks/get back to back until completed, then tasks/result; returns the polls made. */
  const mcpTask = async (): Promise<number> => {
    const c = stdio.client;
    const { task } = await c.request({ method: "tools/call", params: { name: "bench__count", arguments: { n: 10 }, task: {} } }, CreateTaskResultSchema);
    let polls = 0;
    for (;;) {
      polls++;
      const s = await c.experimental.tasks.getTask(task.taskId);
      if (s.status === "completed") break;
      if (s.status !== "working") throw new Error(`task ended ${s.status}: ${s.statusMessage}`);
    }
    const r = await c.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    if ((r as { isError?: boolean }).isError) throw new Error("task result is an error");
    return polls;
  };

  const variants: Variant[] = [
    { name: "mesh call (reply to a process inbox)", group: "mesh", call: async () => void (await mesh.call("bench", "add", { a: 1, b: 2 }, { node: "bench1" })) },
    { name: "mesh call, reply captured by JetStream, read back", group: "mesh", call: () => capturedCall(nc, jsm) },
    { name: "mesh task (record, call, capture, settle)", group: "mesh", call: meshTask },
    { name: "MCP stdio tools/call bench.count n=10", group: "mcp", call: () => callOk(stdio.client, "bench__count", { n: 10 }) },
    { name: "MCP stdio task: create + tasks/get to completed + tasks/result", group: "mcp", call: mcpTask },
  ];
  try {
    await waitForTools(stdio.client, (n) => n.includes("bench__count"));
    for (const v of variants) for (let i = 0; i < 10; i++) await v.call();
    const lat = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const polls: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const v of rotate(variants, r)) {
        for (let i = 0; i < per; i++) {
          const t0 = now();
          const extra = await v.call();
          lat.get(v.name)!.push(now() - t0);
          if (typeof extra === "number") polls.push(extra);
        }
      }
    }
    const rows: string[][] = [];
    const figures: Record<string, { p50: number; p99: number }> = {};
    for (const group of ["mesh", "mcp"] as const) {
      const vs = variants.filter((v) => v.group === group);
      const base = percentile(lat.get(vs[0]!.name)!, 50);
      for (const v of vs) {
        const l = lat.get(v.name)!;
        figures[v.name] = { p50: percentile(l, 50), p99: percentile(l, 99) };
        rows.push([v.name, fmt(figures[v.name]!.p50, 3), fmt(figures[v.name]!.p99, 3), fmtRatio(ratio(figures[v.name]!.p50, base))]);
      }
    }
    const polls50 = percentile(polls, 50);
    notes.push(
      `The MCP task made a median of ${fmt(polls50, 1)} tasks/get per task with no pause between polls; a real client waits pollInterval (default 1 s) between polls, so its wall time is the job's time rounded up to the next poll.`,
      "Capture cost = row 2 − row 1: the node's reply is stored in the file-backed stream `mesh-mcp-task-frames` and read back once (STREAM.MSG.GET).",
    );
    return {
      id: "tasks",
      title: "7. Durable tasks (JetStream capture, task overhead)",
      tables: [{ title: `${per * rounds} runs per variant, ${rounds} interleaved rounds (latency in ms; ratio to the first row of its group)`, columns: ["Path", "p50 ms", "p99 ms", "p50 / plain"], rows }],
      targets: [],
      notes,
      data: { figures, pollsMedian: polls50, runsPerVariant: per * rounds },
    };
  } finally {
    await stdio.close();
    await nc.close();
    await mesh.close();
  }
}
