/**
 * 10. MCP events over HTTP (2026-07-28): how long from a node's event on NATS to the
 * notification on an open `events/stream` (push), what one `events/poll` costs when
 * nothing happened (the common case), and a poll that drains a backlog of 100.
 * One mesh-mcp process; events published one at a time (the next after the previous
 * was heard), so push figures are latencies, not throughput.
 */
import { connect } from "@nats-io/transport-node";
import type { BenchContext } from "../lib/context.js";
import { startHttpServer } from "../lib/procs.js";
import type { SectionResult } from "../lib/report.js";
import { fmt, now, percentile } from "../lib/stats.js";

const V = "2026-07-28";
const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": V };
const META = { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} };
let ids = 0;

async function rpc(url: string, method: string, params: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await fetch(url, { method: "POST", headers: { ...HEADERS, "mcp-method": method }, body: JSON.stringify({ jsonrpc: "2.0", id: ++ids, method, params: { ...params, _meta: META } }) });
  const text = await res.text();
  const json = text.startsWith("{") ? text : text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).pop()!;
  const m = JSON.parse(json);
  if (m.error) throw new Error(`${method}: ${m.error.message}`);
  return m.result;
}

export async function runEvents(ctx: BenchContext): Promise<SectionResult> {
  const n = ctx.quick ? 40 : 300;
  const server = await startHttpServer(ctx.natsUrl);
  const nc = await connect({ servers: ctx.natsUrl });
  const abort = new AbortController();
  try {
    // Push: one open stream; each event published after the previous one was heard.
    const res = await fetch(server.url, {
      method: "POST",
      signal: abort.signal,
      headers: { ...HEADERS, "mcp-method": "events/stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++ids, method: "events/stream", params: { name: "mesh.node.joined", arguments: { node: "bench-ev" }, cursor: null, _meta: META } }),
    });
    const waiters: Array<() => void> = [];
    let active!: () => void;
    const isActive = new Promise<void>((r) => (active = r));
    void (async () => {
      let buf = "";
      for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString();
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const data = buf.slice(0, at).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
          buf = buf.slice(at + 2);
          if (data.includes("notifications/events/active")) active();
          if (data.includes("notifications/events/event")) waiters.shift()?.();
        }
      }
    })().catch(() => {});
    await isActive;
    const push: number[] = [];
    for (let i = 0; i < n; i++) {
      const heard = new Promise<void>((r) => waiters.push(r));
      const t0 = now();
      nc.publish("events.node.joined", JSON.stringify({ type: "node.joined", node: "bench-ev", data: { i } }));
      await heard;
      push.push(now() - t0);
    }
    ctx.log(`events: push p50 ${fmt(percentile(push, 50))} ms`);

    // Poll with nothing new: the cost of an idle agent's poll loop.
    let cursor = (await rpc(server.url, "events/poll", { name: "mesh.node.left", cursor: null })).cursor as string;
    const idle: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = now();
      cursor = (await rpc(server.url, "events/poll", { name: "mesh.node.left", cursor })).cursor;
      idle.push(now() - t0);
    }
    // A backlog of 100 drained by one poll.
    const drain: number[] = [];
    for (let r = 0; r < (ctx.quick ? 3 : 10); r++) {
      const from = (await rpc(server.url, "events/poll", { name: "mesh.node.left", cursor: null })).cursor as string;
      for (let i = 0; i < 100; i++) nc.publish("events.node.left", JSON.stringify({ type: "node.left", node: `n${i}`, data: {} }));
      await nc.flush();
      await new Promise((r2) => setTimeout(r2, 50));
      const t0 = now();
      const got = await rpc(server.url, "events/poll", { name: "mesh.node.left", cursor: from, maxEvents: 100 });
      drain.push(now() - t0);
      if ((got.events as unknown[]).length !== 100) throw new Error(`backlog poll returned ${(got.events as unknown[]).length} of 100`);
    }
    return {
      id: "events",
      title: "MCP events (HTTP, 2026-07-28)",
      tables: [{
        title: "Event latency and poll cost (ms)",
        columns: ["what", "n", "p50", "p90", "p99"],
        rows: [
          ["push: NATS publish → notifications/events/event", String(push.length), fmt(percentile(push, 50)), fmt(percentile(push, 90)), fmt(percentile(push, 99))],
          ["events/poll, nothing new", String(idle.length), fmt(percentile(idle, 50)), fmt(percentile(idle, 90)), fmt(percentile(idle, 99))],
          ["events/poll draining 100 occurrences", String(drain.length), fmt(percentile(drain, 50)), fmt(percentile(drain, 90)), fmt(percentile(drain, 99))],
        ],
      }],
      targets: [{ name: "push p99", target: "< 1000 ms (a node joins → heard within 1 s)", figure: `${fmt(percentile(push, 99))} ms`, met: percentile(push, 99) < 1000 }],
      notes: ["A poll reads by direct gets (one per stored occurrence on the type's subject), so a backlog poll grows with the backlog."],
      data: { push, idle, drain },
    };
  } finally {
    abort.abort();
    await nc.close();
    await server.stop();
  }
}
