import { test } from "node:test";
import assert from "node:assert/strict";
import { Svcm } from "@nats-io/services";
import type { CatalogChange, Mesh, ToolDefinition } from "../../src/mesh/index.js";
import { meshEnv, waitFor, type MeshEnv } from "../helpers/mesh.js";

const addSchema = {
  type: "object",
  description: "Add two numbers",
  properties: { a: { type: "number", description: "first" }, b: { type: "number", default: 0 } },
  required: ["a"],
};

function calc(extra: Partial<ToolDefinition> = {}): ToolDefinition {
  return {
    name: "calc",
    version: "1.2.3",
    description: "Calculator",
    methods: {
      add: { schema: addSchema, handler: (p) => (p.a as number) + ((p.b as number) ?? 0) },
      count: { stream: true, schema: { type: "object", properties: { n: { type: "integer" } } }, handler: () => "done" },
    },
    ...extra,
  };
}

/** A raw NATS micro service with one endpoint whose metadata is given as is (a foreign or broken node). */
async function rawService(nc: Mesh["nc"], node: string, tool: string, method: string, metadata?: Record<string, string>) {
  const svc = await new Svcm(nc).add({ name: tool, version: "0.1.0", description: `raw ${tool}`, metadata: { node } });
  svc.addGroup(`tools.${tool}`).addEndpoint(method, { handler: (_err, msg) => msg.respond("{}"), metadata });
  await nc.flush();
  return svc;
}

/** A caller whose catalog refreshes on events only (no timer), quickly. */
function client(env: MeshEnv, warnings: string[] = []): Promise<Mesh> {
  return env.mesh({ catalog: { refreshIntervalMs: 0, debounceMs: 20, onWarning: (m) => warnings.push(m) } });
}

test("the same tool on two nodes is one catalog entry per method listing both nodes", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n2")).registerTool(calc());
  await (await env.node("n1")).registerTool(calc());
  const cat = await (await client(env)).catalog();

  assert.deepEqual(cat.methods().map((m) => `${m.tool}.${m.method}`), ["calc.add", "calc.count"]);
  const add = cat.get("calc", "add")!;
  assert.deepEqual(add.nodes, ["n1", "n2"]);
  assert.equal(add.toolDescription, "Calculator");
  assert.equal(add.version, "1.2.3");
  assert.equal(cat.services().length, 2, "one service instance per (node, tool)");
  assert.deepEqual([...cat.nodes().keys()].sort(), ["n1", "n2"]);
  assert.deepEqual(cat.nodes().get("n1")?.get("calc"), ["add", "count"]);
});

test("schemas come from endpoint metadata; stream methods are marked", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(calc());
  const cat = await (await client(env)).catalog();

  const add = cat.get("calc", "add")!;
  assert.equal(add.schemaSource, "metadata");
  assert.deepEqual(add.schema, addSchema);
  assert.equal(add.stream, false);
  const count = cat.get("calc", "count")!;
  assert.equal(count.schemaSource, "metadata");
  assert.equal(count.stream, true);
  assert.deepEqual(count.schema, { type: "object", properties: { n: { type: "integer" } }, stream: true });
});

test("without endpoint metadata the schema comes from node.<node>.tools.<tool>.schema", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const asked: string[] = [];
  node.subscribeToolSchema(async (tool) => {
    asked.push(tool);
    return { run: { type: "object", description: "from fallback", properties: { x: { type: "string" } }, stream: true } };
  });
  await node.registerTool({ name: "plain", methods: { run: { handler: () => 1 }, other: { handler: () => 2 } } });
  const cat = await (await client(env)).catalog();

  const run = cat.get("plain", "run")!;
  assert.equal(run.schemaSource, "fallback");
  assert.deepEqual(run.schema, { type: "object", description: "from fallback", properties: { x: { type: "string" } }, stream: true });
  assert.equal(run.stream, true);
  assert.deepEqual(asked, ["plain"], "one fallback request per service instance, not per method");
  await cat.refresh();
  assert.deepEqual(asked, ["plain"], "the fallback is cached for the service instance");
  const other = cat.get("plain", "other")!;
  assert.equal(other.schemaSource, "none", "a method the fallback does not know stays any-object");
  assert.deepEqual(other.schema, { type: "object" });
});

test("malformed schema metadata falls back to the schema subject, with a warning", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("raw1");
  node.subscribeToolSchema(async () => ({ m: { type: "object", properties: { q: { type: "string" } } } }));
  await rawService(node.nc, "raw1", "broken", "m", { schema: "{not json" });
  const warnings: string[] = [];
  const cat = await (await client(env, warnings)).catalog();

  const m = cat.get("broken", "m")!;
  assert.equal(m.schemaSource, "fallback");
  assert.deepEqual(m.schema, { type: "object", properties: { q: { type: "string" } } });
  assert.match(m.schemaProblem ?? "", /not valid JSON/);
  assert.ok(warnings.some((w) => w.includes("broken.m") && w.includes("node.raw1.tools.broken.schema")), warnings.join("\n"));
});

test("malformed metadata and no fallback: any object, source none, the problem is kept", async (t) => {
  const env = await meshEnv(t);
  const raw = await env.raw();
  await rawService(raw, "raw1", "broken", "m", { schema: "{not json" });
  await rawService(raw, "raw1", "arr", "m", { schema: "[1,2]" });
  const cat = await (await client(env)).catalog();

  for (const tool of ["broken", "arr"]) {
    const m = cat.get(tool, "m")!;
    assert.equal(m.schemaSource, "none", tool);
    assert.deepEqual(m.schema, { type: "object" });
    assert.ok(m.schemaProblem, `${tool} keeps why its metadata was unusable`);
  }
});

test("no schema anywhere gives {type:'object'} and schemaSource 'none'", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool({ name: "bare", description: "no schema", methods: { go: { handler: () => 0 } } });
  const m = (await (await client(env)).catalog()).get("bare", "go")!;
  assert.deepEqual(m.schema, { type: "object" });
  assert.equal(m.schemaSource, "none");
  assert.equal(m.schemaProblem, undefined);
  assert.equal(m.stream, false);
  assert.equal(m.toolDescription, "no schema");
});

test("catalog change events report exactly what was added, changed and removed", async (t) => {
  const env = await meshEnv(t);
  const n1 = await env.node("n1");
  const n2 = await env.node("n2");
  const cat = await (await client(env)).catalog();
  const changes: CatalogChange[] = [];
  cat.onChange((c) => changes.push(c));
  const summary = (c: CatalogChange) => ({
    added: c.added.map((e) => `${e.tool}.${e.method}@${e.nodes.join(",")}`),
    changed: c.changed.map((e) => `${e.tool}.${e.method}@${e.nodes.join(",")}`),
    removed: c.removed.map((e) => `${e.tool}.${e.method}`),
  });
  const next = async (what: string) => {
    await waitFor(() => changes.length > 0, what);
    return summary(changes.shift()!);
  };

  await n1.registerTool(calc());
  assert.deepEqual(await next("tool registered on n1"), { added: ["calc.add@n1", "calc.count@n1"], changed: [], removed: [] });

  await n2.registerTool(calc());
  assert.deepEqual(await next("tool registered on n2"), { added: [], changed: ["calc.add@n1,n2", "calc.count@n1,n2"], removed: [] });

  await n1.unregisterTool("calc");
  assert.deepEqual(await next("tool unregistered on n1"), { added: [], changed: ["calc.add@n2", "calc.count@n2"], removed: [] });

  await n2.unregisterTool("calc");
  assert.deepEqual(await next("tool unregistered on n2"), { added: [], changed: [], removed: ["calc.add", "calc.count"] });

  // Nothing changes → no event, however often the catalog refreshes.
  await cat.refresh();
  await cat.refresh();
  assert.deepEqual(changes, []);
  assert.deepEqual(cat.methods(), []);
});

test("re-registering a tool with a new schema is one 'changed' event (dropped methods: 'removed')", async (t) => {
  const env = await meshEnv(t);
  const n1 = await env.node("n1");
  await n1.registerTool(calc());
  // Re-registering is unregister + register (two events): a long debounce makes them one refresh.
  const mesh = await env.mesh({ catalog: { refreshIntervalMs: 0, debounceMs: 300 } });
  const cat = await mesh.catalog();
  const changes: CatalogChange[] = [];
  cat.onChange((c) => changes.push(c));

  const newSchema = { type: "object", properties: { a: { type: "string" } } };
  await n1.registerTool(calc({ methods: { add: { schema: newSchema, handler: () => 0 } } }));
  await waitFor(() => changes.length > 0, "a change event");
  assert.equal(changes.length, 1);
  const [change] = changes;
  assert.deepEqual(change!.changed.map((e) => [e.method, e.schema]), [["add", newSchema]]);
  assert.deepEqual(change!.removed.map((e) => e.method), ["count"]);
  assert.deepEqual(change!.added, []);
});

test("discovers 100 services (10 nodes × 10 tools)", async (t) => {
  const env = await meshEnv(t);
  const nodes = await Promise.all(Array.from({ length: 10 }, (_, i) => env.node(`node${i}`)));
  await Promise.all(
    nodes.flatMap((node, i) =>
      Array.from({ length: 10 }, (_, j) =>
        node.registerTool({
          name: `tool_${i}_${j}`,
          version: "1.0.0",
          methods: { run: { schema: { type: "object", properties: { i: { type: "integer", default: i } } }, handler: () => [i, j] } },
        }),
      ),
    ),
  );
  const mesh = await client(env);

  let t0 = performance.now();
  const services = await mesh.listServices();
  const listMs = performance.now() - t0;
  t0 = performance.now();
  const cat = await mesh.catalog();
  const catalogMs = performance.now() - t0;
  console.error(`discovery of 100 services: listServices ${listMs.toFixed(1)} ms, first catalog ${catalogMs.toFixed(1)} ms`);

  assert.equal(services.length, 100);
  assert.equal(new Set(services.map((s) => s.id)).size, 100);
  assert.equal(cat.methods().length, 100);
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 10; j++) {
      const e = cat.get(`tool_${i}_${j}`, "run");
      assert.ok(e, `tool_${i}_${j} discovered`);
      assert.deepEqual(e.nodes, [`node${i}`]);
      assert.equal(e.schemaSource, "metadata");
    }
  }
});

test("a responder slower than the quick stall is found by the patient pass and never dropped by a later quick one", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("fast");
  await node.registerTool(calc());
  // A foreign node that answers $SRV.INFO 150 ms late (a paused process): quick passes miss it.
  const slow = await env.mesh();
  const info = {
    type: "io.nats.micro.v1.info_response", name: "sleepy", id: "SLEEPY1", version: "1.0.0", description: "slow to answer",
    metadata: { node: "slowpoke" }, endpoints: [{ name: "nap", subject: "tools.sleepy.nap", queue_group: "q" }],
  };
  slow.nc.subscribe("$SRV.INFO", { callback: (_e, m) => void setTimeout(() => m.respond(JSON.stringify(info)), 150) });
  await slow.nc.flush();

  const c = await client(env);
  const cat = await c.catalog();
  const changes: CatalogChange[] = [];
  cat.onChange((ch) => changes.push(ch));
  await waitFor(() => cat.get("sleepy", "nap"), "the slow responder in the catalog (patient pass after the first)");
  await cat.refresh(); // a quick pass misses it again; the confirming pass must keep it
  await cat.refresh();
  assert.ok(cat.get("sleepy", "nap"), "the slow responder was dropped by a quick pass");
  assert.deepEqual(changes.flatMap((ch) => ch.removed.map((e) => `${e.tool}.${e.method}`)), []);
});
