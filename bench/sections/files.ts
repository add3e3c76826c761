/**
 * 5. Files: resources/read of 1, 10 and 50 MB objects through a mesh-mcp stdio
 * server process, once with the file store on the JetStream Object Store and once
 * on the `files.*` request/reply path (served by the bench node). Beside them the
 * same reads with the mesh library directly (no MCP). MB/s (median), and the
 * server process's peak RSS growth over its RSS before the reads (/proc VmHWM).
 */
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { FileStore, Mesh } from "../../src/mesh/index.js";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { BENCH_DIR, BENCH_MAX_PAYLOAD, ROOT, procMemory, startHttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { MB, fmt, fmtRatio, median, now, ratio, rotate } from "../lib/stats.js";
import { LineStdioClientTransport } from "../lib/stdio-transport.js";
import { join } from "node:path";

/** nats.js refuses (and drops the connection on) any message over 64 MiB, whatever the server's max_payload. */
const NATS_JS_MAX_MESSAGE = 64 * MB;

interface FileServer {
  client: Client;
  pid: number;
  close(): Promise<void>;
}

async function startFileServer(ctx: BenchContext, mode: "auto" | "nats", tag: string): Promise<FileServer> {
  const transport = new LineStdioClientTransport({
    command: process.execPath,
    args: [...serverNodeArgs(ctx, tag), "--import", "tsx", join(BENCH_DIR, "children", "server.ts"), "--nats", ctx.natsUrl, "--files-mode", mode, "--resource-max", String(64 * MB)],
    cwd: ROOT,
  });
  const client = new Client({ name: "mesh-mcp-bench", version: "0.1.0" }, { capabilities: {} });
  await client.connect(transport);
  await client.listTools(); // waits until the bridge has its mesh and catalog
  return { client, pid: transport.pid!, close: () => client.close() };
}

/**
 * One resources/read over HTTP (a fresh --stateless server per size, so its peak is this
 * read's): the server's peak RSS growth and the read's MB/s. The body is streamed and
 * counted, never kept whole here.
 */
async function httpReadPeak(ctx: BenchContext, warmUri: string, uri: string, b64: number, mb: number): Promise<{ before: number; peak: number; ms: number }> {
  const srv = await startHttpServer(ctx.natsUrl, { nodeArgs: serverNodeArgs(ctx, `files-http-${mb}`), extraArgs: ["--stateless", "--resource-max", String(64 * MB)] });
  const read = async (u: string): Promise<number> => {
    const r = await fetch(srv.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: u } }),
    });
    let n = 0;
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    if (r.status !== 200) throw new Error(`${u}: HTTP ${r.status}`);
    return n;
  };
  try {
    // The first read may wait for the catalog and the file store; a small one warms the server.
    for (let i = 0; ; i++) {
      try {
        await read(warmUri);
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const before = procMemory(srv.pid).rssKb / 1024;
    const t0 = now();
    const n = await read(uri);
    const ms = now() - t0;
    if (n < b64) throw new Error(`${uri} over HTTP: ${n} bytes, want at least ${b64}`);
    return { before, peak: procMemory(srv.pid).hwmKb / 1024, ms };
  } finally {
    await srv.stop();
  }
}

export async function runFiles(ctx: BenchContext): Promise<SectionResult> {
  const sizes = ctx.quick ? [1] : [1, 10, 50];
  const readsFor = (mb: number) => (ctx.quick ? 3 : mb >= 50 ? 3 : mb >= 10 ? 5 : 9);
  const mesh = await Mesh.connect({ servers: ctx.natsUrl });
  const natsStore = new FileStore(mesh.nc, { mode: "nats", requestTimeoutMs: 120_000 });
  const rows: string[][] = [];
  const memRows: string[][] = [];
  const targets: TargetCheck[] = [];
  const data: Record<string, unknown> = {};
  const notes = [
    `The bench nats-server runs with \`max_payload: ${BENCH_MAX_PAYLOAD}\`: files.* carries the whole object base64-encoded in one message, so with the default 1 MiB payload limit it cannot move objects over ~750 KB at all.`,
    "mesh-mcp's default --resource-max is 25 MB; the server here allows 64 MB so that the 50 MB object can be read.",
    "Over stdio the client reads with a linear line splitter (bench/lib/stdio-transport.ts): the SDK's StdioClientTransport re-concatenates its buffer for every 64 KB pipe chunk (quadratic) and would dominate the 50 MB figures.",
  ];
  const fitsNats = (mb: number) => Math.ceil((mb * MB) / 3) * 4 + 1024 <= NATS_JS_MAX_MESSAGE;
  /** Each path's memory target is checked at the largest size it can carry. */
  const largest = { os: Math.max(...sizes), nats: Math.max(...sizes.filter(fitsNats)) };
  try {
    const keys = new Map<number, string>();
    const warmKey = "bench/file-warm-64KB.bin";
    await mesh.files.put(warmKey, new Uint8Array(randomBytes(64 * 1024)), "application/octet-stream");
    for (const mb of sizes) {
      const key = `bench/file-${mb}MB.bin`;
      await mesh.files.put(key, new Uint8Array(randomBytes(mb * MB)), "application/octet-stream");
      keys.set(mb, key);
    }
    for (const mb of sizes) {
      const key = keys.get(mb)!;
      const uri = `mesh://files/${key}`;
      const bytes = mb * MB;
      const b64 = Math.ceil(bytes / 3) * 4;
      // files.* carries the object base64-encoded in one JSON reply.
      const natsFits = fitsNats(mb);
      if (!natsFits) {
        notes.push(`files.* at ${mb} MB not measured: its one reply would be ~${fmt(b64 / MB)} MB, over nats.js's hard 64 MiB message limit (the client drops the connection on such a message, whatever the server's max_payload): files.* cannot carry objects over ~47 MB.`);
      }
      // Fresh server processes per size, so each peak belongs to this size.
      const os = await startFileServer(ctx, "auto", `files-os-${mb}`);
      const viaNats = natsFits ? await startFileServer(ctx, "nats", `files-nats-${mb}`) : undefined;
      // One small read first, so "before" is a warm server (code paths loaded and compiled).
      for (const srv of [os, viaNats]) await srv?.client.readResource({ uri: `mesh://files/${warmKey}` });
      const before = { os: procMemory(os.pid), nats: viaNats ? procMemory(viaNats.pid) : undefined };
      const mcpRead = (s: FileServer) => async () => {
        const r = await s.client.readResource({ uri }, { timeout: 300_000 });
        const c = r.contents[0] as { blob?: string } | undefined;
        if (c?.blob?.length !== b64) throw new Error(`${uri}: got ${c?.blob?.length ?? "no"} base64 chars, want ${b64}`);
      };
      const rawRead = (store: FileStore) => async () => {
        const { data: d } = await store.getBytes(key);
        if (d.length !== bytes) throw new Error(`${key}: got ${d.length} bytes`);
      };
      const variants = [
        { name: "mesh library, Object Store", read: rawRead(mesh.files) },
        { name: "MCP resources/read, Object Store", read: mcpRead(os) },
        ...(viaNats
          ? [
              { name: "mesh library, files.*", read: rawRead(natsStore) },
              { name: "MCP resources/read, files.*", read: mcpRead(viaNats) },
            ]
          : []),
      ];
      const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      try {
        // The memory figure: peak while serving one read of this size (each server's first).
        // Later reads only add garbage awaiting collection, which says more about V8's GC pace.
        await mcpRead(os)();
        if (viaNats) await mcpRead(viaNats)();
        const after = { os: procMemory(os.pid), nats: viaNats ? procMemory(viaNats.pid) : undefined };
        for (const v of variants) await v.read(); // warm-up
        for (let r = 0; r < readsFor(mb); r++) {
          for (const v of rotate(variants, r)) {
            const t0 = now();
            await v.read();
            times.get(v.name)!.push(now() - t0);
          }
        }
        const afterAll = { os: procMemory(os.pid), nats: viaNats ? procMemory(viaNats.pid) : undefined };
        const rawOs = bytes / MB / (median(times.get(variants[0]!.name)!) / 1000);
        const fig: Record<string, number> = {};
        for (const v of variants) {
          const rate = bytes / MB / (median(times.get(v.name)!) / 1000);
          fig[v.name] = rate;
          rows.push([`${mb} MB`, v.name, fmt(median(times.get(v.name)!)), fmt(rate), fmtRatio(ratio(rate, rawOs))]);
        }
        for (const k of ["os", "nats"] as const) {
          const b = before[k];
          const a = after[k];
          if (!a || !b) continue;
          const g = (a.hwmKb - b.rssKb) / 1024;
          memRows.push([`${mb} MB`, k === "os" ? "Object Store" : "files.*", fmt(b.rssKb / 1024), fmt(a.hwmKb / 1024), fmt(g), fmtRatio(g / mb), fmt(afterAll[k]!.hwmKb / 1024)]);
          if (mb === largest[k]) {
            targets.push({
              name: `server peak RSS growth reading ${mb} MB, ${k === "os" ? "Object Store" : "files.*"}`,
              target: "< 3× file size",
              figure: `${fmt(g)} MB = ${fmtRatio(g / mb)}`,
              met: g < 3 * mb,
            });
          }
        }
        // The same read over HTTP (2025, --stateless): the answer is written as its base64 is encoded.
        const h = await httpReadPeak(ctx, `mesh://files/${warmKey}`, uri, b64, mb);
        const hg = h.peak - h.before;
        memRows.push([`${mb} MB`, "Object Store, over HTTP", fmt(h.before), fmt(h.peak), fmt(hg), fmtRatio(hg / mb), `(${fmt(bytes / MB / (h.ms / 1000))} MB/s)`]);
        if (mb === largest.os) {
          targets.push({ name: `server peak RSS growth reading ${mb} MB over HTTP (issue 23)`, target: "≤ 1.5× file size", figure: `${fmt(hg)} MB = ${fmtRatio(hg / mb)}`, met: hg <= 1.5 * mb });
        }
        data[mb] = { times: Object.fromEntries(times), mbPerSec: fig, before, afterOneRead: after, afterAllReads: afterAll, http: h };
      } finally {
        await os.close();
        await viaNats?.close();
      }
      ctx.log(`  ${mb} MB done`);
    }
    for (const key of [warmKey, ...keys.values()]) await mesh.files.delete(key).catch(() => {});
    return {
      id: "files",
      title: "5. Files (resources/read of file-store objects)",
      tables: [
        {
          title: "median time per read and MB/s; ratio to the mesh library reading the Object Store directly",
          columns: ["Size", "Path", "ms", "MB/s", "/ library OS"],
          rows,
        },
        {
          title: "mesh-mcp server process memory (MB), a fresh process per size: RSS when warm (after one 64 KB read), peak (VmHWM) while serving one read of the size, growth; last column: peak after all the timed reads too",
          columns: ["Size", "Store path", "RSS before", "peak RSS", "peak growth", "growth / size", "peak after all reads"],
          rows: memRows,
        },
      ],
      targets,
      notes,
      data,
    };
  } finally {
    await mesh.close();
  }
}
