/**
 * jb-mesh's log store format (pkg/logstore): the records mesh-mcp publishes, the
 * nodes' records it reads, and what a failure's text gains from them. Pure functions;
 * the wire both ways is tested against the Go fixtures in test/jbmesh/real-node.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { callLogRecord, callLogSubject, parseNodeCallRecord, recordAddendum, ReplyDroppedError } from "../../src/mesh/logstore.js";
import { addSecret } from "../../src/mesh/secrets.js";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
/** The keys jb-mesh's producer writes (Publish in pkg/logstore/producer.go). */
const PRODUCER_KEYS = ["level", "kind", "node", "tool", "method", "corr", "message", "data", "ts", "duration_ms", "ok"];

test("subjects: logs.call.<source>.<tool>.<method>, tokens sanitized like the logstore's sanitizeNode", () => {
  assert.equal(callLogSubject("mesh-mcp", "calc", "add"), "logs.call.mesh-mcp.calc.add");
  assert.equal(callLogSubject("my bridge!", "calc", "add"), "logs.call.my-bridge.calc.add");
  assert.equal(callLogSubject("  ", "calc", "add"), "logs.call.unknown.calc.add");
  assert.equal(callLogSubject("a.b*>", "t", "m"), "logs.call.a.b.t.m");
});

test("a call record has only the producer's keys; who called goes in data (the logstore keeps data, drops unknown top-level keys)", () => {
  const rec = callLogRecord("mesh-mcp", {
    tool: "calc", method: "add", node: "node-a", corr: "c1", durationMs: 12.5, ok: true, outcome: "ok",
    principal: { name: "alice", roles: ["ops", "dev"] },
  }, new Date("2026-01-02T03:04:05.000Z"));
  for (const k of Object.keys(rec)) assert.ok(PRODUCER_KEYS.includes(k), `unexpected key ${k}`);
  assert.deepEqual(rec, {
    level: "info", kind: "tool_call", node: "mesh-mcp", tool: "calc", method: "add", corr: "c1",
    message: "calc.add completed on node-a for alice",
    data: { served_by: "node-a", outcome: "ok", principal: "alice", roles: ["ops", "dev"] },
    ts: "2026-01-02T03:04:05.000Z", ok: true, duration_ms: 12.5,
  });
  const anon = callLogRecord("mesh-mcp", { tool: "calc", method: "add", corr: "c2", durationMs: 0, ok: false, outcome: "timeout", error: "x" });
  assert.equal(anon.level, "error");
  assert.equal(anon.message, "calc.add timeout");
  assert.equal(anon.duration_ms, undefined, "like the producer: no duration_ms unless positive");
  assert.equal((anon.data as Record<string, unknown>).principal, undefined);
});

test("secrets never reach a record: errors are scrubbed and bounded", () => {
  addSecret("hunter2-token-value");
  const rec = callLogRecord("mesh-mcp", {
    tool: "t", method: "m", corr: "c", durationMs: 1, ok: false, outcome: "error",
    error: `auth failed for nats://bob:hunter2-token-value@host:4222 ${"y".repeat(10_000)}`,
  });
  const text = JSON.stringify(rec);
  assert.ok(!text.includes("hunter2-token-value"));
  assert.ok(text.length < 4000, `${text.length} characters`);
});

test("a node's record is read from its producer fields; mesh-mcp's own records are not taken for a node's", () => {
  const node = parseNodeCallRecord("logs.call.node-a.calc.add", enc({
    level: "info", kind: "tool_call", node: "node-a", tool: "calc", method: "add", corr: "c1",
    message: "calc.add completed", data: { response_bytes: 1_100_002 }, duration_ms: 3.2, ok: true,
  }));
  assert.deepEqual(node, { node: "node-a", tool: "calc", method: "add", corr: "c1", ok: true, message: "calc.add completed", durationMs: 3.2, error: undefined, responseBytes: 1_100_002, frames: undefined });
  const ours = callLogRecord("mesh-mcp", { tool: "calc", method: "add", node: "node-a", corr: "c1", durationMs: 4, ok: true, outcome: "ok" });
  assert.equal(parseNodeCallRecord("logs.call.mesh-mcp.calc.add", enc(ours)), undefined);
  assert.equal(parseNodeCallRecord("logs.call.n.t.m", enc({ corr: "", ok: true })), undefined, "no corr: nothing to match");
  assert.equal(parseNodeCallRecord("logs.call.n.t.m", new TextEncoder().encode("not json")), undefined);
  // Missing fields come from the subject, as the logstore infers them.
  assert.equal(parseNodeCallRecord("logs.call.n.t.m", enc({ corr: "x", ok: false }))?.node, "n");
});

test("the dropped-reply error names the size and the limit, and what to do", () => {
  const rec = { node: "node-a", tool: "img", method: "render", corr: "c", ok: true, message: "img.render completed", responseBytes: 2_000_000, durationMs: 40 };
  const err = new ReplyDroppedError(rec, 1_048_576, 1500);
  assert.match(err.message, /^the result was 2000000 bytes, over the NATS server's max_payload of 1048576/);
  assert.match(err.message, /Raise max_payload .* or have the tool return a file/);
  const small = new ReplyDroppedError({ ...rec, responseBytes: 10 }, 1_048_576, 1500);
  assert.match(small.message, /no reply arrived within 1500 ms/);
});

test("a failure gains the node's log only when it adds something", () => {
  const rec = { node: "n", tool: "t", method: "m", corr: "c", ok: false, message: "t.m failed", error: "queue call failed: boom", durationMs: 20 };
  assert.equal(recordAddendum("queue call failed: boom", rec), "", "same error, quick: nothing to add");
  assert.equal(recordAddendum("queue call failed: boom", { ...rec, durationMs: 4200 }), "\n(node n's log: failed after 4.2 s of work on the node)");
  assert.equal(recordAddendum("Nats-Service-Error", rec), "\n(node n's log: queue call failed: boom)");
  assert.equal(recordAddendum("x", undefined), "");
});

test("a NATS user that may not read logs.call.> loses only the early end: calls still work, one warning says why", { timeout: 30_000 }, async (t) => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { NatsServer } = await import("../helpers/nats-server.js");
  const { Mesh } = await import("../../src/mesh/index.js");
  const conf = join(mkdtempSync(join(tmpdir(), "mesh-mcp-logs-")), "nats.conf");
  writeFileSync(conf, `authorization {
  users = [
    { user: node, password: "node-pass" }
    { user: bridge, password: "bridge-pass", permissions: { subscribe: { deny: ["logs.>"] }, publish: { deny: ["logs.>"] } } }
  ]
}
`);
  const srv = await NatsServer.start({ args: ["-c", conf] });
  const opened: Array<{ close(): Promise<void> }> = [];
  t.after(async () => {
    for (const m of opened) await m.close().catch(() => {});
    await srv.stop();
  });
  const node = await Mesh.connect({ servers: srv.url, user: "node", password: "node-pass", node: "n1" });
  opened.push(node);
  await node.registerTool({ name: "calc", version: "1.0.0", methods: { add: { handler: (p) => (p.a as number) + (p.b as number) } } });
  const warnings: string[] = [];
  const bridge = await Mesh.connect({ servers: srv.url, user: "bridge", password: "bridge-pass", log: (level, m) => level === "warning" && warnings.push(m) });
  opened.push(bridge);
  for (let i = 0; i < 3; i++) assert.deepEqual(await bridge.call("calc", "add", { a: i, b: 1 }, { node: "n1", timeoutMs: 5000 }), { ok: true, result: i + 1, node: "n1" });
  bridge.callLog.publish({ tool: "calc", method: "add", corr: "c", durationMs: 1, ok: true, outcome: "ok" });
  bridge.callLog.flush();
  for (let i = 0; i < 50 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(warnings.filter((w) => w.includes("logs.call.>")).length, 1, warnings.join("\n"));
  assert.match(warnings.find((w) => w.includes("logs.call.>"))!, /Allow this subscription/);
  assert.deepEqual(await bridge.call("calc", "add", { a: 5, b: 5 }, { node: "n1", timeoutMs: 5000 }), { ok: true, result: 10, node: "n1" });
});
