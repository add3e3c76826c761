/**
 * 6. Start-up: from spawning `node dist/cli.js` to the answer of `initialize`,
 * with a reachable NATS and with none (nothing listening on the port), beside
 * a bare `node -e ""` (spawn to exit: the floor of any Node process) and a bare
 * SDK stdio server (the floor of any server built on the MCP SDK). Runs
 * interleave; medians.
 */
import { spawn } from "node:child_process";
import { httpClient, stdioClient } from "../lib/clients.js";
import type { BenchContext } from "../lib/context.js";
import { join } from "node:path";
import { BENCH_DIR, freePort, procMemory, startHttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, median, now, rotate } from "../lib/stats.js";

function bareNode(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    p.once("error", reject);
    p.once("exit", () => resolve(now() - t0));
  });
}

async function stdioStart(natsUrl: string, script?: string): Promise<number> {
  const t0 = now();
  const h = await stdioClient(natsUrl, { script });
  const ms = now() - t0;
  await h.close();
  return ms;
}

export async function runStartup(ctx: BenchContext): Promise<SectionResult> {
  const reps = ctx.quick ? 3 : 9;
  const deadUrl = `nats://127.0.0.1:${await freePort()}`;
  const notes: string[] = [];
  const variants: Array<{ name: string; run(): Promise<number> }> = [
    { name: "bare `node -e \"\"` (spawn to exit)", run: bareNode },
    { name: "bare SDK stdio server (Server + StdioServerTransport, no tools)", run: () => stdioStart(ctx.natsUrl, join(BENCH_DIR, "children", "bare-sdk-server.mjs")) },
    { name: "mesh-mcp stdio, NATS reachable", run: () => stdioStart(ctx.natsUrl) },
    { name: "mesh-mcp stdio, NATS unreachable", run: () => stdioStart(deadUrl) },
  ];
  // HTTP: spawn to the answer of initialize (includes finding the port in the log).
  let httpOk = true;
  try {
    const s = await startHttpServer(ctx.natsUrl);
    await s.stop();
  } catch (err) {
    httpOk = false;
    notes.push(`HTTP start-up skipped: \`mesh-mcp --transport http\` did not start (${(err as Error).message.replace(/\s+/g, " ").slice(0, 200)})`);
  }
  if (httpOk) {
    variants.push({
      name: "mesh-mcp HTTP, NATS reachable",
      run: async () => {
        const t0 = now();
        const s = await startHttpServer(ctx.natsUrl);
        try {
          const c = await httpClient(s.url);
          const ms = now() - t0;
          await c.close();
          return ms;
        } finally {
          await s.stop();
        }
      },
    });
  }
  for (const v of variants) await v.run(); // warm the disk cache
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < reps; r++) for (const v of rotate(variants, r)) times.get(v.name)!.push(await v.run());
  const base = median(times.get(variants[0]!.name)!);
  const sdk = median(times.get(variants[1]!.name)!);
  const rows = variants.map((v, i) => {
    const t = times.get(v.name)!;
    return [v.name, fmt(median(t)), fmt(Math.min(...t)), fmt(Math.max(...t)), fmt(median(t) - base), i < 2 ? "" : fmt(median(t) - sdk)];
  });
  const targets: TargetCheck[] = [];
  for (const v of variants.filter((x) => x.name.startsWith("mesh-mcp"))) {
    const m = median(times.get(v.name)!);
    targets.push({ name: `start-up to initialize, ${v.name.replace("mesh-mcp ", "")}`, target: "< 250 ms", figure: `${fmt(m)} ms`, met: m < 250 });
  }
  // Issue 23: relative to the floor of any Node process in the same run, and the process at rest.
  const stdioMs = median(times.get(variants[2]!.name)!);
  targets.push({ name: "start-up to initialize, stdio / bare `node -e \"\"` (issue 23)", target: "≤ 2×", figure: `${fmt(stdioMs / base, 2)}×`, met: stdioMs / base <= 2 });
  const rest = await stdioClient(ctx.natsUrl);
  let restMb = Number.NaN;
  try {
    await rest.client.listTools();
    await new Promise((r) => setTimeout(r, 3000));
    restMb = procMemory(rest.pid!).rssKb / 1024;
  } finally {
    await rest.close();
  }
  targets.push({ name: "RSS at rest, stdio, after initialize + tools/list + 3 s (issue 23; empty catalog with --only startup)", target: "≤ 50 MB", figure: `${fmt(restMb)} MB`, met: restMb <= 50 });
  return {
    id: "startup",
    title: "6. Start-up (process spawn → initialize answered)",
    tables: [
      {
        title: `${reps} interleaved runs each (ms)`,
        columns: ["Process", "median", "min", "max", "median over bare node", "median over bare SDK server"],
        rows,
      },
    ],
    targets,
    notes,
    data: { times: Object.fromEntries(times), restMb },
  };
}
