/**
 * 11. A catalog that scales (issue 24): 10,000 methods on 500 nodes (1,000 micro
 * services of 10 methods, two per node, each node its own NATS connection in a fleet
 * child), against a mesh-mcp stdio server and a raw JSON-RPC line client (no SDK client
 * validating 10,000 tools). Every figure beside a baseline of the same run:
 *  - discovery complete (a fresh Catalog) vs all `$SRV.INFO` answers (the floor);
 *  - tools/list p50 vs ping p50 on the same connection (the floor of one request);
 *  - bytes per listed tool (the Go peer's 216 is the figure, not this run's);
 *  - RSS after serving lists vs an idle server on the empty mesh (peer: +65 MB);
 *  - idle CPU (with the periodic `$SRV.PING` sweep every 5 s) vs the idle server's;
 *  - with discovery (the default above 200 methods): the listed bytes, and a ranked
 *    search over the 10,000 methods vs ping.
 */
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { listServices } from "../../src/mesh/index.js";
import type { BenchContext } from "../lib/context.js";
import { FLEET_PREFIX } from "../lib/names.js";
import { procMemory, startTsChild } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, median, now, percentile, ratio } from "../lib/stats.js";
import { stdioLine, type StdioLine } from "../lib/stdio-line.js";
import { allAnswers, catalogOnce } from "./discovery.js";

const TOOLS = 1000;
const METHODS_PER_TOOL = 10;
const NODES = 500;
const METHODS = TOOLS * METHODS_PER_TOOL;
/** The Go peer's figures at 10,000 methods, from the issue (another machine and run). */
const PEER = { bytesPerTool: 216, rssOverEmptyMb: 65, listMs: 125 };

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** Share of one core a process used over `ms` of doing nothing asked of it (%). */
async function idleCpu(pid: number, ms: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = now();
  await new Promise((r) => setTimeout(r, ms));
  return ((cpuSeconds(pid) - c0) / ((now() - t0) / 1000)) * 100;
}

async function timed(c: StdioLine, method: string, params: Record<string, unknown>, n: number): Promise<{ p50: number; last: unknown }> {
  const ms: number[] = [];
  let last: unknown;
  for (let i = 0; i < n; i++) {
    const t = now();
    const m = await c.request(method, params);
    ms.push(now() - t);
    if (m.error) throw new Error(`${method}: ${m.error.message}`);
    last = m.result;
  }
  return { p50: percentile(ms, 50), last };
}

/** Until `want` fleet methods are visible: counted in tools/list, or (discovery on) by an empty search. */
async function untilListed(c: StdioLine, want: number, timeoutMs: number, bySearch: boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let total = 0;
    if (bySearch) {
      const r = await c.request("tools/call", { name: "mesh_search_tools", arguments: { query: "", limit: 1 } });
      total = (r.result as { structuredContent?: { total?: number } } | undefined)?.structuredContent?.total ?? 0;
    } else {
      const r = await c.request("tools/list");
      total = ((r.result as { tools?: Array<{ name: string }> } | undefined)?.tools ?? []).filter((x) => x.name.startsWith(FLEET_PREFIX)).length;
    }
    if (total >= want) return;
    if (Date.now() > deadline) throw new Error(`only ${total} of ${want} methods visible after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

export async function runCatalog(ctx: BenchContext): Promise<SectionResult> {
  const idleMs = ctx.quick ? 10_000 : 30_000;
  const listIters = ctx.quick ? 10 : 40;
  const nc = await connect({ servers: ctx.natsUrl });
  const targets: TargetCheck[] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  try {
    const base = (await listServices(nc, { stallMs: 100 })).length;
    // Baseline: a server on the mesh without the fleet (the bench node only).
    const empty = await stdioLine(ctx.natsUrl, "2025-11-25", { args: ["--discovery", "off"] });
    let emptyRss = Number.NaN;
    let emptyCpu = Number.NaN;
    try {
      for (let i = 0; i < 5; i++) await empty.request("tools/list");
      emptyRss = procMemory(empty.pid).rssKb / 1024;
      emptyCpu = await idleCpu(empty.pid, idleMs);
    } finally {
      await empty.close();
    }

    const t0 = now();
    const fleet = await startTsChild("children/fleet.ts", ["--nats", ctx.natsUrl, "--instances", String(TOOLS), "--methods", String(METHODS_PER_TOOL), "--nodes", String(NODES)], { timeoutMs: 300_000 });
    ctx.log(`  fleet: ${METHODS} methods (${TOOLS} services × ${METHODS_PER_TOOL}) on ${NODES} nodes registered in ${((now() - t0) / 1000).toFixed(1)} s`);
    try {
      const answers: number[] = [];
      const catalogMs: number[] = [];
      let missed = 0;
      for (let r = 0; r < (ctx.quick ? 2 : 5); r++) {
        const a = await allAnswers(nc, base + TOOLS);
        if (!Number.isNaN(a.ms)) answers.push(a.ms);
        const c = await catalogOnce(nc, TOOLS);
        catalogMs.push(c.ms);
        missed = Math.max(missed, c.missed);
      }

      // The full list (--discovery off): time, bytes, memory, idle CPU.
      const full = await stdioLine(ctx.natsUrl, "2025-11-25", { args: ["--discovery", "off"] });
      let listP50 = Number.NaN;
      let firstListMs = Number.NaN;
      let pingP50 = Number.NaN;
      let bytesPerTool = Number.NaN;
      let listed = 0;
      let rssAfter = Number.NaN;
      let loadedCpu = Number.NaN;
      try {
        await untilListed(full, METHODS, 120_000, false);
        const t = now();
        const first = await full.request("tools/list");
        firstListMs = now() - t;
        const tools = ((first.result as { tools: Array<{ name: string }> }).tools).filter((x) => x.name.startsWith(FLEET_PREFIX));
        listed = tools.length;
        bytesPerTool = Buffer.byteLength(JSON.stringify(tools)) / tools.length;
        pingP50 = (await timed(full, "ping", {}, 50)).p50;
        listP50 = (await timed(full, "tools/list", {}, listIters)).p50;
        rssAfter = procMemory(full.pid).rssKb / 1024;
        loadedCpu = await idleCpu(full.pid, idleMs);
      } finally {
        await full.close();
      }

      // Progressive discovery (the default above 200 methods): what is listed, and a search.
      const disc = await stdioLine(ctx.natsUrl, "2025-11-25");
      let discBytes = Number.NaN;
      let searchP50 = Number.NaN;
      let discPing = Number.NaN;
      let hit = "";
      try {
        await untilListed(disc, METHODS, 120_000, true);
        discBytes = Buffer.byteLength(JSON.stringify((await disc.request("tools/list")).result));
        discPing = (await timed(disc, "ping", {}, 50)).p50;
        const s = await timed(disc, "tools/call", { name: "mesh_search_tools", arguments: { query: "step 7 of fleet job 432", limit: 5 } }, listIters);
        searchP50 = s.p50;
        hit = ((s.last as { structuredContent?: { results?: Array<{ name: string }> } }).structuredContent?.results?.[0]?.name) ?? "";
      } finally {
        await disc.close();
      }

      const ansP50 = median(answers);
      const catP50 = median(catalogMs);
      const overEmpty = rssAfter - emptyRss;
      data.catalog = { methods: METHODS, services: TOOLS, nodes: NODES, answersMs: answers, catalogMs, missed, firstListMs, listP50, pingP50, listed, bytesPerTool, emptyRss, rssAfter, emptyCpu, loadedCpu, discBytes, searchP50, discPing, hit };
      targets.push(
        { name: "discovery complete, 10,000 methods / 500 nodes", target: "complete (0 missed)", figure: `${fmt(catP50)} ms = ${fmtRatio(ratio(catP50, ansP50))} all answers (${fmt(ansP50)} ms); ${missed} missed`, met: missed === 0 },
        { name: "tools/list at 10,000 methods (raw line client, warm)", target: `faster than the peer (${PEER.listMs} ms, the issue's run)`, figure: `${fmt(listP50)} ms = ${fmtRatio(ratio(listP50, pingP50))} ping (${fmt(pingP50, 3)} ms); first ${fmt(firstListMs)} ms`, met: listP50 < PEER.listMs },
        { name: "bytes per listed tool", target: `≤ ${PEER.bytesPerTool} (the peer's)`, figure: `${fmt(bytesPerTool)} (${listed} tools)`, met: bytesPerTool <= PEER.bytesPerTool },
        { name: "RSS after serving lists, over an idle server on the empty mesh", target: `≤ +${PEER.rssOverEmptyMb} MB`, figure: `+${fmt(overEmpty)} MB (${fmt(rssAfter)} vs ${fmt(emptyRss)} MB)`, met: overEmpty <= PEER.rssOverEmptyMb },
        { name: "idle CPU with the periodic sweep (5 s)", target: "≤ 1 % of a core", figure: `${fmt(loadedCpu, 2)} % (empty mesh ${fmt(emptyCpu, 2)} %, ${fmtRatio(ratio(loadedCpu, emptyCpu))})`, met: loadedCpu <= 1 },
        { name: "with discovery: tools/list bytes; search over 10,000", target: "a few thousand tokens; search ≈ a request", figure: `${discBytes} B (~${Math.round(discBytes / 4)} tokens); search p50 ${fmt(searchP50)} ms = ${fmtRatio(ratio(searchP50, discPing))} ping, top hit ${hit}`, met: discBytes / 4 < 3000 && hit === "fleet_0432__op_07" },
      );
      notes.push(`Peer figures are the issue's (hofer/nats-mcp on its machine), not measured in this run; every other ratio is to this run's own baseline. Idle CPU over ${idleMs / 1000} s.`);
      return {
        id: "catalog",
        title: "11. A catalog that scales: 10,000 methods on 500 nodes",
        tables: [{
          title: `${METHODS} methods (${TOOLS} services × ${METHODS_PER_TOOL}) on ${NODES} nodes; mesh-mcp over stdio, raw JSON-RPC line client`,
          columns: ["Figure", "Measured", "Baseline (same run)", "Ratio"],
          rows: [
            ["discovery complete (fresh Catalog) ms", fmt(catP50), `all $SRV.INFO answers ${fmt(ansP50)}`, fmtRatio(ratio(catP50, ansP50))],
            ["tools/list p50 ms (warm)", fmt(listP50), `ping ${fmt(pingP50, 3)}`, fmtRatio(ratio(listP50, pingP50))],
            ["tools/list first ms", fmt(firstListMs), `warm ${fmt(listP50)}`, fmtRatio(ratio(firstListMs, listP50))],
            ["bytes per tool", fmt(bytesPerTool), `peer ${PEER.bytesPerTool} (issue)`, fmtRatio(ratio(bytesPerTool, PEER.bytesPerTool))],
            ["RSS after lists MB", fmt(rssAfter), `idle, empty mesh ${fmt(emptyRss)}`, `+${fmt(overEmpty)} MB`],
            ["idle CPU % of a core", fmt(loadedCpu, 2), `empty mesh ${fmt(emptyCpu, 2)}`, fmtRatio(ratio(loadedCpu, emptyCpu))],
            ["discovery on: tools/list bytes", String(discBytes), `full list ${Math.round(bytesPerTool * listed)}`, fmtRatio(ratio(discBytes, bytesPerTool * listed))],
            ["discovery on: search p50 ms", fmt(searchP50), `ping ${fmt(discPing, 3)}`, fmtRatio(ratio(searchP50, discPing))],
          ],
        }],
        targets,
        notes,
        data,
      };
    } finally {
      await fleet.stop();
      for (let i = 0; i < 50 && (await listServices(nc, { stallMs: 50 })).length > base; i++) await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}
