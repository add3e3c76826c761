/**
 * Tool definitions stay put while the fleet changes: nodes joining, leaving and
 * restarting leave every definition byte-identical and send no tools/list_changed;
 * a method appearing or going sends one and leaves the others as they were. Real
 * nats-server, real nodes, the built CLI, real SDK clients of both revisions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Mesh } from "../../src/mesh/index.js";
import { mcpEnv, registerCalculator, sleep, waitFor } from "../helpers/mcp.js";
import { connect, type ClientKind, type EraClient } from "../eras/kit.js";
import { ensureFixtures, goNodes, startNats } from "../helpers/jbmesh.js";

const T = { timeout: 90_000 };
/** Longer than the list_changed debounce (300 ms) and a catalog refresh's follow-up looks. */
const SETTLE_MS = 1500;

async function registerCounter(node: Mesh): Promise<void> {
  await node.registerTool({
    name: "counter",
    version: node.node === "n1" ? "1.0.0" : "1.1.0", // versions differ between nodes, as in a rolling upgrade
    description: "Counts",
    methods: { count: { stream: true, schema: { type: "object", description: "Count up to n.", properties: { n: { type: "integer" } } }, handler: () => "done" } },
  });
}

/** Which nodes offer `key` now, as mesh://tools says. */
async function nodesOf(client: EraClient, key: string): Promise<string[] | undefined> {
  const r = await client.readResource("mesh://tools");
  const list = JSON.parse(r.contents[0]!.text!) as Array<{ tool: string; method: string; nodes: string[] }>;
  return list.find((x) => `${x.tool}.${x.method}` === key)?.nodes;
}

async function waitForNodes(client: EraClient, key: string, want: string[]): Promise<void> {
  await waitFor(async () => JSON.stringify(await nodesOf(client, key)) === JSON.stringify(want) || undefined, `${key} offered by ${want.join(", ")}`, { timeoutMs: 20_000, intervalMs: 100 });
}

const listChanged = (c: EraClient) => c.heard.filter((h) => h.method === "notifications/tools/list_changed").length;

const CASES: Array<{ kind: ClientKind; args: string[] }> = [
  { kind: "v1", args: [] },
  { kind: "v2-pinned", args: [] },
  { kind: "v1", args: ["--node-arg"] },
];

for (const { kind, args } of CASES) {
  test(`nodes joining, leaving and restarting leave every definition byte-identical, without list_changed (${kind}${args.length ? ` ${args.join(" ")}` : ""})`, T, async (t) => {
    const env = await mcpEnv(t);
    const n1 = await env.node("n1");
    await registerCalculator(n1);
    await registerCounter(n1);
    const client = await connect(t, kind, { wire: "stdio", natsUrl: env.nats.url, args: ["--refresh-interval", "1", ...args] });
    await client.watch([]);
    await waitFor(async () => (await client.listTools()).some((x) => x.name === "counter__count") || undefined, "the tools listed");
    const before = JSON.stringify(await client.listTools());
    // The opt-in pinning argument carries no node names.
    if (args.includes("--node-arg")) assert.match(before, /"_node":\{"type":\["string","null"\]/);
    else assert.doesNotMatch(before, /_node/);
    const heardBefore = listChanged(client);

    // A second and a third node join with the same tools (n2 at another version).
    const n2 = await env.node("n2");
    await registerCalculator(n2);
    await registerCounter(n2);
    const n3 = await env.node("n3");
    await registerCalculator(n3);
    await waitForNodes(client, "calculator.add", ["n1", "n2", "n3"]);
    await waitForNodes(client, "counter.count", ["n1", "n2"]);
    await sleep(SETTLE_MS);
    assert.equal(JSON.stringify(await client.listTools()), before, "two nodes joined: the list is byte-identical");

    // n2 leaves; then "restarts" (a new connection and new service instances under the same node name).
    await n2.close();
    await waitForNodes(client, "calculator.add", ["n1", "n3"]);
    await waitForNodes(client, "counter.count", ["n1"]);
    await sleep(SETTLE_MS);
    assert.equal(JSON.stringify(await client.listTools()), before, "a node left: the list is byte-identical");
    const n2again = await env.node("n2");
    await registerCalculator(n2again);
    await waitForNodes(client, "calculator.add", ["n1", "n2", "n3"]);
    await sleep(SETTLE_MS);
    assert.equal(JSON.stringify(await client.listTools()), before, "a node restarted: the list is byte-identical");
    assert.equal(listChanged(client), heardBefore, "no tools/list_changed while only nodes came and went");

    // A method appears: one list_changed; every existing definition stays byte-identical.
    await n3.registerTool({ name: "late", methods: { arrival: { schema: { type: "object", description: "Arrives late." }, handler: () => "here" } } });
    await waitFor(() => listChanged(client) > heardBefore || undefined, "list_changed for the new method", { timeoutMs: 10_000 });
    const withLate = await client.listTools();
    assert.ok(withLate.some((x) => x.name === "late__arrival"));
    assert.equal(JSON.stringify(withLate.filter((x) => x.name !== "late__arrival")), before, "the other definitions are unchanged");
    await sleep(SETTLE_MS);
    assert.equal(listChanged(client), heardBefore + 1, "exactly one list_changed for one method appearing");

    // It goes: one more, and the list is what it was.
    await n3.unregisterTool("late");
    await waitFor(() => listChanged(client) > heardBefore + 1 || undefined, "list_changed for the method gone", { timeoutMs: 10_000 });
    assert.equal(JSON.stringify(await client.listTools()), before);
  });
}

test("the definitions are in a fixed order and repeat nothing (no annotations.title, no node list, no version)", T, async (t) => {
  const env = await mcpEnv(t);
  const [a, b] = await Promise.all([env.node("b-node"), env.node("a-node")]);
  // Registered in reverse order on two nodes: the list comes out sorted all the same.
  await b.registerTool({ name: "zeta", methods: { run: { handler: () => 1 } } });
  await registerCalculator(a);
  await a.registerTool({ name: "alpha", methods: { run: { handler: () => 1 } } });
  const c1 = await connect(t, "v1", { wire: "stdio", natsUrl: env.nats.url });
  await waitFor(async () => (await c1.listTools()).length >= 5 || undefined, "tools");
  const tools = (await c1.listTools()) as Array<Record<string, unknown> & { name: string }>;
  const mesh = tools.filter((x) => !x.name.startsWith("mesh_")).map((x) => x.name);
  assert.deepEqual(mesh, ["alpha__run", "calculator__add", "calculator__fail", "zeta__run"]);
  for (const tool of tools) {
    const ann = tool.annotations as Record<string, unknown> | undefined;
    assert.equal(ann?.title, undefined, `${tool.name}: annotations.title would repeat title`);
    assert.doesNotMatch(JSON.stringify(tool), /a-node|b-node|1\.2\.0/, `${tool.name} names no node or version`);
  }
  // A second process lists the very same bytes.
  const c2 = await connect(t, "v2-pinned", { wire: "stdio", natsUrl: env.nats.url });
  await waitFor(async () => (await c2.listTools()).length >= 5 || undefined, "tools");
  assert.equal(JSON.stringify(await c2.listTools()), JSON.stringify(tools));
});

test("jb-mesh Go nodes (nats-server 2.12): joining, a graceful stop, a crash and a restart leave the definitions byte-identical, without list_changed", { timeout: 120_000 }, async (t) => {
  await ensureFixtures();
  const nats = await startNats("2.12");
  const { nodes, start } = goNodes(() => nats.url);
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await nats.stop();
  });
  await start({ name: "alpha", tools: ["calc", "writer"] });
  const client = await connect(t, "v1", { wire: "stdio", natsUrl: nats.url, args: ["--refresh-interval", "1"] });
  await client.watch([]);
  await waitFor(async () => JSON.stringify(await nodesOf(client, "writer.generate")) === '["alpha"]' || undefined, "alpha's tools", { timeoutMs: 20_000 });
  const before = JSON.stringify(await client.listTools());
  const heard = listChanged(client);
  const beta = await start({ name: "beta", tools: ["calc", "writer"] });
  await waitForNodes(client, "calc.add", ["alpha", "beta"]);
  await sleep(SETTLE_MS);
  assert.equal(JSON.stringify(await client.listTools()), before, "beta joined");
  await beta.kill(); // a crash: no node.left, found by the sweep
  await waitForNodes(client, "calc.add", ["alpha"]);
  await sleep(SETTLE_MS);
  assert.equal(JSON.stringify(await client.listTools()), before, "beta crashed");
  await beta.restart();
  await waitForNodes(client, "calc.add", ["alpha", "beta"]);
  await beta.stop(); // graceful: node.left
  await waitForNodes(client, "calc.add", ["alpha"]);
  await sleep(SETTLE_MS);
  assert.equal(JSON.stringify(await client.listTools()), before, "beta restarted and stopped");
  assert.equal(listChanged(client), heard, "no list_changed while only nodes came and went");
  // A node with a tool nobody had: one list_changed, the rest unchanged.
  await start({ name: "gamma", tools: ["slow"] });
  await waitFor(() => listChanged(client) > heard || undefined, "list_changed for slow.*", { timeoutMs: 15_000 });
  const after = await client.listTools();
  assert.ok(after.some((x) => x.name === "slow__sleep"));
  assert.equal(JSON.stringify(after.filter((x) => !x.name.startsWith("slow__"))), before);
});
