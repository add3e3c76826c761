/**
 * 4. Streaming: a node streams 10,000 chunks `{progress, total}`; the SDK client
 * receives them as progress notifications (`onprogress`). Frames/s, frames lost,
 * order kept — beside the same stream read with the mesh library directly.
 */
import { readFileSync } from "node:fs";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { Mesh } from "../../src/mesh/index.js";
import { httpClient, inProcClient, stdioClient, waitForTools, type McpHandle, type WireTap } from "../lib/clients.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { tryStartHttp, type HttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { lineWaitForTool, stdioLine } from "../lib/stdio-line.js";
import { fmt, fmtRatio, median, now, ratio, rotate, sleep } from "../lib/stats.js";

const COUNT_TOOL = "bench__count";

interface StreamRun {
  ms: number;
  /** Progress delivered to onprogress. */
  received: number;
  ordered: boolean;
  /** Progress notifications the client transport received before the result (wire order). */
  onWire: number;
  /** Progress the SDK client reported as "unknown token" (received, then dropped). */
  dropped: number;
}

/**
 * Counts, per client, what the transport delivered and what the SDK dropped. The
 * SDK 1.x client dispatches notifications in a microtask but responses at once, so
 * progress that arrives in the same read as the result is dropped as "unknown token"
 * (modelcontextprotocol/typescript-sdk#2580).
 */
class WireCounter {
  onWire = 0;
  dropped = 0;
  private open = false;
  readonly tap: WireTap = (m: JSONRPCMessage) => {
    if ("method" in m && m.method === "notifications/progress" && this.open) this.onWire++;
    else if ("id" in m && !("method" in m)) this.open = false;
  };
  reset(): void {
    this.onWire = 0;
    this.dropped = 0;
    this.open = true;
  }
  watch(client: Client): void {
    client.onerror = (err) => {
      if (/unknown token/i.test(err.message)) this.dropped++;
    };
  }
}

interface StreamVariant {
  name: string;
  run(n: number): Promise<StreamRun>;
}

/** Frames/s of `streams` concurrent streams of `frames` chunks each (all must arrive, in order per stream). */
interface FanOut {
  ms: number;
  /** The server process's CPU time during the run (user + system). */
  cpuMs?: number;
  lost: number;
  ordered: boolean;
}

async function rawFanOut(mesh: Mesh, streams: number, frames: number): Promise<FanOut> {
  let lost = 0;
  let ordered = true;
  const t0 = now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      let last = 0;
      for await (const f of mesh.stream("bench", "count", { n: frames })) {
        if (f.done) {
          if (f.error) throw new Error(f.error);
          break;
        }
        const p = (f.chunk as { progress: number }).progress;
        if (p !== last + 1) ordered = false;
        last = p;
      }
      lost += frames - last;
    }),
  );
  return { ms: now() - t0, lost, ordered };
}

async function mcpFanOut(client: Client, pid: number | undefined, streams: number, frames: number): Promise<FanOut> {
  let lost = 0;
  let ordered = true;
  const c0 = pid ? procCpuMs(pid) : 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      let last = 0;
      const r = await client.callTool({ name: COUNT_TOOL, arguments: { n: frames } }, undefined, {
        timeout: 120_000,
        onprogress: (p) => {
          if (p.progress !== last + 1) ordered = false;
          last = p.progress;
        },
      });
      if (r.isError) throw new Error(`${COUNT_TOOL} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
      lost += frames - last;
    }),
  );
  return { ms: now() - t0, cpuMs: pid ? procCpuMs(pid) - c0 : undefined, lost, ordered };
}

/** The same over stdio with a plain line client (no SDK, no zod): the server's cost, not the client's. */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

function lineFanOut(natsUrl: string, ctx: BenchContext, cli?: string): { run(streams: number, frames: number): Promise<FanOut>; close(): Promise<void> } {
  let last = new Map<string, number>();
  let ordered = true;
  const line = stdioLine(natsUrl, "2025-11-25", {
    cli,
    nodeArgs: serverNodeArgs(ctx, "stream-fanout-line"),
    onProgress: (p) => {
      const k = String(p.progressToken);
      if (p.progress !== (last.get(k) ?? 0) + 1) ordered = false;
      last.set(k, p.progress);
    },
  });
  let round = 0;
  return {
    async run(streams, frames) {
      const c = await line;
      await lineWaitForTool(c, COUNT_TOOL);
      last = new Map();
      ordered = true;
      const r = round++;
      const c0 = procCpuMs(c.pid);
      const t0 = now();
      await Promise.all(
        Array.from({ length: streams }, (_, i) =>
          c.request("tools/call", { name: COUNT_TOOL, arguments: { n: frames }, _meta: { progressToken: `r${r}s${i}` } }).then((m) => {
            if (m.error || (m.result as { isError?: boolean }).isError) throw new Error(`${COUNT_TOOL} failed: ${JSON.stringify(m).slice(0, 300)}`);
          }),
        ),
      );
      const ms = now() - t0;
      const cpuMs = procCpuMs(c.pid) - c0;
      let got = 0;
      for (const v of last.values()) got += v;
      return { ms, cpuMs, lost: streams * frames - got, ordered };
    },
    close: async () => (await line).close(),
  };
}

async function rawStream(mesh: Mesh, n: number): Promise<StreamRun> {
  let received = 0;
  let last = 0;
  let ordered = true;
  const t0 = now();
  for await (const f of mesh.stream("bench", "count", { n })) {
    if (f.done) {
      if (f.error) throw new Error(f.error);
      break;
    }
    received++;
    const p = (f.chunk as { progress: number }).progress;
    if (p !== last + 1) ordered = false;
    last = p;
  }
  return { ms: now() - t0, received, ordered, onWire: received, dropped: 0 };
}

function mcpStream(client: Client, counter: WireCounter): (n: number) => Promise<StreamRun> {
  counter.watch(client);
  return async (n) => {
    let received = 0;
    let last = 0;
    let ordered = true;
    counter.reset();
    const t0 = now();
    const r = await client.callTool({ name: COUNT_TOOL, arguments: { n } }, undefined, {
      timeout: 120_000,
      onprogress: (p) => {
        received++;
        if (p.progress !== last + 1) ordered = false;
        last = p.progress;
      },
    });
    const ms = now() - t0;
    if (r.isError) throw new Error(`${COUNT_TOOL} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
    await sleep(50); // let dropped notifications surface as errors
    return { ms, received, ordered, onWire: counter.onWire, dropped: counter.dropped };
  };
}

export async function runStreaming(ctx: BenchContext): Promise<SectionResult> {
  const n = ctx.quick ? 2000 : 10_000;
  const rounds = ctx.quick ? 1 : 5;
  const notes: string[] = [];
  const mesh = await Mesh.connect({ servers: ctx.natsUrl });
  const wires = { inproc: new WireCounter(), stdio: new WireCounter(), http: new WireCounter() };
  const inproc = await inProcClient(ctx.natsUrl, { tap: wires.inproc.tap });
  const stdio = await stdioClient(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "stream-stdio"), tap: wires.stdio.tap });
  const handles: McpHandle[] = [inproc, stdio];
  let http: HttpServer | undefined;
  let closeLine: (() => Promise<void>) | undefined;
  const variants: StreamVariant[] = [
    { name: "mesh library (raw frames)", run: (k) => rawStream(mesh, k) },
    { name: "MCP in-process, onprogress", run: mcpStream(inproc.client, wires.inproc) },
    { name: "MCP stdio, onprogress", run: mcpStream(stdio.client, wires.stdio) },
  ];
  const h = await tryStartHttp(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "stream-http") });
  if ("server" in h) {
    http = h.server;
    const hc = await httpClient(http.url, wires.http.tap);
    handles.push(hc);
    variants.push({ name: "MCP HTTP, onprogress", run: mcpStream(hc.client, wires.http) });
  } else {
    notes.push(h.skip);
  }
  try {
    for (const hnd of handles) await waitForTools(hnd.client, (x) => x.includes(COUNT_TOOL));
    for (const v of variants) await v.run(Math.min(n, 1000)); // warm-up
    const runs = new Map<string, StreamRun[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < rounds; r++) for (const v of rotate(variants, r)) runs.get(v.name)!.push(await v.run(n));
    const rawRate = median(runs.get(variants[0]!.name)!.map((x) => n / (x.ms / 1000)));
    const figures: Record<string, { framesPerSec: number; lost: number; wireMissing: number; dropped: number; ordered: boolean; ms: number[] }> = {};
    const rows = variants.map((v) => {
      const rs = runs.get(v.name)!;
      const rate = median(rs.map((x) => n / (x.ms / 1000)));
      const lost = Math.max(...rs.map((x) => n - x.received));
      const wireMissing = Math.max(...rs.map((x) => n - x.onWire));
      const dropped = Math.max(...rs.map((x) => x.dropped));
      const ordered = rs.every((x) => x.ordered);
      figures[v.name] = { framesPerSec: rate, lost, wireMissing, dropped, ordered, ms: rs.map((x) => x.ms) };
      return [v.name, fmt(median(rs.map((x) => x.ms))), fmt(rate), fmtRatio(ratio(rate, rawRate)), String(wireMissing), String(dropped), String(lost), ordered ? "yes" : "**no**"];
    });
    // Many streams at once: the stdio writer's queue grows while stdout is congested.
    const fanStreams = ctx.quick ? 200 : 1000;
    const fanFrames = 20;
    const fanRounds = ctx.quick ? 1 : 3;
    const fanLine = lineFanOut(ctx.natsUrl, ctx);
    closeLine = fanLine.close;
    const fanVariants: Array<{ name: string; run(): Promise<FanOut> }> = [
      { name: "mesh library (raw frames)", run: () => rawFanOut(mesh, fanStreams, fanFrames) },
      { name: "MCP stdio 2025, line client", run: () => fanLine.run(fanStreams, fanFrames) },
      { name: "MCP stdio, SDK client onprogress", run: () => mcpFanOut(stdio.client, stdio.pid, fanStreams, fanFrames) },
    ];
    // MESH_MCP_BENCH_CLI_B=…/dist/cli.js: the same line-client row for another build, interleaved (an A/B in one run).
    const buildB = process.env.MESH_MCP_BENCH_CLI_B;
    if (buildB) {
      const lineB = lineFanOut(ctx.natsUrl, ctx, buildB);
      const closeA = closeLine;
      closeLine = async () => {
        await closeA?.();
        await lineB.close();
      };
      fanVariants.splice(2, 0, { name: "MCP stdio 2025, line client, build B", run: () => lineB.run(fanStreams, fanFrames) });
    }
    for (const v of fanVariants) await v.run(); // warm-up
    const fanRuns = new Map<string, FanOut[]>(fanVariants.map((v) => [v.name, []]));
    for (let r = 0; r < fanRounds; r++) for (const v of rotate(fanVariants, r)) fanRuns.get(v.name)!.push(await v.run());
    const fanTotal = fanStreams * fanFrames;
    const fanRate = (name: string) => median(fanRuns.get(name)!.map((x) => fanTotal / (x.ms / 1000)));
    const fanRaw = fanRate(fanVariants[0]!.name);
    const fanRows = fanVariants.map((v) => {
      const rs = fanRuns.get(v.name)!;
      const cpu = rs.every((x) => x.cpuMs !== undefined) ? fmt(median(rs.map((x) => x.cpuMs!))) : "";
      return [v.name, fmt(median(rs.map((x) => x.ms))), fmt(fanRate(v.name)), fmtRatio(ratio(fanRate(v.name), fanRaw)), cpu, String(Math.max(...rs.map((x) => x.lost))), rs.every((x) => x.ordered) ? "yes" : "**no**"];
    });
    const fanStdio = fanRuns.get(fanVariants[1]!.name)!;
    const fanStdioRatio = ratio(fanRate(fanVariants[1]!.name), fanRaw) ?? 0;
    const fanLost = Math.max(...fanStdio.map((x) => x.lost));
    const targets: TargetCheck[] = [];
    targets.push({
      name: `${fanStreams.toLocaleString("en-US")} concurrent streams, MCP stdio (line client)`,
      target: "≥ 0.6× the mesh library's frame rate, 0 lost",
      figure: `${fmtRatio(fanStdioRatio)}, ${fanLost} lost`,
      met: fanStdioRatio >= 0.6 && fanLost === 0,
    });
    figures.fanOut = { framesPerSec: fanRate(fanVariants[1]!.name), lost: fanLost, wireMissing: 0, dropped: 0, ordered: fanStdio.every((x) => x.ordered), ms: fanStdio.map((x) => x.ms) };
    for (const v of variants.slice(1)) {
      const f = figures[v.name]!;
      targets.push({
        name: `stream → progress, ${v.name.replace(", onprogress", "")}`,
        target: "≥ 20,000 frames/s, 0 lost, in order",
        figure: `${fmt(f.framesPerSec)}/s, ${f.lost} lost, ${f.ordered ? "in order" : "out of order"}`,
        met: f.framesPerSec >= 20_000 && f.lost === 0 && f.ordered,
      });
    }
    if (!targets.some((t) => t.name.includes("HTTP"))) {
      targets.push({ name: "stream → progress, MCP HTTP", target: "≥ 20,000 frames/s, 0 lost, in order", figure: "skipped", met: null });
    }
    return {
      id: "stream",
      title: `4. Streaming (${n.toLocaleString("en-US")} chunks → progress notifications)`,
      tables: [
        {
          title: `median of ${rounds} interleaved runs; worst run for: missing on the wire (progress the client transport did not receive before the result), dropped by the SDK client ("unknown token"), lost (never reached onprogress)`,
          columns: ["Path", "ms per stream", "frames/s", "/ raw", "missing on wire", "dropped by client", "lost", "in order"],
          rows,
        },
        {
          title: `${fanStreams.toLocaleString("en-US")} concurrent streams of ${fanFrames} chunks each, median of ${fanRounds} interleaved runs; lost: frames that never reached the caller (worst run)`,
          columns: ["Path", "ms for all", "frames/s", "/ raw", "server CPU ms", "lost", "in order"],
          rows: fanRows,
        },
      ],
      targets,
      notes,
      data: { n, rounds, figures },
    };
  } finally {
    for (const hnd of handles) await hnd.close();
    await closeLine?.();
    await http?.stop();
    await mesh.close();
  }
}
