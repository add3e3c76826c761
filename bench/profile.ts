/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by package/area and the
 * top functions by self and by inclusive time.
 *
 *   node --import tsx bench/profile.ts bench/profiles/call-stdio/*.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which part of the stack a frame belongs to. */
export function areaOf(url: string, fn: string): string {
  if (fn === "(idle)") return "(idle)";
  if (fn === "(garbage collector)") return "(gc)";
  if (fn === "(program)") return "(program: native, outside JS)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (/\/src\/mcp\//.test(url)) return "mesh-mcp src/mcp";
  if (/\/src\/mesh\//.test(url)) return "mesh-mcp src/mesh";
  if (/\/src\/transports\//.test(url)) return "mesh-mcp src/transports";
  if (/\/(src|dist)\//.test(url)) return "mesh-mcp other";
  if (url.startsWith("node:") || url === "" || !url.includes("/")) return "node core / builtins";
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  byArea: Array<{ area: string; ms: number; pct: number }>;
  topSelf: Array<{ fn: string; ms: number; pct: number }>;
  topInclusive: Array<{ fn: string; ms: number; pct: number }>;
}

export function summarise(profile: CpuProfile, top = 25, busyOnly = true): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/)/, "$1").replace(/^file:\/\/.*\/(src|dist|bench)\//, "$1/");
    return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    if (!node) continue;
    if (busyOnly && node.callFrame.functionName === "(idle)") continue;
    total += dt;
    const key = label(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const a = areaOf(node.callFrame.url, node.callFrame.functionName);
    area.set(a, (area.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const k = label(n);
      if (seen.has(k) || n.callFrame.functionName === "(root)") continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    byArea: sorted(area).map(([a, ms]) => ({ area: a, ms, pct: (100 * ms) / total })),
    topSelf: sorted(self).slice(0, top).map(([fn, ms]) => ({ fn, ms, pct: (100 * ms) / total })),
    topInclusive: sorted(incl).slice(0, top).map(([fn, ms]) => ({ fn, ms, pct: (100 * ms) / total })),
  };
}

function main(): void {
  process.stdout.on("error", () => process.exit(0)); // e.g. piped into head
  const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "25" } }, allowPositionals: true });
  for (const file of positionals) {
    const s = summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(values.top));
    const p = (rows: Array<{ ms: number; pct: number }>, name: (r: never) => string) =>
      rows.map((r) => `  ${r.ms.toFixed(0).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)}%  ${name(r as never)}`).join("\n");
    process.stdout.write(`\n${file}: ${s.totalMs.toFixed(0)} ms on CPU (idle excluded)\n`);
    process.stdout.write(`by area (self time):\n${p(s.byArea, (r: { area: string }) => r.area)}\n`);
    process.stdout.write(`top self:\n${p(s.topSelf, (r: { fn: string }) => r.fn)}\n`);
    process.stdout.write(`top inclusive:\n${p(s.topInclusive, (r: { fn: string }) => r.fn)}\n`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, "/"))) main();
