import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { normalizeManifestTypes } from "../../src/mcp/schema-types.js";

test("manifest types become JSON Schema types, nested too; unknown ones are dropped", () => {
  const s: Record<string, unknown> = {
    type: "object",
    properties: {
      a: { type: "int", description: "First", default: 1 },
      b: { type: "Float" },
      name: { type: "str" },
      ok: { type: "bool" },
      tags: { type: "list", items: { type: "str" } },
      pairs: { type: "list[int]" },
      opts: { type: "dict", properties: { depth: { type: "long" } }, additionalProperties: { type: "text" } },
      image: { type: "Image", description: "a store key" },
      either: { type: ["str", "none"] },
      plain: { description: "no type at all" },
      already: { type: "integer" },
    },
    required: ["a"],
  };
  normalizeManifestTypes(s);
  assert.deepEqual(s, {
    type: "object",
    properties: {
      a: { type: "integer", description: "First", default: 1 },
      b: { type: "number" },
      name: { type: "string" },
      ok: { type: "boolean" },
      tags: { type: "array", items: { type: "string" } },
      pairs: { type: "array", items: { type: "integer" } },
      opts: { type: "object", properties: { depth: { type: "integer" } }, additionalProperties: { type: "string" } },
      image: { description: "a store key" },
      either: { type: ["string", "null"] },
      plain: { description: "no type at all" },
      already: { type: "integer" },
    },
    required: ["a"],
  });
  // What comes out compiles, so arguments are checked.
  const v = new Ajv({ strict: true }).compile(s);
  assert.equal(v({ a: 2, b: 1.5, tags: ["x"], pairs: [1], either: null }), true);
  assert.equal(v({ a: "two" }), false);
});
