/**
 * tools/call of mesh methods: validation, results, node errors, pinning, the
 * wire fields every call carries, broken or vanished nodes, and file results.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CallRequest } from "../../src/mesh/index.js";
import { mcpEnv, registerCalculator, textOf } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

test("invalid arguments: isError listing each problem, and nothing reaches the node", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const calls: Array<{ method: string; params: unknown; node: string }> = [];
  await registerCalculator(node, calls);
  const client = await env.client();

  const r = await client.call("calculator__add", { a: "two" });
  assert.equal(r.isError, true);
  const text = textOf(r);
  assert.match(text, /invalid arguments/);
  assert.match(text, /\ba must be number/);
  assert.match(text, /must have required property 'b'/);
  const pinned = await client.call("calculator__add", { a: 1, b: 2, _node: "nope" });
  assert.equal(pinned.isError, true);
  assert.match(textOf(pinned), /node "nope" does not offer this method; it is offered by n1/);
  assert.equal(calls.length, 0, "the handler never ran");

  // The same tool with good arguments does reach it.
  assert.equal(textOf(await client.call("calculator__add", { a: 1, b: 2 })), "3");
  assert.equal(calls.length, 1);
});

test("ok results: objects as text + structuredContent, strings as plain text", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const result = { answer: 42, items: [{ id: 1, tags: ["a"] }], note: "ünïcode ✓" };
  await node.registerTool({
    name: "demo",
    methods: {
      object: { handler: () => result },
      text: { handler: () => "hello world" },
      list: { handler: () => [1, 2, 3] },
    },
  });
  const client = await env.client();

  const obj = await client.call("demo__object");
  assert.equal(obj.isError, undefined);
  assert.deepEqual(obj.structuredContent, result);
  assert.deepEqual(JSON.parse(textOf(obj)), result);

  const str = await client.call("demo__text");
  assert.deepEqual(str.content, [{ type: "text", text: "hello world" }]);
  assert.equal(str.structuredContent, undefined);

  const arr = await client.call("demo__list");
  assert.deepEqual(JSON.parse(textOf(arr)), [1, 2, 3]);
  assert.equal(arr.structuredContent, undefined);
});

test("ok:false from the node: isError with the node's error and the node's name", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const client = await env.client();
  const r = await client.call("calculator__fail");
  assert.equal(r.isError, true);
  assert.match(textOf(r), /calculator\.fail failed on node n1: division by zero/);
});

test("_node pins the call: with two nodes offering a tool every pinned call reaches that node", T, async (t) => {
  const env = await mcpEnv(t);
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  const calls: Array<{ method: string; params: unknown; node: string }> = [];
  await registerCalculator(n1, calls);
  await registerCalculator(n2, calls);
  const client = await env.client();
  for (let i = 0; i < 10; i++) assert.equal(textOf(await client.call("calculator__add", { a: i, b: 1, _node: "n2" })), String(i + 1));
  assert.deepEqual(new Set(calls.map((c) => c.node)), new Set(["n2"]));
  // `_node` is ours: it does not reach the node as a parameter.
  assert.ok(calls.every((c) => !("_node" in (c.params as object))));
  // Unpinned calls are load-balanced over both.
  calls.length = 0;
  for (let i = 0; i < 20; i++) await client.call("calculator__add", { a: 1, b: 1 });
  assert.deepEqual(new Set(calls.map((c) => c.node)), new Set(["n1", "n2"]));
});

test("an unknown tool is an isError result, not a JSON-RPC error", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const client = await env.client();
  const r = await client.call("nosuch__tool", { x: 1 });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /unknown tool "nosuch__tool"/);
  assert.match(textOf(r), /List the tools again|mesh:\/\/tools/);
});

test("every call carries a fresh call_id, and corr copied from args.corr (else a fresh one, for the log store)", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const requests: CallRequest[] = [];
  await node.registerTool({ name: "trace", methods: { me: { handler: (_p, ctx) => (requests.push(ctx.request), "ok") } } });
  const client = await env.client();
  await client.call("trace__me", { corr: "job-7", x: 1 });
  await client.call("trace__me", { corr: "job-7", x: 2 });
  await client.call("trace__me", { x: 3 });
  assert.equal(requests.length, 3);
  const ids = requests.map((r) => r.call_id);
  for (const id of ids) assert.ok(typeof id === "string" && id.length >= 10, `call_id ${id}`);
  assert.equal(new Set(ids).size, 3, "a different call_id per call");
  assert.deepEqual(requests.slice(0, 2).map((r) => r.corr), ["job-7", "job-7"]);
  assert.match(requests[2]!.corr ?? "", /^[A-Za-z0-9]{16,}$/, "a call without one gets a corr of its own");
  assert.notEqual(requests[2]!.corr, requests[2]!.call_id);
  assert.deepEqual(requests.map((r) => r.params.x), [1, 2, 3]);
});

test("a node replying malformed JSON gives a clear isError and the server keeps working", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  // A fake node, at the wire level: it announces tool `fake` in discovery and answers garbage.
  const fake = await env.mesh();
  const info = {
    type: "io.nats.micro.v1.info_response",
    name: "fake",
    id: "FAKE0000000000000001",
    version: "1.0.0",
    description: "a broken node",
    metadata: { node: "fakenode" },
    endpoints: [{ name: "broken", subject: "tools.fake.broken", queue_group: "q", metadata: { schema: JSON.stringify({ type: "object" }) } }],
  };
  for (const subject of ["$SRV.INFO", "$SRV.INFO.fake"]) {
    fake.nc.subscribe(subject, { callback: (_e, msg) => void msg.respond(JSON.stringify(info)) });
  }
  // Like a jb-mesh node: the queue-group endpoint and the node-targeted subject (the bridge picks the node).
  let hits = 0;
  const replies = ["this is <not> json", JSON.stringify({ answer: 1 })];
  for (const [subject, queue] of [["tools.fake.broken", "q"], ["node.fakenode.tools.fake.broken", undefined]] as const) {
    fake.nc.subscribe(subject, { queue, callback: (_e, msg) => void msg.respond(replies[Math.min(hits++, 1)]!) });
  }
  await fake.nc.flush();

  const client = await env.client();
  await client.waitForTools(["fake__broken", "calculator__add"]);
  const r = await client.call("fake__broken", { a: 1 });
  assert.equal(hits, 1);
  assert.equal(r.isError, true);
  assert.match(textOf(r), /fake\.broken: malformed reply on (node\.fakenode\.)?tools\.fake\.broken: not valid JSON/);
  assert.match(textOf(r), /this is <not> json/);
  // Valid JSON of the wrong shape is malformed too.
  const shaped = await client.call("fake__broken", { _node: "fakenode" });
  assert.equal(shaped.isError, true);
  assert.match(textOf(shaped), /malformed reply/);

  assert.equal(textOf(await client.call("calculator__add", { a: 2, b: 2 })), "4");
  assert.ok(client.alive);
});

test("a node that disappears: the call is a no-responders isError (request/reply and streams)", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  await node.registerTool({ name: "counter", methods: { count: { stream: true, handler: () => "done" } } });
  const client = await env.client();
  await client.waitForTools(["calculator__add", "counter__count"]);
  await node.close(); // gone without a goodbye: the catalog still lists it until it rediscovers
  const r = await client.call("calculator__add", { a: 1, b: 2 });
  assert.equal(r.isError, true);
  // Whichever comes first: the call finds no responder, or the catalog has already dropped the tool.
  assert.match(textOf(r), /no node answers right now \(no responders\)[^]*(mesh:\/\/nodes|doctor)|not \(or no longer\) in the mesh/);
  const s = await client.call("counter__count");
  assert.equal(s.isError, true);
  assert.match(textOf(s), /counter\.count: no node answers right now \(no responders\)|"counter__count": it is not \(or no longer\) in the mesh/);
});

// A 1×1 PNG.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

test("a result naming a file-store key: a text line with key and resource URI, the image inline, a resource_link only on request", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await node.registerTool({
    name: "painter",
    methods: {
      draw: {
        handler: async () => {
          const info = await node.files.put("outputs/run 1/dot.png", PNG, "image/png");
          return { key: info.key, width: 1 };
        },
      },
    },
  });
  const client = await env.client();
  const r = await client.call("painter__draw");
  assert.equal(r.isError, undefined, textOf(r));
  assert.deepEqual(r.structuredContent, { key: "outputs/run 1/dot.png", width: 1 });
  assert.deepEqual(r.content.map((c) => c.type), ["text", "text", "image"], "no resource_link by default: providers reject links they cannot fetch");
  assert.match(textOf(r), /mesh file outputs\/run 1\/dot\.png \(image\/png, \d+ bytes\), the image follows; .*mesh:\/\/files\/outputs\/run%201\/dot\.png/);
  const image = r.content.find((c) => c.type === "image");
  assert.ok(image && image.type === "image", "an inline image");
  assert.equal(image.mimeType, "image/png");
  assert.deepEqual(Buffer.from(image.data, "base64"), PNG);

  const linking = await env.client({ args: ["--resource-links"] });
  const linked = await linking.call("painter__draw");
  const link = linked.content.find((c) => c.type === "resource_link");
  assert.ok(link && link.type === "resource_link", "a resource_link with --resource-links");
  assert.equal(link.uri, "mesh://files/outputs/run%201/dot.png");
  assert.equal(link.mimeType, "image/png");
  // The link resolves.
  const read = await client.client.readResource({ uri: link.uri });
  const c0 = read.contents[0] as { blob?: string };
  assert.deepEqual(Buffer.from(c0.blob ?? "", "base64"), PNG);
});
