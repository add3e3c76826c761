/**
 * 7. The two protocol revisions side by side: sequential calls of `bench.echo` by the
 * v1 client (2025-11-25: initialize + session) and by the v2 client pinned to
 * 2026-07-28 (sessionless, per-request envelope), over stdio (one mesh-mcp process
 * per client) and over HTTP (both clients on one mesh-mcp process). Interleaved
 * rounds; latency p50/p99, ratio to raw NATS, and the server's CPU per call (from
 * /proc/<pid>/stat around each variant's blocks: only one variant runs at a time).
 */
import { readFileSync } from "node:fs";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { StdioClientTransport as V2Stdio } from "@modelcontextprotocol/client/stdio";
import { connect } from "@nats-io/transport-node";
import { callOk, httpClient, stdioClient, waitForTools, type McpHandle } from "../lib/clients.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { CLI, ROOT, tryStartHttp, type HttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, now, percentile, ratio, rotate } from "../lib/stats.js";
import { ECHO_TOOL, rawEcho } from "./call.js";

/** User + system CPU of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, in clock ticks). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // CLK_TCK is 100 on Linux
}

interface EraVariant {
  name: string;
  call(): Promise<void>;
  /** The server process whose CPU this variant's calls cost (none for raw NATS). */
  pid?: number;
}

const PIN = { versionNegotiation: { mode: { pin: "2026-07-28" } } } as const;

async function v2Echo(client: V2Client): Promise<void> {
  const r = await client.callTool({ name: ECHO_TOOL, arguments: { text: "hi" } });
  if (r.isError) throw new Error(`${ECHO_TOOL} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
}

async function v2WaitForEcho(client: V2Client): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await client.listTools(undefined, { cacheMode: "bypass" } as never)).tools.some((t) => t.name === ECHO_TOOL)) {
    if (Date.now() > deadline) throw new Error(`${ECHO_TOOL} not listed within 15 s (2026 client)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runEras(ctx: BenchContext): Promise<SectionResult> {
  const total = ctx.quick ? 200 : 3000;
  const rounds = ctx.quick ? 4 : 15;
  const warmup = ctx.quick ? 30 : 300;
  const notes: string[] = [];
  const nc = await connect({ servers: ctx.natsUrl });
  const closers: Array<() => Promise<unknown>> = [];
  const variants: EraVariant[] = [{ name: "raw NATS request/reply", call: () => rawEcho(nc) }];
  let http: HttpServer | undefined;
  try {
    const s25: McpHandle = await stdioClient(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "eras-stdio-2025") });
    closers.push(() => s25.close());
    await waitForTools(s25.client, (n) => n.includes(ECHO_TOOL));
    variants.push({ name: "stdio 2025-11-25 (v1 client)", call: () => callOk(s25.client, ECHO_TOOL, { text: "hi" }), pid: s25.pid });

    const s26Transport = new V2Stdio({
      command: process.execPath,
      args: [...serverNodeArgs(ctx, "eras-stdio-2026"), CLI],
      env: { ...process.env, NATS_URL: ctx.natsUrl, MESH_MCP_LOG_LEVEL: "warning" } as Record<string, string>,
      cwd: ROOT,
      stderr: "ignore",
    });
    const s26 = new V2Client({ name: "mesh-mcp-bench", version: "0.1.0" }, PIN);
    await s26.connect(s26Transport);
    closers.push(() => s26.close());
    await v2WaitForEcho(s26);
    variants.push({ name: "stdio 2026-07-28 (v2 client, pinned)", call: () => v2Echo(s26), pid: s26Transport.pid ?? undefined });

    const h = await tryStartHttp(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "eras-http") });
    if ("server" in h) {
      http = h.server;
      const h25 = await httpClient(http.url);
      closers.push(() => h25.close());
      await waitForTools(h25.client, (n) => n.includes(ECHO_TOOL));
      variants.push({ name: "HTTP 2025-11-25 (v1 client, session)", call: () => callOk(h25.client, ECHO_TOOL, { text: "hi" }), pid: http.pid });
      const h26 = new V2Client({ name: "mesh-mcp-bench", version: "0.1.0" }, PIN);
      await h26.connect(new V2Http(new URL(http.url)));
      closers.push(() => h26.close());
      await v2WaitForEcho(h26);
      variants.push({ name: "HTTP 2026-07-28 (v2 client, sessionless)", call: () => v2Echo(h26), pid: http.pid });
    } else {
      notes.push(h.skip);
    }
    notes.push(
      "Both HTTP rows are served by one mesh-mcp process: the revision is chosen per request. CPU per call is the server process's user+system time during that row's calls, divided by their number (10 ms tick resolution, summed over all rounds).",
      "The clients differ too (v1 SDK for 2025, v2 SDK for 2026): latency includes each client's own cost.",
    );

    for (const v of variants) for (let i = 0; i < warmup; i++) await v.call();
    const lat = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const cpu = new Map<string, number>(variants.map((v) => [v.name, 0]));
    const per = Math.ceil(total / rounds);
    for (let r = 0; r < rounds; r++) {
      for (const v of rotate(variants, r)) {
        const out = lat.get(v.name)!;
        const c0 = v.pid ? cpuMs(v.pid) : 0;
        for (let i = 0; i < per; i++) {
          const t0 = now();
          await v.call();
          out.push(now() - t0);
        }
        if (v.pid) cpu.set(v.name, cpu.get(v.name)! + cpuMs(v.pid) - c0);
      }
    }
    const calls = per * rounds;
    const rawP50 = percentile(lat.get(variants[0]!.name)!, 50);
    const figures: Record<string, { p50: number; p99: number; ratio: number; cpuMsPerCall?: number }> = {};
    const rows = variants.map((v) => {
      const l = lat.get(v.name)!;
      const p50 = percentile(l, 50);
      const p99 = percentile(l, 99);
      const cpuPer = v.pid ? cpu.get(v.name)! / calls : undefined;
      figures[v.name] = { p50, p99, ratio: ratio(p50, rawP50), cpuMsPerCall: cpuPer };
      return [v.name, fmt(p50, 3), fmt(p99, 3), fmtRatio(ratio(p50, rawP50)), cpuPer === undefined ? "–" : fmt(cpuPer, 3)];
    });
    const targets: TargetCheck[] = [];
    for (const wire of ["stdio", "HTTP"]) {
      const old = Object.entries(figures).find(([n]) => n.startsWith(`${wire} 2025`))?.[1];
      const cur = Object.entries(figures).find(([n]) => n.startsWith(`${wire} 2026`))?.[1];
      targets.push({
        name: `${wire}: 2026 call p50 / 2025 call p50`,
        target: "≤ 1.1× (no slower)",
        figure: old && cur ? fmtRatio(ratio(cur.p50, old.p50)) : "skipped",
        met: old && cur ? cur.p50 <= old.p50 * 1.1 : null,
      });
    }
    return {
      id: "eras",
      title: "8. Protocol revisions: 2025-11-25 beside 2026-07-28",
      tables: [{
        title: `${calls} sequential calls per variant, ${rounds} interleaved rounds (latency in ms, server CPU in ms per call)`,
        columns: ["Path", "p50 ms", "p99 ms", "p50 / raw", "server CPU ms/call"],
        rows,
      }],
      targets,
      notes,
      data: { callsPerVariant: calls, rounds, figures },
    };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    await http?.stop();
    await nc.close();
  }
}
