/**
 * Bounds on what the mesh sends (mesh/limits.ts): the checks on their own, then a
 * hostile responder on a real nats-server, seen through mesh-mcp over stdio: what is
 * over a bound is refused with a warning on stderr, the rest of the mesh still works,
 * and nothing freezes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LIMITS, nameProblem, schemaShapeProblem, schemaTextProblem } from "../../src/mesh/limits.js";
import { parseSchemaMetadata } from "../../src/mesh/catalog.js";
import { mcpEnv, registerCalculator, textOf, waitFor } from "../helpers/mcp.js";

function props(n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[`p${i}`] = { type: "string" };
  return out;
}

test("schema bounds: bytes, properties at every level, depth, and a bounded walk", () => {
  assert.equal(schemaTextProblem("{}"), undefined);
  assert.match(schemaTextProblem("x".repeat(LIMITS.schemaBytes + 1))!, /over the limit of 262144/);
  assert.equal(schemaShapeProblem({ type: "object", properties: props(LIMITS.schemaProperties) }), undefined);
  assert.match(schemaShapeProblem({ type: "object", properties: props(LIMITS.schemaProperties + 1) })!, /more than 2000 properties/);
  // Properties of nested objects count too.
  const nested = { type: "object", properties: { a: { type: "object", properties: props(1500) }, b: { type: "object", properties: props(600) } } };
  assert.match(schemaShapeProblem(nested)!, /more than 2000 properties/);
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < LIMITS.schemaDepth + 5; i++) deep = { type: "object", properties: { x: deep } };
  assert.match(schemaShapeProblem(deep)!, /deeper than 32 levels/);
  const wide = { anyOf: Array.from({ length: 100_000 }, () => ({ type: "string" })) };
  const t0 = performance.now();
  assert.match(schemaShapeProblem(wide)!, /more than \d+ objects and arrays/);
  assert.ok(performance.now() - t0 < 200, "the walk stops early");
  // Through the metadata parser: refused with the reason.
  assert.match(parseSchemaMetadata(JSON.stringify({ type: "object", properties: props(2500) })).problem!, /more than 2000 properties/);
  assert.ok(parseSchemaMetadata(JSON.stringify({ type: "object", properties: props(10) })).schema);
});

test("names: length and control characters", () => {
  assert.equal(nameProblem("tool", "calculator"), undefined);
  assert.match(nameProblem("tool", "t".repeat(129))!, /tool name of 129 characters, over the limit of 128/);
  assert.match(nameProblem("method", "a\nb")!, /control characters/);
});

test("a hostile responder: huge answers, huge schemas and long names are refused with warnings; good tools stay", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-limits-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "nats.conf"), "max_payload: 8388608\n");
  const env = await mcpEnv(t, { args: ["-c", join(dir, "nats.conf")] });
  const good = await env.node("good");
  await registerCalculator(good);
  const evil = await env.mesh();
  const info = (name: string, id: string, endpoints: unknown[]) => JSON.stringify({
    type: "io.nats.micro.v1.info_response", name, id, version: "1.0.0", description: "", metadata: { node: "evil" }, endpoints,
  });
  const huge = info("huge", "H1", [{ name: "m", subject: "tools.huge.m", metadata: { schema: JSON.stringify({ type: "object", properties: props(50_000) }) } }]);
  const many = info("many", "M1", [{ name: "m", subject: "tools.many.m", metadata: { schema: JSON.stringify({ type: "object", properties: props(2500) }) } }]);
  const long = info("l".repeat(300), "L1", [{ name: "m", subject: "tools.x.m" }]);
  evil.nc.subscribe("$SRV.INFO", { callback: (_e, m) => void [huge, many, long].forEach((x, i) => setTimeout(() => m.respond(new TextEncoder().encode(x)), i)) });
  // The schema subject answers with the same oversized schema: refused too.
  evil.nc.subscribe("node.evil.tools.>", { callback: (_e, m) => void m.respond(new TextEncoder().encode(JSON.stringify({ ok: true, schema: { m: { type: "object", properties: props(2500) } } }))) });
  await evil.nc.flush();

  const client = await env.client();
  const tools = await client.waitForTools(["calculator__add", "many__m"], 10_000);
  assert.ok(!tools.some((x) => x.name.startsWith("huge")), "the 4 MB answer is left out");
  assert.ok(!tools.some((x) => x.name.startsWith("lll")), "the 300-character tool name is left out");
  const manyTool = tools.find((x) => x.name === "many__m")!;
  assert.ok(Object.keys((manyTool.inputSchema.properties ?? {}) as object).length < 10, "the 2,500-property schema is replaced by an open object schema");
  await waitFor(() => /ignored a discovery answer: an answer of \d+ bytes, over the limit of 1048576/.test(client.stderr), "the size warning");
  await waitFor(() => /tool name of 300 characters, over the limit of 128/.test(client.stderr), "the name warning");
  await waitFor(() => /many\.m.*more than 2000 properties/.test(client.stderr), "the schema warning");
  // The rest of the mesh works, promptly.
  const t0 = performance.now();
  const r = await client.call("calculator__add", { a: 2, b: 3 });
  assert.equal(textOf(r), "5");
  assert.ok(performance.now() - t0 < 2000);
});
