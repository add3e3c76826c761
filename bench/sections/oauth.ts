/**
 * 10. What OAuth sign-in costs under load: one mesh-mcp process accepting both a static
 * bearer token and OAuth access tokens (JWTs from a real OpenID provider, oidc-provider,
 * started here), `wrk` POSTing `tools/call bench__echo` at 64 connections with one or
 * the other, both revisions, interleaved round by round in one run. A token is verified
 * once (signature, issuer, audience, expiry) and then remembered until it expires (a
 * known token is looked up first, before the static token's comparison), so the target
 * is ≤ 5 % apart.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverNodeArgs, type BenchContext } from "../lib/context.js";
import { freePort, tryStartHttp, type HttpServer } from "../lib/procs.js";
import type { SectionResult, TargetCheck } from "../lib/report.js";
import { fmt, fmtRatio, ratio, rotate } from "../lib/stats.js";
import { SCOPE, startIssuer, type Issuer } from "../../test/helpers/oidc.js";
import { ECHO_TOOL } from "./call.js";
import { cpuMs, ensureWrk, luaScript, median, openSession, parseWrk, type WrkRun } from "./capacity.js";

const STATIC = "bench-oauth-static-token";
const V26 = "2026-07-28";
const V25 = "2025-11-25";
const TITLE = "10. OAuth sign-in under load: OAuth access tokens vs a static bearer token";

export async function runOAuth(ctx: BenchContext): Promise<SectionResult> {
  const skip = ensureWrk(ctx.log);
  if (skip) return { id: "oauth", title: TITLE, tables: [], targets: [], notes: [skip], data: { skipped: skip } };
  const seconds = ctx.quick ? 2 : 4;
  const rounds = ctx.quick ? 1 : 3;
  const conns = 64;
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-wrk-oauth-"));
  let issuer: Issuer | undefined;
  let http: HttpServer | undefined;
  try {
    issuer = await startIssuer();
    const port = await freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const h = await tryStartHttp(ctx.natsUrl, {
      nodeArgs: serverNodeArgs(ctx, "oauth-http"),
      extraArgs: ["--port", String(port), "--auth-token", STATIC, "--oauth-issuer", issuer.issuer, "--public-url", resource, "--oauth-scopes", SCOPE, "--max-inflight", "128"],
    });
    if (!("server" in h)) return { id: "oauth", title: TITLE, tables: [], targets: [], notes: [h.skip], data: { skipped: h.skip } };
    http = h.server;
    const jwt = await issuer.clientToken(resource);
    const tokens = { static: STATIC, oauth: jwt };
    const args = `"arguments":{"text":"hi"}`;
    const envelope = `"_meta":{"io.modelcontextprotocol/protocolVersion":"${V26}","io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`;
    type Target = { name: string; auth: "static" | "oauth"; era: "2025" | "2026"; script: string };
    const targets: Target[] = [];
    for (const auth of ["static", "oauth"] as const) {
      const common = { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${tokens[auth]}` };
      // Sessions are bound to the principal that opened them: one per credential.
      const sid = await openSession(http.url, tokens[auth]);
      targets.push({
        name: `2025-11-25 session, ${auth === "oauth" ? "OAuth JWT" : "static token"}`, auth, era: "2025",
        script: luaScript("mcp", { ...common, "Mcp-Session-Id": sid, "MCP-Protocol-Version": V25 }, `{"jsonrpc":"2.0","id":`, `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args}}}`),
      });
      targets.push({
        name: `2026-07-28 sessionless, ${auth === "oauth" ? "OAuth JWT" : "static token"}`, auth, era: "2026",
        script: luaScript("mcp", { ...common, "MCP-Protocol-Version": V26, "Mcp-Method": "tools/call", "Mcp-Name": ECHO_TOOL }, `{"jsonrpc":"2.0","id":`, `,"method":"tools/call","params":{"name":"${ECHO_TOOL}",${args},${envelope}}}`),
      });
    }
    targets.forEach((t, i) => writeFileSync(join(dir, `t${i}.lua`), t.script));
    const wrk = (t: Target, c: number, secs: number): WrkRun => {
      const out = execFileSync("wrk", ["-t1", `-c${c}`, `-d${secs}s`, "--latency", "--timeout", "10s", "-s", join(dir, `t${targets.indexOf(t)}.lua`), http!.url], { encoding: "utf8" });
      return parseWrk(out);
    };
    for (const t of targets) wrk(t, 16, 1); // warm-up
    const runs = new Map<Target, WrkRun[]>();
    const cpu = new Map<Target, number>();
    for (let r = 0; r < rounds; r++) {
      for (const t of rotate(targets, r)) {
        const c0 = cpuMs(http.pid);
        runs.set(t, [...(runs.get(t) ?? []), wrk(t, conns, seconds)]);
        cpu.set(t, (cpu.get(t) ?? 0) + cpuMs(http.pid) - c0);
      }
    }
    const figures: Record<string, { rps: number; p50: number; p99: number; cpuMsPerCall: number; bad: number }> = {};
    for (const t of targets) {
      const ws = runs.get(t)!;
      const reqs = ws.reduce((a, w) => a + w.requests, 0);
      figures[t.name] = {
        rps: ws.reduce((a, w) => a + w.rps, 0) / ws.length, p50: median(ws.map((w) => w.p50)), p99: median(ws.map((w) => w.p99)),
        cpuMsPerCall: cpu.get(t)! / reqs, bad: ws.reduce((a, w) => a + w.bad, 0),
      };
    }
    const rows: string[][] = [];
    const checks: TargetCheck[] = [];
    for (const era of ["2025", "2026"] as const) {
      const st = targets.find((t) => t.era === era && t.auth === "static")!;
      const oa = targets.find((t) => t.era === era && t.auth === "oauth")!;
      for (const t of [st, oa]) {
        const f = figures[t.name]!;
        rows.push([String(conns), t.name, fmt(f.rps, 0), fmtRatio(ratio(f.rps, figures[st.name]!.rps)), fmt(f.p50, 3), fmtRatio(ratio(f.p50, figures[st.name]!.p50)), fmt(f.p99, 3), fmt(f.cpuMsPerCall, 3), String(f.bad)]);
      }
      const rr = ratio(figures[oa.name]!.rps, figures[st.name]!.rps);
      const rl = ratio(figures[oa.name]!.p50, figures[st.name]!.p50);
      checks.push({ name: `${era}: OAuth req/s / static token req/s at ${conns} connections`, target: "≥ 0.95×", figure: fmtRatio(rr), met: rr >= 0.95 });
      checks.push({ name: `${era}: OAuth p50 / static token p50 at ${conns} connections`, target: "≤ 1.05×", figure: fmtRatio(rl), met: rl <= 1.05 });
      const rc = ratio(figures[oa.name]!.cpuMsPerCall, figures[st.name]!.cpuMsPerCall);
      checks.push({ name: `${era}: OAuth server CPU per call / static token's`, target: "≤ 1.05×", figure: fmtRatio(rc), met: rc <= 1.05 });
    }
    const allBad = Object.values(figures).reduce((a, f) => a + f.bad, 0);
    checks.push({ name: "answers that were not a successful call", target: "0", figure: String(allBad), met: allBad === 0 });
    return {
      id: "oauth",
      title: TITLE,
      tables: [{ title: `tools/call ${ECHO_TOOL} at ${conns} connections (latency in ms)`, columns: ["conns", "Target", "req/s", "req/s / static", "p50 ms", "p50 / static", "p99 ms", "server CPU ms/call", "failed"], rows }],
      targets: checks,
      notes: [
        `wrk -t1 -c${conns} -d${seconds}s --latency, ${rounds} interleaved round(s); one mesh-mcp process with --auth-token and --oauth-issuer (oidc-provider, ES256 JWT access tokens for --public-url, scope ${SCOPE} required).`,
        "Server CPU ms/call: the server process's user+system time during that target's wrk runs divided by the requests answered (10 ms ticks): steadier than p50 on a shared machine.",
        "Each token is verified once and then cached until it expires; a known OAuth token is looked up before the static token is compared. On a shared machine the rounds' spread can exceed the 5 % target: compare within one run.",
      ],
      data: { seconds, rounds, conns, figures },
    };
  } finally {
    await http?.stop();
    await issuer?.close();
  }
}
