/**
 * The cached serialisation of tools/list (serialized.ts): the bytes a transport writes
 * are exactly JSON.stringify's, with the list stringified once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { stringifyMessage, withSerialized } from "../../src/mcp/serialized.js";

test("stringifyMessage writes exactly JSON.stringify's bytes, splicing a cached list in", () => {
  const tools = withSerialized([{ name: "a__b", description: "say \"hi\"\n\u0000", inputSchema: { type: "object" } }, { name: "c", inputSchema: { type: "object", properties: { x: { type: ["string", "null"] } } } }]);
  for (const message of [
    { result: { tools }, jsonrpc: "2.0", id: 7 },
    { jsonrpc: "2.0", id: "x", result: { tools, ttlMs: 5000, cacheScope: "public", _meta: { a: 1 } } },
    { jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "plain" }] } },
    { jsonrpc: "2.0", method: "notifications/tools/list_changed" },
  ]) {
    assert.equal(stringifyMessage(message), JSON.stringify(message));
  }
  // Marked once: the JSON is that of the list when it was marked (lists are never mutated after).
  const spy = withSerialized([{ name: "n" }]);
  (spy[0] as { name: string }).name = "changed";
  assert.equal(stringifyMessage({ jsonrpc: "2.0", id: 1, result: { tools: spy } }), '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"n"}]}}');
});
