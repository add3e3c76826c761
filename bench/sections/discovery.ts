/**
 * 3. Discovery at scale: 10, 100 and 1,000 service instances spread over (up to)
 * 50 nodes, each node its own NATS connection in a fleet child process.
 *  - all answers: time from publishing `$SRV.INFO` until every instance answered
 *    (the floor any discovery has), beside
 *  - catalog complete: a fresh `Catalog.start()` (listServices + build), counting
 *    instances missed;
 *  - tools/list warm through an in-process SDK client, beside `ping` on the same
 *    client (the floor of one MCP request);
 *  - RSS of a `mesh-mcp` stdio server process holding that catalog.
 */
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import type { Bridge } from "../../src/mcp/bridge.js";
import { createServer } from "../../src/mcp/server.js";
import { Catalog, listServices } from "../../src/mesh/index.js";
import { FLEET_PREFIX } from "../lib/names.js";
import { inProcClient, stdioClient, waitForTools } from "../lib/clients.js";
import type { BenchContext } from "../lib/context.js";
import { procMemory, startTsChild } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, median, now, percentile, ratio } from "../lib/stats.js";

/**
 * Time (ms) until `expected` answers to `$SRV.INFO` arrived (NaN after 5 s), and the
 * longest pause between two answers: a discovery that stops after a 50 ms pause
 * (listServices' stall) misses whatever comes after a longer one.
 */
export async function allAnswers(nc: NatsConnection, expected: number): Promise<{ ms: number; got: number; maxGap: number }> {
  const inbox = createInbox();
  let got = 0;
  let t0 = 0;
  let last = 0;
  let maxGap = 0;
  let resolveDone!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const sub = nc.subscribe(inbox, {
    callback: () => {
      const t = now();
      if (got > 0) maxGap = Math.max(maxGap, t - last);
      last = t;
      if (++got === expected) resolveDone(t - t0);
    },
  });
  await nc.flush();
  t0 = now();
  nc.publish("$SRV.INFO", new Uint8Array(0), { reply: inbox });
  let timer: NodeJS.Timeout | undefined;
  const ms = await Promise.race([done, new Promise<number>((r) => (timer = setTimeout(() => r(Number.NaN), 5000)))]);
  clearTimeout(timer);
  sub.unsubscribe();
  return { ms, got, maxGap };
}

export async function catalogOnce(nc: NatsConnection, n: number): Promise<{ ms: number; missed: number }> {
  const cat = new Catalog(nc, { refreshIntervalMs: 0 });
  const t0 = now();
  await cat.start();
  const ms = now() - t0;
  const found = cat.methods().filter((m) => m.tool.startsWith(FLEET_PREFIX)).length;
  cat.close();
  return { ms, missed: n - found };
}

/**
 * tools/list as the server alone answers it: raw JSON-RPC over an in-memory pair,
 * no SDK client (which validates the whole result with zod before returning it).
 */
async function rawToolsList(bridge: Bridge): Promise<{ call(): Promise<number>; close(): Promise<void> }> {
  const session = createServer(bridge);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await session.server.connect(serverSide);
  const pending = new Map<number, (m: JSONRPCMessage) => void>();
  clientSide.onmessage = (m) => {
    if ("id" in m && typeof m.id === "number") pending.get(m.id)?.(m);
  };
  await clientSide.start();
  let id = 0;
  return {
    async call() {
      const my = ++id;
      const reply = new Promise<JSONRPCMessage>((r) => pending.set(my, r));
      await clientSide.send({ jsonrpc: "2.0", id: my, method: "tools/list", params: {} });
      const m = (await reply) as { result?: { tools?: unknown[] } };
      pending.delete(my);
      return m.result?.tools?.length ?? 0;
    },
    close: () => session.close(),
  };
}

export async function runDiscovery(ctx: BenchContext): Promise<SectionResult> {
  const scales = [10, 100, 1000];
  const reps = ctx.quick ? 3 : 9;
  const listIters = ctx.quick ? 40 : 300;
  const nc = await connect({ servers: ctx.natsUrl });
  const rows: string[][] = [];
  const listRows: string[][] = [];
  const data: Record<string, unknown> = {};
  const targets: TargetCheck[] = [];
  const notes: string[] = [];
  try {
    // What answers without the fleet (the bench node): subtracted from the expected count.
    const base = (await listServices(nc, { stallMs: 100 })).length;
    // RSS of a mesh-mcp server with no fleet, for reference.
    const idle = await stdioClient(ctx.natsUrl);
    await waitForTools(idle.client, (names) => names.some((x) => x.startsWith("bench__")));
    const idleRss = procMemory(idle.pid!).rssKb / 1024;
    await idle.close();
    for (const n of scales) {
      const nodes = Math.min(50, n);
      const t0 = now();
      const fleet = await startTsChild("children/fleet.ts", ["--nats", ctx.natsUrl, "--instances", String(n), "--nodes", "50"], { timeoutMs: 120_000 });
      ctx.log(`  fleet of ${n} instances on ${nodes} nodes registered in ${((now() - t0) / 1000).toFixed(1)} s`);
      try {
        const answers: number[] = [];
        const gaps: number[] = [];
        const catalogMs: number[] = [];
        const missedRuns: number[] = [];
        let answersShort = 0;
        for (let r = 0; r < reps; r++) {
          const order = r % 2 ? ["catalog", "answers"] : ["answers", "catalog"];
          for (const what of order) {
            if (what === "answers") {
              const a = await allAnswers(nc, base + n);
              gaps.push(a.maxGap);
              if (Number.isNaN(a.ms)) answersShort = Math.max(answersShort, base + n - a.got);
              else answers.push(a.ms);
            } else {
              const c = await catalogOnce(nc, n);
              catalogMs.push(c.ms);
              missedRuns.push(c.missed);
            }
          }
        }
        // tools/list, warm, through an in-process client, beside ping.
        const inproc = await inProcClient(ctx.natsUrl);
        let listP50 = Number.NaN;
        let listP99 = Number.NaN;
        let pingP50 = Number.NaN;
        let serverP50 = Number.NaN;
        let toolCount = 0;
        try {
          const names = await waitForTools(inproc.client, (x) => x.filter((s) => s.startsWith(FLEET_PREFIX)).length >= n);
          toolCount = names.length;
          for (let i = 0; i < 20; i++) await inproc.client.listTools();
          const raw = await rawToolsList(inproc.bridge);
          for (let i = 0; i < 20; i++) await raw.call();
          const list: number[] = [];
          const ping: number[] = [];
          const server: number[] = [];
          try {
            for (let i = 0; i < listIters; i++) {
              let t = now();
              await inproc.client.ping();
              ping.push(now() - t);
              t = now();
              await inproc.client.listTools();
              list.push(now() - t);
              t = now();
              await raw.call();
              server.push(now() - t);
            }
          } finally {
            await raw.close();
          }
          listP50 = percentile(list, 50);
          listP99 = percentile(list, 99);
          pingP50 = percentile(ping, 50);
          serverP50 = percentile(server, 50);
        } finally {
          await inproc.close();
        }
        // RSS of a mesh-mcp stdio server holding this catalog.
        const srv = await stdioClient(ctx.natsUrl);
        let rssMb = Number.NaN;
        try {
          await waitForTools(srv.client, (x) => x.filter((s) => s.startsWith(FLEET_PREFIX)).length >= n);
          rssMb = procMemory(srv.pid!).rssKb / 1024;
        } finally {
          await srv.close();
        }
        const missed = Math.max(...missedRuns);
        const runsMissing = missedRuns.filter((m) => m > 0).length;
        const ansP50 = median(answers);
        const catP50 = median(catalogMs);
        data[n] = { nodes, answersMs: answers, gapsMs: gaps, catalogMs, missedRuns, missed, answersShort, listP50, listP99, pingP50, serverP50, toolCount, rssMb, idleRssMb: idleRss };
        rows.push([
          `${n} on ${nodes} nodes`,
          fmt(ansP50),
          fmt(Math.max(...gaps)),
          fmt(catP50),
          fmt(Math.max(...catalogMs)),
          runsMissing ? `${missed} (in ${runsMissing} of ${reps} runs)` : "0",
          fmt(rssMb),
          fmt(rssMb - idleRss),
        ]);
        listRows.push([`${toolCount} tools (${n} mesh + built-ins)`, fmt(listP50, 3), fmt(listP99, 3), fmt(pingP50, 3), fmt(serverP50, 3), fmt(listP50 - serverP50, 3)]);
        if (answersShort) notes.push(`${n} instances: an all-answers probe saw ${answersShort} fewer answers than expected within 5 s`);
        if (n === 1000) {
          targets.push({
            name: "catalog complete at 1,000 instances",
            target: "< 100 ms, 0 missed",
            figure: `${fmt(catP50)} ms; ${missed ? `${missed} missed in ${runsMissing} of ${reps} runs` : "0 missed"}`,
            met: catP50 < 100 && missed === 0,
          });
          targets.push({ name: "tools/list p50 warm at 1,000 tools (in-process)", target: "< 2 ms", figure: `${fmt(listP50, 3)} ms (server alone ${fmt(serverP50, 3)} ms)`, met: listP50 < 2 });
        }
      } finally {
        await fleet.stop();
      }
      // Let the fleet's services vanish before the next scale.
      for (let i = 0; i < 50 && (await listServices(nc, { stallMs: 50 })).length > base; i++) await new Promise((r) => setTimeout(r, 100));
    }
    return {
      id: "discovery",
      title: "3. Discovery at scale",
      tables: [
        {
          title: `median of ${reps} runs each (ms); RSS of a mesh-mcp stdio server process holding the catalog (idle server with no fleet: ${fmt(idleRss)} MB)`,
          columns: ["Instances", "all answers ms", "longest pause between answers ms (worst run)", "catalog complete ms", "catalog max ms", "missed (worst run)", "server RSS MB", "RSS over idle MB"],
          rows,
        },
        {
          title: `tools/list warm, in-process SDK client, ${listIters} calls interleaved with ping and with the same request as raw JSON-RPC (server alone, no client-side validation) (ms)`,
          columns: ["Tools listed", "tools/list p50", "tools/list p99", "ping p50", "server alone p50", "SDK client's share"],
          rows: listRows,
        },
      ],
      targets,
      notes,
      data,
    };
  } finally {
    await nc.close();
  }
}
