/**
 * A bounded, seeded fuzz of the stdio transport, spoken raw (no SDK client): valid
 * requests, malformed requests that carry an id, garbage lines, notifications,
 * stray responses and batches, the same lines on every run. What a client must
 * see: nothing but JSON-RPC on stdout; nothing sent before `initialize` has been
 * answered; exactly one answer per request with an id (an error for a malformed
 * one), promptly; and a server that still answers afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CLI, mcpEnv, registerCalculator, ROOT, sleep, trackProcess, waitFor } from "../helpers/mcp.js";
import { prng } from "./helpers.js";

const SEED = 0x5eed_0d10;
const COUNT = 1500;
/** Every answer must be in within this long after the last line was written. */
const ANSWERS_MS = 20_000;

type Json = Record<string, unknown>;

interface Line {
  text: string;
  /** The id a response must carry, when the line asks for exactly one. */
  expect?: string | number;
  /** A request that breaks JSON-RPC itself (its answer must be an error). */
  malformed?: boolean;
}

function generator(rnd: ReturnType<typeof prng>) {
  const junk = () => Array.from({ length: 1 + rnd.int(30) }, () => String.fromCharCode(32 + rnd.int(0x200))).join("");
  const request = (id: string | number): Json => {
    switch (rnd.int(9)) {
      case 0: return { jsonrpc: "2.0", id, method: "ping" };
      case 1: return { jsonrpc: "2.0", id, method: "tools/list" };
      case 2: return { jsonrpc: "2.0", id, method: "tools/call", params: { name: "calculator__add", arguments: rnd.pick([{ a: rnd.int(9), b: rnd.int(9) }, { a: "x" }, {}]) } };
      case 3: return { jsonrpc: "2.0", id, method: "tools/call", params: { name: rnd.pick(["nope__nope", "calculator__fail", "", junk()]), arguments: {} } };
      case 4: return { jsonrpc: "2.0", id, method: "resources/read", params: { uri: rnd.pick(["mesh://nodes", "mesh://tools", "mesh://files/none", "file:///etc/passwd", junk()]) } };
      case 5: return { jsonrpc: "2.0", id, method: "logging/setLevel", params: { level: rnd.pick(["error", "warning"]) } };
      case 6: return { jsonrpc: "2.0", id, method: rnd.pick(["prompts/list", "foo/bar", junk()]) };
      case 7: return { jsonrpc: "2.0", id, method: "tools/call", params: { arguments: {} } };
      default: return { jsonrpc: "2.0", id, method: "resources/list" };
    }
  };
  /** Requests that break JSON-RPC itself but still carry a usable id. */
  const malformed = (id: string | number): Json => rnd.pick<Json>([
    { jsonrpc: "2.0", id, method: 42 },
    { jsonrpc: "2.0", id },
    { jsonrpc: "1.0", id, method: "ping" },
    { id, method: "ping" },
    { jsonrpc: "2.0", id, method: "tools/call", params: "not an object" },
    { jsonrpc: "2.0", id, method: null },
  ]);
  return (i: number): Line => {
    const id = rnd.chance(0.5) ? `f${i}` : 100_000 + i;
    switch (rnd.int(10)) {
      case 0: case 1: case 2: case 3: return { text: JSON.stringify(request(id)), expect: id };
      case 4: case 5: return { text: JSON.stringify(malformed(id)), expect: id, malformed: true };
      case 6: return { text: rnd.pick([junk(), JSON.stringify(request(id)).slice(0, 1 + rnd.int(40)), "[".repeat(5000), "42", '"str"', "null", "{}", "[]"]) };
      case 7: return { text: JSON.stringify({ jsonrpc: "2.0", method: rnd.pick(["notifications/initialized", "notifications/roots/list_changed", "notifications/cancelled", junk()]), params: { requestId: `nope-${i}` } }) };
      case 8: return { text: JSON.stringify({ jsonrpc: "2.0", id: `stray-${i}`, result: {} }) };
      default: return { text: JSON.stringify([request(`b${i}`), request(`c${i}`)]) };
    }
  };
}

test("a seeded stdio fuzz: pure JSON-RPC on stdout, nothing before initialize, one answer per id, malformed requests answered", { timeout: 90_000 }, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const proc = spawn(process.execPath, [CLI], { cwd: ROOT, env: { ...process.env, NATS_URL: env.nats.url }, stdio: ["pipe", "pipe", "pipe"] });
  trackProcess(proc);
  t.after(() => void proc.kill("SIGKILL"));
  const received: Array<{ msg: Json; at: number }> = [];
  const notJson: string[] = [];
  let stderr = "";
  let buf = "";
  proc.stderr!.on("data", (d) => (stderr += String(d)));
  proc.stdout!.on("data", (d) => {
    buf += String(d);
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const line of lines) {
      let msg: Json;
      try {
        msg = JSON.parse(line) as Json;
      } catch {
        notJson.push(line.slice(0, 200));
        continue;
      }
      received.push({ msg, at: performance.now() });
      // A polite client answers the server's pings (the progress barrier uses them).
      if (msg.method === "ping" && "id" in msg) proc.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: {} })}\n`);
    }
  });
  const write = (text: string) => proc.stdin!.write(`${text}\n`);
  const answers = (id: unknown) => received.filter((r) => r.msg.id === id && ("result" in r.msg || "error" in r.msg));

  // Before initialize: the mesh is connected and its tools known (a moment to announce them, if it were going to).
  await waitFor(() => /catalog:/.test(stderr), "mesh-mcp to load the mesh catalog", { timeoutMs: 10_000 });
  const early = [
    JSON.stringify({ jsonrpc: "2.0", id: "early-1", method: 7 }),
    "{ not json",
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/roots/list_changed" }),
  ];
  early.forEach(write);
  await sleep(300);
  write(JSON.stringify({ jsonrpc: "2.0", id: "init", method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "fuzz", version: "1" } } }));
  const init = await waitFor(() => answers("init")[0], "the initialize answer", { timeoutMs: 10_000 });
  const beforeInit = received.filter((r) => r.at <= init.at && r !== init);
  write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));

  // The fuzz.
  const next = generator(prng(SEED));
  const lines = Array.from({ length: COUNT }, (_, i) => next(i));
  const t0 = performance.now();
  for (let i = 0; i < lines.length; i += 100) {
    write(lines.slice(i, i + 100).map((l) => l.text).join("\n"));
    await sleep(5);
  }
  const expected = lines.filter((l) => l.expect !== undefined);
  const missing = () => expected.filter((l) => answers(l.expect).length === 0);
  // Answers come in order of work: once the well-formed requests are answered, the malformed ones get a moment more.
  await waitFor(() => missing().every((l) => l.malformed) || proc.exitCode !== null, "an answer to every request", { timeoutMs: ANSWERS_MS, intervalMs: 50 }).catch(() => {});
  await waitFor(() => missing().length === 0 || proc.exitCode !== null, "an answer to every malformed request", { timeoutMs: 2000, intervalMs: 50 }).catch(() => {});
  const took = Math.round(performance.now() - t0);
  const pingAt = performance.now();
  write(JSON.stringify({ jsonrpc: "2.0", id: "last", method: "ping" }));
  const last = await waitFor(() => answers("last")[0], "the final ping", { timeoutMs: 5000 }).catch(() => undefined);

  const unanswered = missing();
  const unansweredMalformed = unanswered.filter((l) => l.malformed);
  const sentIds = new Set<unknown>([...lines.map((l) => l.expect), "init", "last", "early-1", null]);
  const doubled = expected.filter((l) => answers(l.expect).length > 1);
  const unknownIds = received.filter((r) => ("result" in r.msg || "error" in r.msg) && !sentIds.has(r.msg.id) && !String(r.msg.id).match(/^[bc]\d+$/));
  t.diagnostic(`${COUNT} fuzzed lines (seed ${SEED.toString(16)}), ${expected.length} with an id to answer: ${expected.length - unanswered.length} answered in ${took} ms; ` +
    `${unanswered.length} unanswered (${unansweredMalformed.length} of them malformed requests); ${beforeInit.length} messages before the initialize answer; ` +
    `final ping ${last ? `${Math.round(last.at - pingAt)} ms` : "unanswered"}`);

  assert.deepEqual(notJson, [], "stdout carries JSON-RPC only");
  assert.ok(received.every((r) => r.msg.jsonrpc === "2.0"), "every message is JSON-RPC 2.0");
  assert.deepEqual(beforeInit.filter((r) => "method" in r.msg).map((r) => r.msg.method), [], "no notification or request before initialize is answered");
  assert.ok(answers("early-1").length === 1 && "error" in answers("early-1")[0]!.msg, "a malformed request with an id before initialize gets an error reply");
  assert.equal(proc.exitCode, null, "mesh-mcp still runs");
  assert.ok(last && last.at - pingAt < 2000, "the final ping is answered within 2 s");
  assert.deepEqual(doubled.map((l) => l.expect), [], "one answer per id, never two");
  assert.deepEqual(unknownIds.map((r) => r.msg.id), [], "answers carry only ids that were sent");
  for (const l of expected) {
    for (const a of answers(l.expect)) {
      if (l.malformed) assert.ok("error" in a.msg, `a malformed request gets an error: ${l.text} → ${JSON.stringify(a.msg)}`);
    }
  }
  assert.deepEqual(unanswered.slice(0, 5).map((l) => l.text), [], `${unanswered.length} requests with an id went unanswered`);
  assert.doesNotMatch(stderr, /\n\s+at \S+ \(|TypeError|ReferenceError|RangeError/, "nothing logged as a crash");
});
