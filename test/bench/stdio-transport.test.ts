/**
 * The stdio server transport written after the benchmark (src/transports/stdio-transport.ts):
 * batched small messages, large messages written in slices (surrogate pairs kept whole),
 * input lines split across chunks. Pure streams, no processes.
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { withSerialized } from "../../src/mcp/serialized.js";
import { StdioServerTransport } from "../../src/transports/stdio-transport.js";

function harness() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (d: Buffer) => chunks.push(d));
  const transport = new StdioServerTransport(stdin, stdout);
  const lines = () => Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
  return { stdin, stdout, transport, chunks, lines };
}

test("messages sent in one turn arrive in order, as one write", async () => {
  const h = harness();
  await h.transport.start();
  const sends: Promise<void>[] = [];
  for (let i = 1; i <= 500; i++) {
    sends.push(h.transport.send({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: i } }));
  }
  sends.push(h.transport.send({ jsonrpc: "2.0", id: 1, result: {} }));
  await Promise.all(sends);
  const got = h.lines().map((l) => JSON.parse(l) as { params?: { progress: number }; id?: number });
  assert.equal(got.length, 501);
  got.slice(0, 500).forEach((m, i) => assert.equal(m.params?.progress, i + 1));
  assert.equal(got[500]!.id, 1);
  assert.ok(h.chunks.length <= 3, `${h.chunks.length} writes for one turn`);
  await h.transport.close();
});

test("a large string is written in slices and parses back exactly", async () => {
  const h = harness();
  await h.transport.start();
  // Surrogate pairs and escapes at every offset, so some fall on slice boundaries.
  const unit = "a😀\"\\\né";
  const big = unit.repeat(Math.ceil((3 << 20) / unit.length) + 7);
  const message = { jsonrpc: "2.0", id: 7, result: { contents: [{ uri: "mesh://files/x", mimeType: "text/plain", text: big }], _meta: { n: 1 } } } as JSONRPCMessage;
  const before = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "before" } } as JSONRPCMessage;
  const after = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "after" } } as JSONRPCMessage;
  await Promise.all([h.transport.send(before), h.transport.send(message), h.transport.send(after)]);
  const got = h.lines().map((l) => JSON.parse(l) as unknown);
  assert.equal(got.length, 3);
  assert.deepEqual(got[0], before);
  assert.deepEqual(got[1], message);
  assert.deepEqual(got[2], after);
  assert.ok(h.chunks.length > 3, "the large message went out in one piece");
  await h.transport.close();
});

test("input lines split across chunks (and CRLF) are parsed; bad lines reach onerror", async () => {
  const h = harness();
  const got: JSONRPCMessage[] = [];
  const errors: Error[] = [];
  h.transport.onmessage = (m) => got.push(m);
  h.transport.onerror = (e) => errors.push(e);
  await h.transport.start();
  const a = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
  const b = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} });
  h.stdin.write(a.slice(0, 5));
  h.stdin.write(a.slice(5) + "\r\n" + b.slice(0, 10));
  h.stdin.write(b.slice(10) + "\nnot json\n");
  // A whole CRLF line in one chunk, and one split inside a multi-byte character.
  const text = "é€😀 ok";
  const c = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "t", arguments: { text } } });
  h.stdin.write(Buffer.from(c + "\r\n"));
  const d = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "t", arguments: { text } } }) + "\n");
  const cut = d.indexOf(Buffer.from("😀")) + 2;
  h.stdin.write(d.subarray(0, cut));
  h.stdin.write(d.subarray(cut));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.map((m) => (m as { id: number }).id), [1, 2, 3, 4]);
  for (const m of got.slice(2)) assert.equal((m as unknown as { params: { arguments: { text: string } } }).params.arguments.text, text);
  assert.equal(errors.length, 1);
  let closed = false;
  h.transport.onclose = () => (closed = true);
  await h.transport.close();
  assert.ok(closed);
});

test("a queue that grows while stdout is congested drains complete and in order", async () => {
  // A small pipe nobody reads yet: the writer blocks on `drain` and everything else queues.
  const stdin = new PassThrough();
  const stdout = new PassThrough({ highWaterMark: 1024 });
  const transport = new StdioServerTransport(stdin, stdout);
  await transport.start();
  const sends: Promise<void>[] = [];
  const total = 20_000;
  for (let i = 1; i <= total; i++) {
    sends.push(transport.send({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: i % 1000, progress: i } }));
    // New turns while blocked: the queue keeps growing behind the spent head.
    if (i % 2500 === 0) await new Promise((r) => setImmediate(r));
  }
  const chunks: Buffer[] = [];
  stdout.on("data", (d: Buffer) => chunks.push(d));
  await Promise.all(sends);
  const got = Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { params: { progress: number } }).params.progress);
  assert.equal(got.length, total);
  got.forEach((p, i) => assert.equal(p, i + 1));
  // And it still writes afterwards (nothing left blocked).
  await transport.send({ jsonrpc: "2.0", id: 1, result: {} });
  assert.match(Buffer.concat(chunks).toString("utf8"), /"id":1,"result":\{\}\}\n$/);
  await transport.close();
});

test("a cached tools/list of megabytes goes out byte-identical to JSON.stringify, in order with the messages around it", async () => {
  const h = harness();
  await h.transport.start();
  // ~2.5 MB of definitions, non-Latin-1 text included (the cached JSON is then a two-byte string).
  const tools = withSerialized(Array.from({ length: 12_000 }, (_, i) => ({
    name: `fleet_${i}__run`,
    description: `Runs fleet job ${i} — “quoted” 😀`,
    inputSchema: { type: "object", properties: { x: { type: "number", description: "Input." } }, required: ["x"] },
  })));
  const before = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "before" } } as JSONRPCMessage;
  const list = { jsonrpc: "2.0", id: 3, result: { tools, nextCursor: undefined, _meta: { n: 1 } } } as unknown as JSONRPCMessage;
  const after = { jsonrpc: "2.0", id: 4, result: {} } as JSONRPCMessage;
  await Promise.all([h.transport.send(before), h.transport.send(list), h.transport.send(list), h.transport.send(after)]);
  const text = Buffer.concat(h.chunks).toString("utf8");
  assert.equal(text, [before, list, list, after].map((m) => JSON.stringify(m)).join("\n") + "\n");
  await h.transport.close();
});
