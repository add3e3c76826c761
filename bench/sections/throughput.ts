/**
 * 2. Throughput: 1, 16 and 64 concurrent callers of `bench.echo` for a fixed
 * window each, raw NATS beside MCP over HTTP (one client and session per caller),
 * and for reference stdio and in-process (one session, concurrent requests).
 * Windows of all variants alternate (rotating order) round by round; the figure
 * is the median calls/s over the rounds.
 */
import { connect } from "@nats-io/transport-node";
import { callOk, httpClient, inProcClient, stdioClient, waitForTools, type McpHandle } from "../lib/clients.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { tryStartHttp, type HttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, median, now, ratio, rotate } from "../lib/stats.js";
import { ECHO_TOOL, rawEcho } from "./call.js";

interface TpVariant {
  name: string;
  /** The call made by caller number `i`. */
  call(i: number): Promise<void>;
}

/** Runs `callers` loops for `ms`; returns calls per second. */
async function window(v: TpVariant, callers: number, ms: number): Promise<number> {
  let done = 0;
  const t0 = now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: callers }, async (_, i) => {
      while (now() < end) {
        await v.call(i);
        done++;
      }
    }),
  );
  return done / ((now() - t0) / 1000);
}

export async function runThroughput(ctx: BenchContext): Promise<SectionResult> {
  const levels = [1, 16, 64];
  const rounds = ctx.quick ? 1 : 3;
  const windowMs = ctx.quick ? 300 : 1500;
  const notes: string[] = [];
  const nc = await connect({ servers: ctx.natsUrl });
  const inproc = await inProcClient(ctx.natsUrl);
  const stdio = await stdioClient(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "throughput-stdio") });
  const handles: McpHandle[] = [inproc, stdio];
  let http: HttpServer | undefined;
  const httpClients: McpHandle[] = [];
  const variants: TpVariant[] = [
    { name: "raw NATS", call: () => rawEcho(nc) },
    { name: "MCP in-process (1 session)", call: () => callOk(inproc.client, ECHO_TOOL, { text: "hi" }) },
    { name: "MCP stdio (1 session)", call: () => callOk(stdio.client, ECHO_TOOL, { text: "hi" }) },
  ];
  const h = await tryStartHttp(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "throughput-http") });
  if ("server" in h) {
    http = h.server;
    const url = http.url;
    for (let i = 0; i < Math.max(...levels); i++) httpClients.push(await httpClient(url));
    variants.push({ name: "MCP HTTP (1 session per caller)", call: (i) => callOk(httpClients[i]!.client, ECHO_TOOL, { text: "hi" }) });
  } else {
    notes.push(h.skip);
  }
  try {
    for (const hnd of [...handles, ...httpClients]) await waitForTools(hnd.client, (n) => n.includes(ECHO_TOOL));
    for (const v of variants) await window(v, 16, ctx.quick ? 100 : 500); // warm-up
    const figures: Record<string, Record<number, number>> = {};
    for (const v of variants) figures[v.name] = {};
    for (const c of levels) {
      const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      for (let r = 0; r < rounds; r++) {
        for (const v of rotate(variants, r + c)) samples.get(v.name)!.push(await window(v, c, windowMs));
      }
      for (const v of variants) figures[v.name]![c] = median(samples.get(v.name)!);
      ctx.log(`  ${c} callers: ${variants.map((v) => `${v.name} ${fmt(figures[v.name]![c]!)}`).join(", ")}`);
    }
    const raw = figures["raw NATS"]!;
    const rows = variants.map((v) => [
      v.name,
      ...levels.flatMap((c) => [fmt(figures[v.name]![c]!), fmtRatio(ratio(figures[v.name]![c]!, raw[c]!))]),
    ]);
    const httpAt64 = figures["MCP HTTP (1 session per caller)"]?.[64];
    const targets: TargetCheck[] = [
      {
        name: "HTTP calls/s at 64 callers / raw NATS",
        target: "≥ 0.5×",
        figure: httpAt64 !== undefined ? fmtRatio(ratio(httpAt64, raw[64]!)) : "skipped",
        met: httpAt64 !== undefined ? ratio(httpAt64, raw[64]!) >= 0.5 : null,
      },
    ];
    return {
      id: "throughput",
      title: "2. Throughput (concurrent callers of a trivial method)",
      tables: [
        {
          title: `calls/s, median of ${rounds} interleaved ${windowMs} ms windows; ratio to raw NATS at the same concurrency`,
          columns: ["Path", ...levels.flatMap((c) => [`${c} callers`, "/ raw"])],
          rows,
        },
      ],
      targets,
      notes,
      data: { figures, rounds, windowMs },
    };
  } finally {
    for (const hnd of [...handles, ...httpClients]) await hnd.close();
    await http?.stop();
    await nc.close();
  }
}
