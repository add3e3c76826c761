/**
 * 1. Call overhead: N sequential calls of a trivial method (`bench.echo`), raw NATS
 * request/reply beside MCP tools/call in-process, over stdio and over HTTP. The
 * variants run in interleaved rounds (the order rotates each round) so machine drift
 * hits all of them; p50/p99 over all rounds, ratio of each p50 to raw NATS p50.
 */
import { connect, nuid, type NatsConnection } from "@nats-io/transport-node";
import { callOk, httpClient, inProcClient, stdioClient, waitForTools, type McpHandle } from "../lib/clients.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { tryStartHttp, type HttpServer } from "../lib/procs.js";
import { httpRelay, stdioRelay, type Relay } from "../lib/relay.js";
import { lineWaitForTool, stdioLine, type StdioLine } from "../lib/stdio-line.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, now, percentile, ratio, rotate } from "../lib/stats.js";

export const ECHO_TOOL = "bench__echo";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One raw jb-mesh call the way a Go caller makes it: nc.request with a CallRequest body. */
export async function rawEcho(nc: NatsConnection): Promise<void> {
  const body = encoder.encode(JSON.stringify({ params: { text: "hi" }, call_id: nuid.next() }));
  const msg = await nc.request("tools.bench.echo", body, { timeout: 10_000 });
  const reply = JSON.parse(decoder.decode(msg.data)) as { ok: boolean };
  if (!reply.ok) throw new Error(`raw echo failed: ${decoder.decode(msg.data)}`);
}

export interface Variant {
  name: string;
  call(): Promise<void>;
}

/** A CallRequest body for the relays (the same request raw NATS sends). */
function relayCall(relay: Relay): () => Promise<void> {
  return async () => {
    const reply = await relay.call(JSON.stringify({ params: { text: "hi" }, call_id: nuid.next() }));
    if (!(JSON.parse(reply) as { ok: boolean }).ok) throw new Error(`relay call failed: ${reply}`);
  };
}

/** stdio rows whose client is a plain JSON-RPC line writer (bench/lib/stdio-line.ts): the server's cost alone. */
const LINE_2025 = "MCP stdio 2025-11-25, line client";
const LINE_2026 = "MCP stdio 2026-07-28, line client";

/** Rows that are floors (no MCP at all), shown under the MCP paths. */
const FLOOR_PREFIX = "floor: ";

export async function runCallOverhead(ctx: BenchContext): Promise<SectionResult> {
  const total = ctx.quick ? 200 : 3000;
  const rounds = ctx.quick ? 4 : 15;
  const warmup = ctx.quick ? 30 : 300;
  const notes: string[] = [];

  const nc = await connect({ servers: ctx.natsUrl });
  const inproc = await inProcClient(ctx.natsUrl);
  const stdio = await stdioClient(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "call-stdio") });
  const handles: McpHandle[] = [inproc, stdio];
  const relays: Relay[] = [await stdioRelay(ctx.natsUrl, serverNodeArgs(ctx, "call-relay-stdio")), await httpRelay(ctx.natsUrl, serverNodeArgs(ctx, "call-relay-http"))];
  const lines: StdioLine[] = [
    await stdioLine(ctx.natsUrl, "2025-11-25", { nodeArgs: serverNodeArgs(ctx, "call-stdio-line-2025") }),
    await stdioLine(ctx.natsUrl, "2026-07-28", { nodeArgs: serverNodeArgs(ctx, "call-stdio-line-2026") }),
  ];
  let http: HttpServer | undefined;
  const variants: Variant[] = [
    { name: "raw NATS request/reply", call: () => rawEcho(nc) },
    { name: "MCP in-process", call: () => callOk(inproc.client, ECHO_TOOL, { text: "hi" }) },
    { name: "MCP stdio", call: () => callOk(stdio.client, ECHO_TOOL, { text: "hi" }) },
    { name: LINE_2025, call: () => lines[0]!.call(ECHO_TOOL, { text: "hi" }).then(() => {}) },
    { name: LINE_2026, call: () => lines[1]!.call(ECHO_TOOL, { text: "hi" }).then(() => {}) },
  ];
  const h = await tryStartHttp(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, "call-http") });
  if ("server" in h) {
    http = h.server;
    const hc = await httpClient(http.url);
    handles.push(hc);
    variants.push({ name: "MCP Streamable HTTP", call: () => callOk(hc.client, ECHO_TOOL, { text: "hi" }) });
  } else {
    notes.push(h.skip);
  }
  variants.push(
    { name: `${FLOOR_PREFIX}stdio relay process (line in → nc.request → line out)`, call: relayCall(relays[0]!) },
    { name: `${FLOOR_PREFIX}HTTP relay process (POST → nc.request → body)`, call: relayCall(relays[1]!) },
  );
  notes.push(
    "The floor rows put one plain Node process between caller and NATS (bench/children/relay.ts: no MCP, no JSON-RPC, no SDK, no validation): the cost of the extra process hop itself, which any stdio or HTTP bridge pays.",
    "The line-client rows call a mesh-mcp stdio process with plain JSON-RPC lines and JSON.parse (bench/lib/stdio-line.ts), like the relay floor's caller: the server's cost alone. The \"MCP stdio\" row uses the SDK's v1 Client, whose own parsing and validation are part of its figure.",
  );
  try {
    for (const hnd of handles) await waitForTools(hnd.client, (n) => n.includes(ECHO_TOOL));
    for (const l of lines) await lineWaitForTool(l, ECHO_TOOL);
    for (const v of variants) for (let i = 0; i < warmup; i++) await v.call();

    const lat = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const per = Math.ceil(total / rounds);
    for (let r = 0; r < rounds; r++) {
      for (const v of rotate(variants, r)) {
        const out = lat.get(v.name)!;
        for (let i = 0; i < per; i++) {
          const t0 = now();
          await v.call();
          out.push(now() - t0);
        }
      }
    }
    const rawP50 = percentile(lat.get(variants[0]!.name)!, 50);
    const rows: string[][] = [];
    const data: Record<string, unknown> = { callsPerVariant: per * rounds, rounds };
    const figures: Record<string, { p50: number; p99: number; ratio: number }> = {};
    for (const v of variants) {
      const l = lat.get(v.name)!;
      const p50 = percentile(l, 50);
      const p99 = percentile(l, 99);
      figures[v.name] = { p50, p99, ratio: ratio(p50, rawP50) };
      rows.push([v.name, fmt(p50, 3), fmt(p99, 3), fmtRatio(ratio(p50, rawP50)), fmtRatio(ratio(p99, percentile(lat.get(variants[0]!.name)!, 99)))]);
    }
    data.figures = figures;
    const targets: TargetCheck[] = [];
    // Issue 13: the server's own cost, so the line-client rows (the SDK client's own CPU is
    // in the "MCP stdio" row, as the SDK clients' is in the HTTP rows).
    for (const row of [LINE_2025, LINE_2026]) {
      const r = figures[row]!.ratio;
      targets.push({ name: `stdio call p50 / raw NATS p50 (${row.replace("MCP stdio ", "")})`, target: "≤ 1.5×", figure: fmtRatio(r), met: r <= 1.5 });
    }
    const httpF = figures["MCP Streamable HTTP"];
    targets.push({
      name: "HTTP call p50 / raw NATS p50",
      target: "≤ 2.5×",
      figure: httpF ? fmtRatio(httpF.ratio) : "skipped",
      met: httpF ? httpF.ratio <= 2.5 : null,
    });
    return {
      id: "call",
      title: "1. Call overhead (sequential calls of a trivial method)",
      tables: [
        {
          title: `${per * rounds} sequential calls per variant, ${rounds} interleaved rounds (latency in ms)`,
          columns: ["Path", "p50 ms", "p99 ms", "p50 / raw", "p99 / raw"],
          rows,
        },
      ],
      targets,
      notes,
      data,
    };
  } finally {
    for (const hnd of handles) await hnd.close();
    for (const r of relays) await r.close();
    for (const l of lines) await l.close();
    await http?.stop();
    await nc.close();
  }
}
