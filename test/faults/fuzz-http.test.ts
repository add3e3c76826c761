/**
 * A bounded, seeded fuzz of the Streamable HTTP endpoint on loopback: random
 * methods, paths, headers, session ids and bodies (valid JSON-RPC, broken
 * JSON-RPC, garbage, nesting, batches), the same sequence on every run. What a
 * client may see: a prompt answer with a status it understands, JSON-RPC error
 * bodies for errors, never a 500 or a hang; afterwards a real client works,
 * memory is where it was, and nothing was logged as a crash.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { connectClient, MCP_HEADERS, meshWithTools, rawSession, startCli } from "../http/helpers.js";
import { memoryOf, prng } from "./helpers.js";

const SEED = 0x5eed_2026;
const COUNT = 1500;
const TIME_LIMIT_MS = 20_000;
const PARALLEL = 8;
/** Slowest acceptable answer (a loaded CI box; the usual is a few ms). */
const ANSWER_MS = 5000;

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface Got {
  status: number;
  type: string;
  body: string;
  ms: number;
}

function send(agent: Agent, base: URL, s: Sent): Promise<Got> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    // Node sends a DELETE's body without framing unless told its length: say it, so every request is well-formed HTTP.
    const headers = s.body === undefined ? s.headers : { ...s.headers, "content-length": String(Buffer.byteLength(s.body)) };
    const req = request(new URL(s.path, base), { method: s.method, headers, agent }, (res) => {
      const type = String(res.headers["content-type"] ?? "");
      // A GET that opened the session's event stream stays open by design: its headers are the answer.
      if (s.method === "GET" && res.statusCode === 200 && type.includes("text/event-stream")) {
        res.destroy();
        return resolve({ status: 200, type, body: "", ms: performance.now() - t0 });
      }
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type, body, ms: performance.now() - t0 }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(ANSWER_MS * 2, () => req.destroy(new Error(`no answer within ${ANSWER_MS * 2} ms`)));
    req.end(s.body);
  });
}

/** The fuzz corpus generator: everything derives from `rnd`. */
function generator(rnd: ReturnType<typeof prng>, sessions: string[]) {
  const junk = () => Array.from({ length: rnd.int(40) }, () => String.fromCharCode(rnd.int(0x250))).join("");
  const ids = () => rnd.pick<unknown>([rnd.int(1e6), `s${rnd.int(1e6)}`, null, -1, 1.5, {}, [], true, "", 2 ** 60]);
  const args = () => rnd.pick<unknown>([{ a: rnd.int(100), b: rnd.int(100) }, { a: "x" }, {}, null, [1], "str", { n: rnd.int(5) }, { ms: rnd.int(30) }, { _node: "nope" }]);
  const tool = () => rnd.pick(["calc__add", "slow__count", "slow__wait", "mesh_upload_file", "nope__nope", "", "a".repeat(300)]);
  const message = (): unknown => {
    switch (rnd.int(12)) {
      case 0: return { jsonrpc: "2.0", id: ids(), method: "tools/call", params: { name: tool(), arguments: args() } };
      case 1: return { jsonrpc: "2.0", id: ids(), method: "tools/list", params: rnd.chance(0.5) ? { cursor: junk() } : undefined };
      case 2: return { jsonrpc: "2.0", id: ids(), method: rnd.pick(["resources/read", "resources/subscribe"]), params: { uri: rnd.pick(["mesh://nodes", "mesh://files/../../etc/passwd", "file:///etc/passwd", junk()]) } };
      case 3: return { jsonrpc: "2.0", id: ids(), method: "ping" };
      case 4: return { jsonrpc: "2.0", id: ids(), method: "logging/setLevel", params: { level: rnd.pick(["debug", "loud", 3]) } };
      case 5: return { jsonrpc: "2.0", method: rnd.pick(["notifications/initialized", "notifications/cancelled", "notifications/roots/list_changed", junk()]), params: { requestId: ids() } };
      case 6: return { jsonrpc: "2.0", id: ids(), method: rnd.pick([42, null, "", junk()]) };
      case 7: return { jsonrpc: rnd.pick(["1.0", 2, undefined]), id: ids(), method: "ping" };
      case 8: return { jsonrpc: "2.0", id: ids(), result: {} };
      case 9: return { jsonrpc: "2.0", id: ids(), method: "initialize", params: { protocolVersion: rnd.pick(["2025-06-18", "1999-01-01", 7]), capabilities: rnd.pick([{}, null]), clientInfo: { name: junk(), version: "1" } } };
      case 10: return { jsonrpc: "2.0", id: ids(), method: "completion/complete", params: { ref: { type: "ref/resource", uri: "mesh://files/{+key}" }, argument: { name: "key", value: junk() } } };
      default: return { jsonrpc: "2.0", id: ids(), method: "tools/call", params: rnd.pick([junk(), [], null, { name: 5 }]) };
    }
  };
  const body = (): string | undefined => {
    switch (rnd.int(10)) {
      case 0: return undefined;
      case 1: return junk();
      case 2: return JSON.stringify(message()).slice(0, rnd.int(60));
      case 3: return JSON.stringify(Array.from({ length: rnd.int(120) }, message));
      case 4: return "[".repeat(2000 + rnd.int(3000)) + "]".repeat(rnd.int(5000));
      case 5: return JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "calc__add", arguments: { a: 1, b: 2, pad: "x".repeat(rnd.chance(0.5) ? 70_000 : 10) } } });
      default: return JSON.stringify(message());
    }
  };
  return (): Sent => {
    const headers: Record<string, string> = {};
    const ct = rnd.pick([MCP_HEADERS["content-type"], "text/plain", "application/json; charset=utf-8", undefined, junk()]);
    if (ct !== undefined) headers["content-type"] = ct.replace(/[^\t\x20-\x7e]/g, "");
    const accept = rnd.pick([MCP_HEADERS.accept, "application/json", "text/event-stream", "*/*", undefined]);
    if (accept) headers.accept = accept;
    const sid = rnd.pick([...sessions, ...sessions, crypto.randomUUID(), "../../x", undefined, undefined]);
    if (sid) headers["mcp-session-id"] = sid;
    const version = rnd.pick(["2025-06-18", "2025-11-25", "1999-01-01", undefined]);
    if (version) headers["mcp-protocol-version"] = version;
    if (rnd.chance(0.05)) headers.origin = rnd.pick(["http://evil.example", "null", "http://127.0.0.1"]);
    const method = rnd.pick(["POST", "POST", "POST", "POST", "POST", "GET", "DELETE", "PUT", "OPTIONS"]);
    // DELETE only ever names sessions the fuzz does not need.
    if (method === "DELETE" && sid && sessions.includes(sid)) headers["mcp-session-id"] = crypto.randomUUID();
    const path = rnd.pick(["/mcp", "/mcp", "/mcp", "/mcp", "/mcp?x=1", "/mcp/", "/", "/healthz", "/metrics", "/status", "/status.json", "/%2e%2e/mcp"]);
    return { method, path, headers, body: method === "GET" || method === "OPTIONS" ? undefined : body() };
  };
}

test("a seeded HTTP fuzz: prompt answers with sane statuses and JSON-RPC errors, never a 500 or a hang", { timeout: 90_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-body", "65536"]);
  const base = new URL(cli.url);
  const sessions = [await rawSession(cli.url), await rawSession(cli.url), await rawSession(cli.url)];
  const before = memoryOf(cli.proc.pid!);
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  t.after(() => agent.destroy());

  const next = generator(prng(SEED), sessions);
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;
  let slowest = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (sent < COUNT && performance.now() - t0 < TIME_LIMIT_MS) {
      const s = next();
      sent++;
      let got: Got;
      try {
        got = await send(agent, base, s);
      } catch (err) {
        // A 413 may close the connection before the body was read: that is the server being right.
        if (!/ECONNRESET|EPIPE|socket hang up/.test(String(err)) || (s.body?.length ?? 0) < 65536) {
          problems.push(`${s.method} ${s.path} ${JSON.stringify(s.headers)} ${String(s.body).slice(0, 80)}: ${(err as Error).message}`);
        }
        continue;
      }
      statuses.set(got.status, (statuses.get(got.status) ?? 0) + 1);
      slowest = Math.max(slowest, got.ms);
      const what = `${s.method} ${s.path} ${JSON.stringify(s.headers)} ${String(s.body).slice(0, 120)} → ${got.status} ${got.body.slice(0, 200)}`;
      if (got.status >= 500 && got.status !== 503) problems.push(`a ${got.status}: ${what}`);
      if (got.ms > ANSWER_MS) problems.push(`slow (${Math.round(got.ms)} ms): ${what}`);
      if (/^\/mcp(\?|$)/.test(s.path) && got.status >= 400 && got.type.includes("application/json")) {
        try {
          const e = JSON.parse(got.body) as { jsonrpc?: string; error?: { code?: unknown; message?: unknown } };
          if (e.jsonrpc !== "2.0" || typeof e.error?.code !== "number" || typeof e.error.message !== "string") problems.push(`not a JSON-RPC error: ${what}`);
        } catch {
          problems.push(`unparseable JSON error body: ${what}`);
        }
      }
    }
  }));
  const took = Math.round(performance.now() - t0);
  const after = memoryOf(cli.proc.pid!);
  t.diagnostic(`${sent} fuzzed requests (seed ${SEED.toString(16)}) in ${took} ms; statuses ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(" ")}; ` +
    `slowest ${Math.round(slowest)} ms; memory ${before.rssMb} → ${after.rssMb} MB; ${problems.length} problems`);

  assert.ok(sent >= 300, `the fuzz ran (${sent} requests)`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
  assert.equal(cli.proc.exitCode, null, "mesh-mcp still runs");
  assert.ok(after.rssMb - before.rssMb < 100, `memory grew from ${before.rssMb} to ${after.rssMb} MB`);
  assert.doesNotMatch(cli.stderr(), /Internal error|TypeError|ReferenceError|RangeError|\n\s+at \S+ \(/, "nothing logged as a crash");

  // A real client still gets real work done.
  const client = await connectClient(t, cli.url);
  const r = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } });
  assert.deepEqual(r.content, [{ type: "text", text: "5" }]);
});
