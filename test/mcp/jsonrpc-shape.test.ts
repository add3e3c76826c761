/**
 * The hand-written envelope check of our transports (transports/jsonrpc-shape.ts) must
 * agree with the SDK's JSONRPCMessageSchema on every message: the same verdict, and
 * when it takes a message itself, exactly the value the schema would have produced.
 * Checked on hand-picked edge cases and on thousands of generated messages.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import { everydayMessage, parseMessage, safeParseMessage } from "../../src/transports/jsonrpc-shape.js";

function agree(raw: unknown): void {
  const schema = JSONRPCMessageSchema.safeParse(raw);
  const ours = safeParseMessage(raw);
  const label = JSON.stringify(raw);
  assert.equal(ours.success, schema.success, `verdict differs for ${label}`);
  if (schema.success && ours.success) assert.deepEqual(ours.data, schema.data, `value differs for ${label}`);
  if (everydayMessage(raw) !== undefined) assert.ok(schema.success, `taken by hand but refused by the schema: ${label}`);
  if (schema.success) assert.deepEqual(parseMessage(raw), schema.data);
  else assert.throws(() => parseMessage(raw));
}

test("everyday messages are taken by hand, exactly as the schema takes them", () => {
  const everyday = [
    { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "calc__add", arguments: { a: 1 } } },
    { jsonrpc: "2.0", id: "x", method: "tools/list" },
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "t", _meta: { progressToken: "p", other: [1] } } },
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3, reason: "user" } },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 4, result: {} },
    { jsonrpc: "2.0", id: 5, result: { roots: [], _meta: {} } },
    { jsonrpc: "2.0", id: 6, error: { code: -32601, message: "no", data: { x: 1 } } },
    { jsonrpc: "2.0", error: { code: -32700, message: "parse" } },
  ];
  for (const m of everyday) {
    assert.equal(everydayMessage(m), m, `not taken by hand: ${JSON.stringify(m)}`);
    agree(m);
  }
});

test("edge cases get the schema's own verdict", () => {
  const cases: unknown[] = [
    null, 5, "x", [], [{ jsonrpc: "2.0", id: 1, method: "a" }],
    { jsonrpc: "1.0", id: 1, method: "a" },
    { id: 1, method: "a" },
    { jsonrpc: "2.0", id: 1.5, method: "a" },
    { jsonrpc: "2.0", id: 2 ** 60, method: "a" },
    { jsonrpc: "2.0", id: null, method: "a" },
    { jsonrpc: "2.0", id: 1, method: 7 },
    { jsonrpc: "2.0", id: 1, method: "a", params: [] },
    { jsonrpc: "2.0", id: 1, method: "a", params: null },
    { jsonrpc: "2.0", id: 1, method: "a", extra: true },
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: [] } },
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: null } },
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: { progressToken: 1.5 } } },
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: { progressToken: true } } },
    // The related-task schema strips unknown keys: the schema's output differs from the input.
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: { "io.modelcontextprotocol/related-task": { taskId: "t", more: 1 } } } },
    { jsonrpc: "2.0", id: 1, method: "a", params: { _meta: { "io.modelcontextprotocol/related-task": { taskId: 5 } } } },
    { jsonrpc: "2.0", method: "a", params: 3 },
    { jsonrpc: "2.0", id: 1, result: [] },
    { jsonrpc: "2.0", id: 1, result: null },
    { jsonrpc: "2.0", result: {} },
    { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "m" } },
    { jsonrpc: "2.0", id: 1, error: { code: 1.5, message: "m" } },
    { jsonrpc: "2.0", id: 1, error: { code: 1, message: 2 } },
    // The error object's schema strips unknown keys too.
    { jsonrpc: "2.0", id: 1, error: { code: 1, message: "m", extra: 1 } },
    { jsonrpc: "2.0", id: 1, error: [] },
    { jsonrpc: "2.0", id: 1 },
    { jsonrpc: "2.0" },
  ];
  for (const c of cases) agree(c);
});

test("thousands of generated messages: never a different verdict or value", () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const values = [undefined, null, 0, -1, 1.5, 2 ** 53, "", "s", true, [], {}, { a: 1 }, [1, "x"]];
  const meta = () => pick<unknown>([
    undefined, {}, { progressToken: pick(values) }, { "io.modelcontextprotocol/related-task": pick([{ taskId: "t" }, { taskId: "t", x: 1 }, 5]) },
    { traceparent: "00-x", progressToken: "t" }, pick(values),
  ]);
  const params = () => {
    const p = pick<unknown>([undefined, {}, { name: "x", arguments: {} }, ...values]);
    if (p === undefined || typeof p !== "object" || p === null || Array.isArray(p)) return p;
    const m = meta();
    return m === undefined ? p : { ...p, _meta: m };
  };
  let taken = 0;
  for (let i = 0; i < 5000; i++) {
    const m: Record<string, unknown> = {};
    if (rnd() < 0.95) m.jsonrpc = pick(["2.0", "2.0", "2.0", "1.0", 2]);
    if (rnd() < 0.7) m.id = pick([1, 2, "id", ...values]);
    const shape = pick(["request", "request", "result", "error", "other"]);
    if (shape === "request") {
      m.method = pick(["tools/call", "ping", 3, null]);
      const p = params();
      if (p !== undefined) m.params = p;
    } else if (shape === "result") {
      m.result = params() ?? {};
    } else if (shape === "error") {
      m.error = pick<unknown>([{ code: 1, message: "m" }, { code: pick(values), message: pick(values) }, { code: 1, message: "m", data: pick(values) }, { code: 1, message: "m", x: 1 }, ...values]);
    }
    if (rnd() < 0.05) m[pick(["extra", "result", "error", "method"])] = pick(values);
    for (const k of Object.keys(m)) if (m[k] === undefined) delete m[k];
    if (everydayMessage(m)) taken++;
    agree(JSON.parse(JSON.stringify(m)));
  }
  assert.ok(taken > 200, `the generator should produce many everyday messages (got ${taken})`);
});
