/**
 * The hand-taken call reply (mesh/call.ts quickCallResult) must give exactly what the
 * CallResultWire schema gives, and leave to the schema (and its MalformedReplyError)
 * every reply the schema refuses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseReply, quickCallResult } from "../../src/mesh/call.js";
import { MalformedReplyError } from "../../src/mesh/errors.js";
import { CallResultWire } from "../../src/mesh/types.js";

const cases: unknown[] = [
  { ok: true, result: { text: "hi" }, node: "n1" },
  { ok: true, result: 5 },
  { ok: true },
  { ok: false, error: "boom", node: "n2", extra: [1] },
  { ok: false, error: { type: "ValueError", message: "bad" } },
  { ok: false, error: null },
  { ok: "yes" },
  { ok: true, node: 5 },
  { ok: true, node: null },
  { result: 1 },
  [],
  null,
  "ok",
  7,
];

test("the hand-taken reply equals the schema's output; what the schema refuses is refused as before", () => {
  const enc = new TextEncoder();
  for (const c of cases) {
    const schema = CallResultWire.safeParse(c);
    const quick = quickCallResult(c);
    if (quick !== undefined) {
      assert.ok(schema.success, `taken by hand but refused by the schema: ${JSON.stringify(c)}`);
      assert.deepEqual(quick, schema.data, JSON.stringify(c));
    }
    const bytes = enc.encode(JSON.stringify(c));
    if (schema.success) assert.deepEqual(parseReply("s", bytes, CallResultWire, quickCallResult), schema.data);
    else assert.throws(() => parseReply("s", bytes, CallResultWire, quickCallResult), MalformedReplyError, JSON.stringify(c));
  }
  assert.ok(cases.filter((c) => quickCallResult(c) !== undefined).length >= 4, "the everyday replies are taken by hand");
});
