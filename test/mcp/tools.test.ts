/**
 * tools/list as an agent sees it: names, schemas, descriptions, filters, and
 * the live updates when nodes add or remove tools.
 */
import { test } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { MethodSchema } from "../../src/mesh/index.js";
import { mcpEnv, registerCalculator, textOf, waitFor } from "../helpers/mcp.js";

const T = { timeout: 30_000 };
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const LONG_METHOD = "render_a_very_detailed_picture_of_the_scene_with_every_layer_and_effect_enabled_v2";

function byName(tools: Tool[], name: string): Tool {
  const t = tools.find((x) => x.name === name);
  assert.ok(t, `tool ${name} in tools/list (got ${tools.map((x) => x.name).join(", ")})`);
  return t;
}

test("names are <tool>__<method>, only [A-Za-z0-9_-], at most 64 chars; long ones get a stable hash suffix", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  await node.registerTool({ name: "painter", methods: { [LONG_METHOD]: { handler: () => "ok" } } });
  await node.registerTool({ name: "img-gen", methods: { run_fast: { handler: () => "fast" } } });

  const [a, b] = await Promise.all([env.client(), env.client()]);
  const tools = await a.listTools();
  for (const tl of tools) assert.match(tl.name, NAME_RE, `${tl.name} is a valid name for Claude/OpenAI`);
  byName(tools, "calculator__add");
  byName(tools, "calculator__fail");
  byName(tools, "img-gen__run_fast");

  const long = tools.filter((x) => x.name.startsWith("painter__"));
  assert.equal(long.length, 1);
  const longName = long[0]!.name;
  assert.equal(longName.length, 64);
  assert.match(longName, /^painter__render_a_very_detailed.*_[0-9a-f]{8}$/);
  assert.equal(long[0]!._meta?.["mesh-mcp/key"], `painter.${LONG_METHOD}`);
  // The suffix comes from the method's key alone, so it is the same in every process and on every machine.
  assert.ok(longName.endsWith(`_${createHash("sha256").update(`painter.${LONG_METHOD}`).digest("hex").slice(0, 8)}`));

  // A second server start (another process) names it the same way, and the name calls the method.
  const other = await b.listTools();
  assert.equal(byName(other, longName).name, longName);
  assert.deepEqual(other.map((x) => x.name).sort(), tools.map((x) => x.name).sort());
  const r = await b.call(longName);
  assert.equal(r.isError, undefined);
  assert.equal(textOf(r), "ok");
  assert.equal(textOf(await a.call("img-gen__run_fast")), "fast");
});

test("inputSchema keeps nested properties, items, defaults and descriptions, and has no `stream`", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const properties = {
    prompt: { type: "string", description: "What to draw", default: "a cat" },
    size: {
      type: "object",
      description: "Output size",
      properties: { w: { type: "integer", default: 512, description: "width" }, h: { type: "integer", default: 512 } },
    },
    tags: { type: "array", description: "Tags", items: { type: "string", description: "one tag" } },
    layers: {
      type: "array",
      items: { type: "object", properties: { name: { type: "string" }, opacity: { type: "number", default: 1 } } },
    },
  };
  const schema: MethodSchema = { type: "object", description: "Render a scene.", properties, required: ["prompt"] };
  await node.registerTool({
    name: "painter",
    version: "2.0.0",
    description: "Paints pictures",
    methods: {
      draw: { schema, handler: () => "drawn" },
      animate: { schema, stream: true, handler: () => "animated" },
    },
  });
  const client = await env.client();
  const tools = await client.listTools();
  for (const name of ["painter__draw", "painter__animate"]) {
    const s = byName(tools, name).inputSchema as Record<string, unknown> & { properties: Record<string, unknown> };
    assert.equal(s.type, "object");
    assert.deepEqual(s.required, ["prompt"]);
    for (const [k, v] of Object.entries(properties)) assert.deepEqual(s.properties[k], v, `${name}: property ${k} intact`);
    assert.ok(!JSON.stringify(s).includes('"stream"'), `${name}: no stream flag in the input schema`);
  }
  // The method's schema description is the tool's description.
  assert.match(byName(tools, "painter__draw").description ?? "", /^Render a scene\./);
});

test("a method without a schema gets an open object schema and takes any arguments", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const seen: unknown[] = [];
  await node.registerTool({ name: "free", methods: { form: { handler: (p) => (seen.push(p), "ok") } } });
  const client = await env.client();
  const s = byName(await client.listTools(), "free__form").inputSchema as Record<string, unknown>;
  assert.equal(s.type, "object");
  assert.equal(s.required, undefined);
  assert.notEqual(s.additionalProperties, false);
  const r = await client.call("free__form", { anything: [1, 2], nested: { x: true } });
  assert.equal(r.isError, undefined);
  assert.deepEqual(seen, [{ anything: [1, 2], nested: { x: true } }]);
});

test("description and schema say what the method does and nothing about nodes; stream methods say they stream progress", T, async (t) => {
  const env = await mcpEnv(t);
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  await registerCalculator(n1);
  await registerCalculator(n2);
  await n1.registerTool({
    name: "counter",
    description: "Counts",
    methods: { count: { stream: true, schema: { type: "object", description: "Count up to n." }, handler: () => "done" } },
  });
  const client = await env.client();
  const tools = await client.listTools();

  const add = byName(tools, "calculator__add");
  // Nothing repeated: no title (the name re-spaced), no annotations (openWorldHint true is the
  // spec's default), no _meta key (the name is plainly tool__method; see the long-name test).
  assert.deepEqual(Object.keys(add).sort(), ["description", "inputSchema", "name"]);
  assert.equal(add.description, "Add two numbers.");
  // No node names anywhere in a definition (they live in mesh://tools and mesh://nodes).
  assert.doesNotMatch(JSON.stringify(tools.filter((x) => !x.name.startsWith("mesh_"))), /\bn1\b|\bn2\b|1\.2\.0/);
  assert.equal((add.inputSchema.properties as Record<string, unknown>)._node, undefined);

  const count = byName(tools, "counter__count");
  assert.equal(count.description, "Count up to n.\n\nStreams progress while it runs.");
});

test("--include / --exclude globs and --node choose what is exposed; --node pins the calls", T, async (t) => {
  const env = await mcpEnv(t);
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  const served: string[] = [];
  await registerCalculator(n1);
  for (const n of [n1, n2]) {
    await n.registerTool({ name: "weather", methods: { forecast: { handler: (_p, ctx) => (served.push(ctx.node), `sunny on ${ctx.node}`) } } });
  }
  await n2.registerTool({ name: "misc", methods: { ping: { handler: () => "pong" } } });

  const [inc, exc, only] = await Promise.all([
    env.client({ args: ["--include", "calculator.*"] }),
    env.client({ args: ["--exclude", "*.fail", "--exclude", "weather.*"] }),
    env.client({ args: ["--node", "n2"] }),
  ]);
  const meshNames = (tools: Tool[]) => tools.map((x) => x.name).filter((n) => !n.startsWith("mesh_")).sort();

  assert.deepEqual(meshNames(await inc.listTools()), ["calculator__add", "calculator__fail"]);
  assert.deepEqual(meshNames(await exc.listTools()), ["calculator__add", "misc__ping"]);

  const onlyTools = await only.listTools();
  assert.deepEqual(meshNames(onlyTools), ["misc__ping", "weather__forecast"]);
  const forecast = byName(onlyTools, "weather__forecast");
  assert.doesNotMatch(JSON.stringify(forecast), /n1|n2/);
  for (let i = 0; i < 8; i++) assert.equal(textOf(await only.call("weather__forecast")), "sunny on n2");
  assert.deepEqual(new Set(served), new Set(["n2"]));
  // A filtered-out tool cannot be called by name either.
  const hidden = await inc.call("misc__ping");
  assert.equal(hidden.isError, true);
  assert.match(textOf(hidden), /unknown tool/);
});

test("the files tool appears when a node registers it", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await node.registerFileTool();
  const client = await env.client();
  const tools = await client.listTools();
  for (const m of ["put", "get", "head", "delete", "list"]) byName(tools, `files__${m}`);
  assert.equal(byName(tools, "files__get").annotations?.readOnlyHint, true);
  assert.equal(byName(tools, "files__delete").annotations?.destructiveHint, true);
  const put = await client.call("files__put", { key: "notes/a.txt", data: Buffer.from("hello").toString("base64"), content_type: "text/plain" });
  assert.equal(put.isError, undefined, textOf(put));
  assert.equal((await node.files.getBytes("notes/a.txt")).data.length, 5);
});

test("tools/list_changed arrives within 2 s when a node adds or removes a tool, and tools/list follows", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const client = await env.client();
  await client.waitForTools(["calculator__add"]);

  let since = performance.now();
  await node.registerTool({ name: "late", methods: { arrival: { handler: () => "here" } } });
  const added = await client.waitForNotification("notifications/tools/list_changed", { since, timeoutMs: 2000 });
  assert.ok(added.at - since < 2000);
  assert.ok((await client.listTools()).some((x) => x.name === "late__arrival"), "tools/list shows the new tool");

  since = performance.now();
  await node.unregisterTool("late");
  await client.waitForNotification("notifications/tools/list_changed", { since, timeoutMs: 2000 });
  const after = await client.listTools();
  assert.ok(!after.some((x) => x.name === "late__arrival"), "tools/list no longer shows it");
  assert.ok(after.some((x) => x.name === "calculator__add"));

});
