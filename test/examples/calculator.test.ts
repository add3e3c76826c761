import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { NODE, publishedSchema, startFixture, type Fixture } from "./helpers.js";

const { registerCalculator } = await import("../../examples/calculator.js");

describe("examples/calculator", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture(registerCalculator);
  });
  after(() => fx.close());

  test("add, subtract, multiply, divide", async () => {
    const { client } = fx;
    assert.deepEqual(await client.call("calculator", "add", { a: 2, b: 40 }), { ok: true, result: 42, node: NODE });
    assert.equal((await client.call("calculator", "subtract", { a: 2, b: 40 })).result, -38);
    assert.equal((await client.call("calculator", "multiply", { a: 6, b: 7 })).result, 42);
    assert.equal((await client.call("calculator", "divide", { a: 1, b: 4 })).result, 0.25);
    // Numeric strings, as a `key=value` command line sends them.
    assert.equal((await client.call("calculator", "add", { a: "1.5", b: "2" })).result, 3.5);
    // Node-targeted subject works too.
    assert.equal((await client.call("calculator", "multiply", { a: 3, b: 3 }, { node: NODE })).result, 9);
  });

  test("division by zero fails with a useful error", async () => {
    const r = await fx.client.call("calculator", "divide", { a: 1, b: 0 });
    assert.deepEqual(r, { ok: false, error: "division by zero: b must not be 0", node: NODE });
  });

  test("bad or missing operands are explained", async () => {
    const missing = await fx.client.call("calculator", "add", { a: 1 });
    assert.equal(missing.ok, false);
    assert.equal(missing.error, "b is required");
    const bad = await fx.client.call("calculator", "add", { a: "two", b: 1 });
    assert.equal(bad.ok, false);
    assert.equal(bad.error, 'a must be a number, got "two"');
  });

  test("every method publishes a full schema", async () => {
    for (const method of ["add", "subtract", "multiply", "divide"]) {
      const schema = await publishedSchema(fx.client, "calculator", method);
      assert.equal(schema.type, "object");
      assert.equal(typeof schema.description, "string");
      assert.deepEqual(schema.required, ["a", "b"]);
      const props = schema.properties as Record<string, { type: string; description: string }>;
      for (const p of ["a", "b"]) {
        assert.equal(props[p]?.type, "number");
        assert.ok(props[p]?.description, `${method}.${p} has a description`);
      }
      assert.equal(schema.stream, undefined);
    }
  });
});
