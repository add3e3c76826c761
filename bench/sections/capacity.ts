/**
 * 8. HTTP capacity, measured by a load generator that is not the bottleneck: `wrk`
 * (one thread, C code, a few µs of CPU per request) POSTs `tools/call bench__echo`
 * to one mesh-mcp process in both revisions (2025-11-25 on one session; 2026-07-28
 * sessionless with its headers and `_meta` envelope), and the same echo to the plain
 * HTTP→NATS relay (bench/children/relay.ts: the floor any HTTP bridge pays). Variants
 * and connection counts are interleaved round by round in one run. Server CPU per
 * call comes from /proc/<pid>/stat around each wrk run. mesh-mcp runs with a bearer
 * token and its default Host/Origin checks: nothing is switched off for the bench.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { startTsChild, tryStartHttp, type Child, type HttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, ratio, rotate } from "../lib/stats.js";
import { ECHO_TOOL } from "./call.js";

const TOKEN = "bench-capacity-token";
const V26 = "2026-07-28";
const V25 = "2025-11-25";

/** User + system CPU of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, in clock ticks). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** wrk on PATH, or installed with apt-get when we are root; otherwise why not. */
export function ensureWrk(log: (m: string) => void): string | undefined {
  const has = () => spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
  if (has()) return undefined;
  if (process.getuid?.() !== 0) return "HTTP capacity skipped: `wrk` is not installed and the bench is not root (install it: `sudo apt-get install wrk`).";
  log("installing wrk (apt-get install -y wrk)…");
  const r = spawnSync("sh", ["-c", "apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1)"], { stdio: "ignore" });
  return r.status === 0 && has() ? undefined : "HTTP capacity skipped: `apt-get install -y wrk` failed (install wrk by hand and rerun).";
}

/**
 * The wrk script: a unique JSON-RPC id / call_id per request (the node keys calls by
 * call_id), and counting answers that are not a successful call, so a fast error
 * can never pass for throughput.
 */
export function luaScript(kind: "relay" | "mcp", headers: Record<string, string>, bodyHead: string, bodyTail: string): string {
  const hdr = Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join("\n");
  const okTest = kind === "relay" ? `string.find(body, '"ok":true', 1, true)` : `string.find(body, '"result":', 1, true) and not string.find(body, '"isError":true', 1, true)`;
  return `wrk.method = "POST"
${hdr}
local n = 0
local bad = 0
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, ${JSON.stringify(bodyHead)} .. n .. ${JSON.stringify(bodyTail)})
end
function response(status, headers, body)
  if status ~= 200 or not (${okTest}) then
    bad = bad + 1
    if bad == 1 then io.stderr:write("first bad answer: " .. status .. " " .. string.sub(body, 1, 300) .. "\\n") end
  end
end
function done(summary, latency, requests)
  io.write(string.format("BAD %d\\n", bad))
end
`;
}

export interface WrkRun {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  bad: number;
}

/** Parses `wrk --latency` output (latencies to ms). */
export function parseWrk(out: string): WrkRun {
  const ms = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 1);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? ms(m[1]!, m[2]!) : Number.NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // The script counts non-200 answers too; wrk's own count is the fallback if the script said nothing.
  const bad = Number(/^BAD (\d+)$/m.exec(out)?.[1] ?? non2xx);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN), p50: pct("50"), p99: pct("99"), requests, bad };
}

interface Target {
  name: string;
  url: string;
  script: string;
  pid: number;
}

/** Opens a 2025 session by hand (initialize + initialized), waits until the echo tool answers, and returns its id. */
export async function openSession(url: string, token = TOKEN): Promise<string> {
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}` };
  const init = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: V25, capabilities: {}, clientInfo: { name: "wrk", version: "1" } } }),
  });
  const sid = init.headers.get("mcp-session-id");
  await init.text();
  if (!init.ok || !sid) throw new Error(`initialize failed: HTTP ${init.status}`);
  const h = { ...headers, "mcp-session-id": sid, "mcp-protocol-version": V25 };
  const r = await fetch(url, { method: "POST", headers: h, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  await r.text();
  // Wait until the echo tool is callable (the catalog may still be filling).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = await fetch(url, { method: "POST", headers: h, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: ECHO_TOOL, arguments: { text: "hi" } } }) });
    const text = await c.text();
    if (text.includes('"result":') && !text.includes('"isError":true')) return sid;
    if (Date.now() > deadline) throw new Error(`${ECHO_TOOL} not callable over HTTP within 15 s (last answer: HTTP ${c.status} ${text.slice(0, 300)})`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function runCapacity(ctx: BenchContext): Promise<SectionResult> {
  const notes: string[] = [];
  const skip = ensureWrk(ctx.log);
  if (skip) return { id: "capacity", title: "9. HTTP capacity (wrk)", tables: [], targets: [], notes: [skip], data: { skipped: skip } };
  const seconds = ctx.quick ? 2 : 4;
  const rounds = ctx.quick ? 1 : 3;
  const conns = [1, 16, 64];
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-wrk-"));
  let http: HttpServer | undefined;
  let stateless: HttpServer | undefined;
  let statelessB: HttpServer | undefined;
  let relay: Child | undefined;
  try {
    relay = await startTsChild("children/relay.ts", ["--nats", ctx.natsUrl, "--http"]);
    if (!relay.readyInfo) throw new Error("the HTTP relay printed no URL");
    const h = await tryStartHttp(ctx.natsUrl, {
      nodeArgs: serverNodeArgs(ctx, "capacity-http"),
      // 64 connections on one 2025 session: the per-session cap must allow them.
      extraArgs: ["--auth-token", TOKEN, "--max-inflight", "128"],
    });
    if (!("server" in h)) return { id: "capacity", title: "9. HTTP capacity (wrk)", tables: [], targets: [], notes: [h.skip], data: { skipped: h.skip } };
    http = h.server;
    // The scale-out mode: no sessions, a 2025 request answered on its own.
    const hs = await tryStartHttp(ctx.natsUrl, {
      nodeArgs: serverNodeArgs(ctx, "capacity-http-stateless"),
      extraArgs: ["--auth-token", TOKEN, "--max-inflight", "128", "--stateless"],
    });
    if ("server" in hs) stateless = hs.server;
    else notes.push(hs.skip);
    // MESH_MCP_BENCH_CLI_B=…/dist/cli.js: the same --stateless target on another build, interleaved (an A/B in one run).
    const buildB = process.env.MESH_MCP_BENCH_CLI_B;
    if (buildB) {
      const hb = await tryStartHttp(ctx.natsUrl, { cli: buildB, extraArgs: ["--auth-token", TOKEN, "--max-inflight", "128", "--stateless"] });
      if ("server" in hb) statelessB = hb.server;
      else notes.push(hb.skip);
    }
    const sid = await openSession(http.url);
    const common = { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${TOKEN}` };
    const args = `"arguments":{"text":"hi"}`;
    const targets: Target[] = [
      {
        name: "relay floor (POST → nc.request)",
        url: relay.readyInfo,
        script: luaScript("relay", { "Content-Type": "application/json" }, `{"params":{"text":"hi"},"call_id":"wrk`, `"}`),
        pid: relay.pid,
      },
      {
        name: "mesh-mcp 2025-11-25 (session)",
        url: http.url,
        script: luaScript("mcp", { ...common, "Mcp-Session-Id": sid, "MCP-Protocol-Version": V25 }, `{"jsonrpc":"2.0","id":`, `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args}}}`),
        pid: http.pid,
      },
      {
        name: "mesh-mcp 2026-07-28 (sessionless)",
        url: http.url,
        script: luaScript("mcp", { ...common, "MCP-Protocol-Version": V26, "Mcp-Method": "tools/call", "Mcp-Name": ECHO_TOOL }, `{"jsonrpc":"2.0","id":`,
          `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args},"_meta":{"io.modelcontextprotocol/protocolVersion":"${V26}","io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`),
        pid: http.pid,
      },
    ];
    if (stateless) {
      targets.splice(2, 0, {
        name: "mesh-mcp 2025-11-25 (--stateless)",
        url: stateless.url,
        script: luaScript("mcp", { ...common, "MCP-Protocol-Version": V25 }, `{"jsonrpc":"2.0","id":`, `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args}}}`),
        pid: stateless.pid,
      });
    }
    if (statelessB) {
      targets.splice(3, 0, {
        name: "mesh-mcp 2025-11-25 (--stateless), build B",
        url: statelessB.url,
        script: luaScript("mcp", { ...common, "MCP-Protocol-Version": V25 }, `{"jsonrpc":"2.0","id":`, `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args}}}`),
        pid: statelessB.pid,
      });
    }
    targets.forEach((t, i) => writeFileSync(join(dir, `t${i}.lua`), t.script));
    const wrk = (t: Target, c: number, secs: number): WrkRun => {
      const i = targets.indexOf(t);
      const out = execFileSync("wrk", ["-t1", `-c${c}`, `-d${secs}s`, "--latency", "--timeout", "10s", "-s", join(dir, `t${i}.lua`), t.url], { encoding: "utf8" });
      return parseWrk(out);
    };
    for (const t of targets) wrk(t, 16, 1); // warm-up (JIT, pools)
    const runs = new Map<string, WrkRun[]>();
    const cpu = new Map<string, number>();
    for (let r = 0; r < rounds; r++) {
      for (const c of conns) {
        for (const t of rotate(targets, r + c)) {
          const key = `${t.name}|${c}`;
          const c0 = cpuMs(t.pid);
          const w = wrk(t, c, seconds);
          cpu.set(key, (cpu.get(key) ?? 0) + cpuMs(t.pid) - c0);
          runs.set(key, [...(runs.get(key) ?? []), w]);
        }
      }
    }
    // Per cell: total requests / total time for throughput, the median round for latency.
    const figures: Record<string, { rps: number; p50: number; p99: number; cpuMsPerCall: number; bad: number }> = {};
    const rows: string[][] = [];
    for (const c of conns) {
      const floor = runs.get(`${targets[0]!.name}|${c}`)!;
      const floorRps = floor.reduce((a, w) => a + w.rps, 0) / floor.length;
      const floorP50 = median(floor.map((w) => w.p50));
      for (const t of targets) {
        const ws = runs.get(`${t.name}|${c}`)!;
        const rps = ws.reduce((a, w) => a + w.rps, 0) / ws.length;
        const reqs = ws.reduce((a, w) => a + w.requests, 0);
        const bad = ws.reduce((a, w) => a + w.bad, 0);
        const f = { rps, p50: median(ws.map((w) => w.p50)), p99: median(ws.map((w) => w.p99)), cpuMsPerCall: cpu.get(`${t.name}|${c}`)! / reqs, bad };
        figures[`${t.name}|${c}`] = f;
        rows.push([String(c), t.name, fmt(rps, 0), fmtRatio(ratio(rps, floorRps)), fmt(f.p50, 3), fmtRatio(ratio(f.p50, floorP50)), fmt(f.p99, 3), fmt(f.cpuMsPerCall, 3), String(bad)]);
      }
    }
    const checks: TargetCheck[] = [];
    const fig = (t: Target, c: number) => figures[`${t.name}|${c}`]!;
    for (const t of targets.slice(1)) {
      const rt = ratio(fig(t, 64).rps, fig(targets[0]!, 64).rps);
      checks.push({ name: `${t.name}: req/s at 64 connections / relay`, target: "≥ 0.5×", figure: fmtRatio(rt), met: rt >= 0.5 });
      const rl = ratio(fig(t, 1).p50, fig(targets[0]!, 1).p50);
      checks.push({ name: `${t.name}: p50 at 1 connection / relay`, target: "≤ 1.3×", figure: fmtRatio(rl), met: rl <= 1.3 });
    }
    const modern = targets.find((t) => t.name.includes("2026"))!;
    const r2625 = ratio(fig(modern, 64).rps, fig(targets[1]!, 64).rps);
    const st = targets.find((t) => t.name.endsWith("(--stateless)"));
    if (st) {
      const rs = ratio(fig(st, 64).rps, fig(targets[0]!, 64).rps);
      checks.push({ name: "2025 --stateless (scale-out mode): req/s at 64 connections / relay (issue 23)", target: "≥ 0.6×", figure: fmtRatio(rs), met: rs >= 0.6 });
    }
    checks.push({ name: "2026 req/s / 2025 req/s at 64 connections", target: "≥ 0.9× (no slower)", figure: fmtRatio(r2625), met: r2625 >= 0.9 });
    const allBad = Object.values(figures).reduce((a, f) => a + f.bad, 0);
    checks.push({ name: "answers that were not a successful call", target: "0", figure: String(allBad), met: allBad === 0 });
    notes.push(
      `wrk -t1 -c{1,16,64} -d${seconds}s --latency, ${rounds} interleaved round(s); req/s is the mean over rounds, p50/p99 the median round's. One mesh-mcp process serves both revisions (bearer token on, Host/Origin checks on, --max-inflight 128 so 64 connections fit one 2025 session).`,
      "The load generator and the servers share the machine's cores: at 64 connections all three compete for CPU, as a real deployment's would not.",
      "Server CPU ms/call: the server process's user+system time during that cell's wrk runs divided by the requests answered (10 ms ticks).",
    );
    return {
      id: "capacity",
      title: "9. HTTP capacity: wrk against mesh-mcp (both revisions) and the plain relay",
      tables: [{
        title: "tools/call bench__echo under load (latency in ms)",
        columns: ["conns", "Target", "req/s", "req/s / relay", "p50 ms", "p50 / relay", "p99 ms", "server CPU ms/call", "failed"],
        rows,
      }],
      targets: checks,
      notes,
      data: { seconds, rounds, figures },
    };
  } finally {
    await http?.stop();
    await stateless?.stop();
    await statelessB?.stop();
    await relay?.stop();
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}
