/**
 * Progressive discovery end to end: a 2,000-method mesh (real nats-server, real nodes),
 * the built CLI, and a scripted agent (list → search → get → call) on three real
 * clients: the TS SDK v1 (2025-11-25), the TS SDK v2 pinned to 2026-07-28, and the
 * Python MCP SDK (`mcp`, both revisions). The agent must find and call the right method
 * while the tool definitions it reads stay within a budget of a few thousand tokens.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Mesh } from "../../src/mesh/index.js";
import { CLI, mcpEnv, registerCalculator, textOf, waitFor } from "../helpers/mcp.js";
import { connect, type ClientKind, type EraClient } from "../eras/kit.js";
import { runPython } from "../python/venv.js";
import { meshWithTools, startCli } from "../http/helpers.js";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Http } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const T = { timeout: 180_000 };
/** Tokens of tool definitions the agent may read (bytes / 4): a few thousand. */
const BUDGET_TOKENS = 3000;
const QUERY = "convert a temperature from celsius to fahrenheit";
const METHODS = 2000;

const VERBS = ["Converts", "Lists", "Creates", "Deletes", "Updates", "Summarises", "Validates", "Exports", "Imports", "Renders"];
const THINGS = ["invoice", "customer", "shipment", "ticket", "image", "report", "sensor reading", "playlist", "calendar event", "length", "weight", "currency amount", "temperature log", "file", "user"];
const WHERE = ["in the billing system", "for the warehouse", "on the support desk", "in the media library", "for analytics", "in the IoT gateway"];

/**
 * 2,000 methods on 4 nodes (100 tools × 20 methods, each tool on one node), among them
 * the needle units.celsius_to_fahrenheit and near misses (other temperature conversions).
 */
async function bigMesh(nodes: Mesh[]): Promise<void> {
  const tools = METHODS / 20;
  for (let t = 0; t < tools; t++) {
    const methods: Record<string, { schema: Record<string, unknown>; handler: (p: Record<string, unknown>) => unknown }> = {};
    for (let m = 0; m < 20; m++) {
      const i = t * 20 + m;
      const desc = `${VERBS[i % VERBS.length]} a ${THINGS[(i * 7) % THINGS.length]} ${WHERE[(i * 3) % WHERE.length]}.`;
      methods[`op_${String(m).padStart(2, "0")}`] = {
        schema: { type: "object", description: desc, properties: { id: { type: "string", description: "The record id." } } },
        handler: () => `svc_${t}.op_${m}`,
      };
    }
    if (t === 0) {
      // The needle and its near misses replace the first three.
      delete methods.op_00;
      delete methods.op_01;
      delete methods.op_02;
      methods.kelvin_to_celsius = { schema: { type: "object", description: "Converts a temperature from kelvin to degrees Celsius.", properties: { kelvin: { type: "number" } }, required: ["kelvin"] }, handler: (p) => (p.kelvin as number) - 273.15 };
      methods.fahrenheit_to_kelvin = { schema: { type: "object", description: "Converts a temperature from degrees Fahrenheit to kelvin.", properties: { fahrenheit: { type: "number" } }, required: ["fahrenheit"] }, handler: (p) => ((p.fahrenheit as number) - 32) * 5 / 9 + 273.15 };
      methods.c_to_f = {
        schema: { type: "object", description: "Converts a temperature from degrees Celsius to degrees Fahrenheit.", properties: { celsius: { type: "number", description: "Degrees Celsius." } }, required: ["celsius"] },
        handler: (p) => `${((p.celsius as number) * 9) / 5 + 32} °F`,
      };
    }
    await nodes[t % nodes.length]!.registerTool({ name: t === 0 ? "units" : `svc_${String(t).padStart(3, "0")}`, description: `Service ${t}`, methods });
  }
}

const bytes = (v: unknown) => Buffer.byteLength(typeof v === "string" ? v : JSON.stringify(v));

/** The scripted agent on a TS SDK client: list → search → get → call, counting what it read. */
async function tsAgent(client: EraClient): Promise<{ listed: string[]; readBytes: number; picked: string; result: string; isError?: boolean }> {
  const listed = await client.listTools();
  let readBytes = bytes(listed);
  const search = await client.call("mesh_search_tools", { query: QUERY, limit: 5 });
  assert.equal(search.isError, undefined, textOf(search));
  readBytes += bytes(textOf(search));
  const picked = /^1\. (\S+) /m.exec(textOf(search))?.[1];
  assert.ok(picked, textOf(search));
  const got = await client.call("mesh_get_tool", { name: picked });
  readBytes += bytes(textOf(got));
  const def = (got.structuredContent as { tool: { inputSchema: { required?: string[] } } }).tool;
  assert.deepEqual(def.inputSchema.required, ["celsius"]);
  const r = await client.call("mesh_call_tool", { name: picked, arguments: { celsius: 100 } });
  return { listed: listed.map((x) => x.name), readBytes, picked, result: textOf(r), isError: r.isError };
}

test("a 2,000-method mesh: agents on three SDKs find and call the right method within a few thousand tokens of definitions", T, async (t) => {
  const env = await mcpEnv(t);
  const nodes = await Promise.all(["n1", "n2", "n3", "n4"].map((n) => env.node(n)));
  await bigMesh(nodes);
  const ready = async (c: EraClient) => waitFor(async () => {
    const r = await c.call("mesh_search_tools", { query: "", limit: 1 });
    return (r.structuredContent as { total?: number } | undefined)?.total === METHODS || undefined;
  }, "2,000 methods discovered", { timeoutMs: 60_000, intervalMs: 500 });

  // For scale: what listing every method would cost.
  const full = await connect(t, "v1", { wire: "stdio", natsUrl: env.nats.url, args: ["--discovery", "off"] });
  await waitFor(async () => (await full.listTools()).length >= METHODS || undefined, "all methods listed", { timeoutMs: 60_000, intervalMs: 500 });
  const fullTokens = Math.round(bytes(await full.listTools()) / 4);
  await full.close();
  t.diagnostic(`listing all ${METHODS} methods: ${fullTokens} tokens of definitions`);
  assert.ok(fullTokens > 20 * BUDGET_TOKENS, `the full list (${fullTokens} tokens) is far beyond the budget`);

  const seen: string[] = [];
  for (const kind of ["v1", "v2-pinned"] as ClientKind[]) {
    // --discovery auto (the default): 2,000 methods are above the threshold.
    const client = await connect(t, kind, { wire: "stdio", natsUrl: env.nats.url });
    await ready(client);
    const run = await tsAgent(client);
    assert.deepEqual(run.listed, ["mesh_upload_file", "mesh_search_tools", "mesh_get_tool", "mesh_call_tool"], `${kind}: only the meta-tools are listed`);
    assert.equal(run.picked, "units__c_to_f", `${kind}: the right method ranks first`);
    assert.equal(run.isError, undefined, run.result);
    assert.equal(run.result, "212 °F");
    const tokens = Math.round(run.readBytes / 4);
    seen.push(`${kind} (${client.protocolVersion()}): ${tokens} tokens`);
    assert.ok(tokens <= BUDGET_TOKENS, `${kind}: read ${tokens} tokens of definitions (budget ${BUDGET_TOKENS})`);
    await client.close();
  }

  // The Python MCP SDK, both revisions, on the same mesh.
  for (const mode of ["legacy", "2026-07-28"]) {
    const out = JSON.parse(await runPythonWithNats(env.nats.url, mode)) as { protocol: string; listed: string[]; listBytes: number; searchBytes: number; getBytes: number; picked: string; isError: boolean; result: string };
    assert.equal(out.picked, "units__c_to_f", `python ${mode}: the right method`);
    assert.equal(out.isError, false, out.result);
    assert.equal(out.result, "212 °F");
    assert.deepEqual(out.listed, ["mesh_upload_file", "mesh_search_tools", "mesh_get_tool", "mesh_call_tool"], `python ${mode}`);
    if (mode !== "legacy") assert.equal(out.protocol, "2026-07-28");
    const tokens = Math.round((out.listBytes + out.searchBytes + out.getBytes) / 4);
    seen.push(`python mcp ${mode} (${out.protocol}): ${tokens} tokens`);
    assert.ok(tokens <= BUDGET_TOKENS, `python ${mode}: ${tokens} tokens`);
  }
  t.diagnostic(seen.join("; "));
});

function runPythonWithNats(natsUrl: string, mode: string): Promise<string> {
  const prev = process.env.NATS_URL;
  process.env.NATS_URL = natsUrl; // the spawned agent passes its environment to the CLI
  try {
    return runPython("discovery_agent.py", ["--mode", mode, "--query", QUERY, "--args", JSON.stringify({ celsius: 100 }), "--", process.execPath, CLI], undefined, 120_000);
  } finally {
    if (prev === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = prev;
  }
}

test("--discovery on with a small mesh; calls through mesh_call_tool are validated and pinned exactly like direct calls; errors say what to do", T, async (t) => {
  const env = await mcpEnv(t);
  const calls: Array<{ method: string; params: unknown; node: string }> = [];
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  await registerCalculator(n1, calls);
  await registerCalculator(n2, calls);
  for (const kind of ["v1", "v2-pinned"] as ClientKind[]) {
    const c = await connect(t, kind, { wire: "stdio", natsUrl: env.nats.url, args: ["--discovery", "on"] });
    await waitFor(async () => ((await c.call("mesh_search_tools", { query: "add" })).structuredContent as { total?: number } | undefined)?.total === 2 || undefined, "discovered");
    assert.deepEqual((await c.listTools()).map((x) => x.name), ["mesh_upload_file", "mesh_search_tools", "mesh_get_tool", "mesh_call_tool"]);
    // The same validation as a direct call, word for word.
    const direct = await c.call("calculator__add", { a: "x" });
    const meta = await c.call("mesh_call_tool", { name: "calculator__add", arguments: { a: "x" } });
    assert.equal(meta.isError, true);
    assert.equal(textOf(meta), textOf(direct));
    assert.match(textOf(meta), /invalid arguments/);
    // Arguments as a JSON string (strict-mode models), pinned with _node.
    calls.length = 0;
    for (let i = 0; i < 3; i++) assert.equal(textOf(await c.call("mesh_call_tool", { name: "calculator__add", arguments: JSON.stringify({ a: 2, b: 3, _node: "n2" }) })), "5");
    assert.deepEqual(calls.map((x) => x.node), ["n2", "n2", "n2"]);
    // Pinned with _meta "mesh-mcp/node" on the mesh_call_tool request.
    calls.length = 0;
    assert.equal(textOf(await c.call("mesh_call_tool", { name: "calculator__add", arguments: { a: 1, b: 1 } }, { meta: { "mesh-mcp/node": "n1" } })), "2");
    assert.deepEqual(calls.map((x) => x.node), ["n1"]);
    // A method error comes back as the method's own error result.
    const failed = await c.call("mesh_call_tool", { name: "calculator__fail", arguments: {} });
    assert.equal(failed.isError, true);
    assert.match(textOf(failed), /division by zero/);
    // Unknown names and bad arguments: clear errors with what to do next.
    const unknown = await c.call("mesh_call_tool", { name: "nope__x", arguments: {} });
    assert.match(textOf(unknown), /unknown tool "nope__x"/);
    assert.match(textOf(await c.call("mesh_get_tool", { name: "nope__x" })), /no mesh method is named "nope__x".*mesh_search_tools/);
    assert.match(textOf(await c.call("mesh_call_tool", { name: "calculator__add", arguments: "{not json" })), /not JSON/);
    assert.match(textOf(await c.call("mesh_search_tools", { query: "add", limit: 0 })), /"limit" must be an integer from 1 to 50/);
    assert.match(textOf(await c.call("mesh_search_tools", { query: "zzzz" })), /No mesh method matches "zzzz"/);
    // get: the definition exactly as tools/list shows it with discovery off, plus the nodes now.
    const got = (await c.call("mesh_get_tool", { name: "calculator__add" })).structuredContent as { tool: Record<string, unknown>; nodes: string[] };
    assert.deepEqual(got.nodes, ["n1", "n2"]);
    assert.equal(got.tool.description, "Add two numbers.");
    await c.close();
  }
  // The definition mesh_get_tool returns is the one tools/list shows without discovery.
  const plain = await connect(t, "v1", { wire: "stdio", natsUrl: env.nats.url, args: ["--discovery", "off"] });
  const on = await connect(t, "v1", { wire: "stdio", natsUrl: env.nats.url, args: ["--discovery", "on"] });
  const listed = (await plain.listTools()).find((x) => x.name === "calculator__add");
  const got = (await on.call("mesh_get_tool", { name: "calculator__add" })).structuredContent as { tool: unknown };
  assert.deepEqual(got.tool, listed);
});

test("--discovery auto switches at the threshold with one list_changed, and a hidden method stays hidden from search, get and call", T, async (t) => {
  const env = await mcpEnv(t);
  const n1 = await env.node("n1");
  await registerCalculator(n1);
  const c = await connect(t, "v1", { wire: "stdio", natsUrl: env.nats.url, args: ["--discovery-threshold", "2", "--exclude", "secret.*"] });
  await c.watch([]);
  await waitFor(async () => (await c.listTools()).some((x) => x.name === "calculator__add") || undefined, "listed");
  const since = c.heard.length;
  await n1.registerTool({ name: "more", methods: { one: { handler: () => 1 } } });
  await n1.registerTool({ name: "secret", methods: { launch: { schema: { type: "object", description: "Launches the more one calculator." }, handler: () => "boom" } } });
  await waitFor(() => c.heard.slice(since).some((h) => h.method === "notifications/tools/list_changed") || undefined, "list_changed at the switch");
  await waitFor(async () => (await c.listTools()).some((x) => x.name === "mesh_search_tools") || undefined, "meta-tools listed above the threshold");
  const found = (await c.call("mesh_search_tools", { query: "launch secret more one calculator", limit: 50 })).structuredContent as { results: Array<{ name: string }>; total: number };
  assert.equal(found.total, 3);
  assert.ok(!found.results.some((r) => r.name.startsWith("secret")), "excluded methods are not found");
  assert.match(textOf(await c.call("mesh_get_tool", { name: "secret__launch" })), /no mesh method is named/);
  assert.match(textOf(await c.call("mesh_call_tool", { name: "secret__launch", arguments: {} })), /unknown tool/);
});

test("stateless HTTP, both revisions, two processes behind a round-robin balancer: search, get and call need no session state", T, async (t) => {
  const env = await meshWithTools(t);
  const a = await startCli(t, ["--nats", env.nats.url, "--stateless", "--discovery", "on"]);
  const b = await startCli(t, ["--nats", env.nats.url, "--stateless", "--discovery", "on"]);
  let next = 0;
  const roundRobin = (_url: string | URL, init?: RequestInit) => fetch([a.url, b.url][next++ % 2]!, init);
  for (const kind of ["v2-pinned", "v1"] as const) {
    const client = kind === "v1"
      ? new V1Client({ name: "disc-v1", version: "1" })
      : new V2Client({ name: "disc-2026", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await (client as V1Client).connect(kind === "v1" ? new V1Http(new URL(a.url), { fetch: roundRobin }) : (new V2Http(new URL(a.url), { fetch: roundRobin }) as never));
    t.after(() => client.close().catch(() => {}));
    const call = async (name: string, args: Record<string, unknown>) => (await (client as V1Client).callTool({ name, arguments: args })) as { content: Array<{ type: string; text?: string }>; isError?: boolean; structuredContent?: Record<string, unknown> };
    const names = ((await (client as V1Client).listTools()).tools).map((x) => x.name);
    assert.deepEqual(names, ["mesh_upload_file", "mesh_search_tools", "mesh_get_tool", "mesh_call_tool"], kind);
    for (let i = 0; i < 2; i++) {
      // Each request may land on the other process: nothing may depend on an earlier one.
      const found = await call("mesh_search_tools", { query: "add numbers calc", limit: 3 });
      assert.equal((found.structuredContent!.results as Array<{ name: string }>)[0]!.name, "calc__add", `${kind} ${i}`);
      const def = await call("mesh_get_tool", { name: "calc__add" });
      assert.deepEqual((def.structuredContent!.tool as { inputSchema: { required: string[] } }).inputSchema.required, ["a", "b"]);
      const r = await call("mesh_call_tool", { name: "calc__add", arguments: { a: i, b: 40 } });
      assert.equal(textOf(r), String(i + 40), `${kind} ${i}`);
    }
  }
  assert.ok(next >= 12, "the requests went to both processes in turn");
});
