/**
 * The file store and the mesh views as MCP resources: listing with pages,
 * templates, reading text and binary, limits, subscriptions, list changes and
 * completion.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Mesh } from "../../src/mesh/index.js";
import { mcpEnv, registerCalculator, waitFor, type McpClient } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

/**
 * The server watches the store from shortly after it connects: put a probe until a
 * resources/list_changed shows that the watch is live, so later checks are exact.
 */
async function watchIsLive(client: McpClient, mesh: Mesh): Promise<void> {
  await client.listTools(); // connected, catalog loaded
  const since = performance.now();
  await waitFor(async () => {
    await mesh.files.put("probe/watch.txt", new TextEncoder().encode(String(Date.now())), "text/plain");
    return client.received("notifications/resources/list_changed", since).length > 0;
  }, "the server's file-store watch", { timeoutMs: 8000, intervalMs: 400 });
}

test("resources/list pages through more than 100 files with nextCursor", T, async (t) => {
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const keys = Array.from({ length: 130 }, (_, i) => `bulk/file-${String(i).padStart(3, "0")}.txt`);
  for (let i = 0; i < keys.length; i += 26) {
    await Promise.all(keys.slice(i, i + 26).map((k) => mesh.files.put(k, new TextEncoder().encode(k), "text/plain")));
  }
  const client = await env.client();
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.client.listResources(cursor ? { cursor } : {});
    pages++;
    assert.ok(page.resources.length <= 100);
    seen.push(...page.resources.map((r) => r.uri));
    cursor = page.nextCursor;
  } while (cursor && pages < 10);
  assert.equal(pages, 2);
  assert.ok(seen.includes("mesh://nodes") && seen.includes("mesh://tools"));
  const files = seen.filter((u) => u.startsWith("mesh://files/"));
  assert.deepEqual(files, keys.map((k) => `mesh://files/${k}`));
  assert.equal(new Set(seen).size, seen.length, "no resource twice");
  const one = (await client.client.listResources()).resources.find((r) => r.uri === `mesh://files/${keys[0]}`);
  assert.equal(one?.mimeType, "text/plain");
  assert.equal(one?.name, keys[0]);
});

test("resources/templates/list offers mesh://files/{+key} and mesh://nodes/{node}", T, async (t) => {
  const env = await mcpEnv(t);
  const client = await env.client();
  const { resourceTemplates } = await client.client.listResourceTemplates();
  const uris = resourceTemplates.map((x) => x.uriTemplate);
  assert.ok(uris.includes("mesh://files/{+key}"));
  assert.ok(uris.includes("mesh://nodes/{node}"));
  for (const x of resourceTemplates) assert.ok(x.description && x.name);
});

test("resources/read: text files as text, binary files as an exact base64 blob", T, async (t) => {
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const text = "héllo wörld\nline 2 ✓\n";
  await mesh.files.put("docs/readme.md", new TextEncoder().encode(text), "text/markdown");
  await mesh.files.put("docs/data.json", new TextEncoder().encode('{"a":1}'), "application/json");
  const bin = new Uint8Array(Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(300_000)]));
  await mesh.files.put("blobs/random.bin", bin, "application/octet-stream");
  const client = await env.client();

  const md = await client.client.readResource({ uri: "mesh://files/docs/readme.md" });
  assert.deepEqual(md.contents, [{ uri: "mesh://files/docs/readme.md", mimeType: "text/markdown", text }]);
  const json = await client.client.readResource({ uri: "mesh://files/docs/data.json" });
  assert.equal((json.contents[0] as { text?: string }).text, '{"a":1}');

  const b = await client.client.readResource({ uri: "mesh://files/blobs/random.bin" });
  const c = b.contents[0] as { blob?: string; text?: string; mimeType?: string };
  assert.equal(c.text, undefined);
  assert.equal(c.mimeType, "application/octet-stream");
  assert.ok(Buffer.from(c.blob ?? "", "base64").equals(Buffer.from(bin)), "the bytes round-trip exactly");

  await assert.rejects(client.client.readResource({ uri: "mesh://files/docs/missing.txt" }), /has no object "docs\/missing\.txt"/);
  await assert.rejects(client.client.readResource({ uri: "https://example.com/x" }), /unknown resource/);
});

test("--resource-max: a larger file is refused with a clear message", T, async (t) => {
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  await mesh.files.put("big/file.bin", new Uint8Array(5000), "application/octet-stream");
  await mesh.files.put("big/small.txt", new TextEncoder().encode("tiny"), "text/plain");
  const client = await env.client({ args: ["--resource-max", "1000"] });
  await assert.rejects(
    client.client.readResource({ uri: "mesh://files/big/file.bin" }),
    (err: Error) => {
      assert.match(err.message, /"big\/file\.bin" is 5000 bytes, over the limit of 1000 bytes/);
      return true;
    },
  );
  const ok = await client.client.readResource({ uri: "mesh://files/big/small.txt" });
  assert.equal((ok.contents[0] as { text?: string }).text, "tiny");
});

test("resources/subscribe: a put of that key sends notifications/resources/updated; new files send list_changed", T, async (t) => {
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  await mesh.files.put("watched/report.txt", new TextEncoder().encode("v1"), "text/plain");
  const client = await env.client();
  assert.ok(client.client.getServerCapabilities()?.resources?.subscribe);
  await watchIsLive(client, mesh);

  await client.client.subscribeResource({ uri: "mesh://files/watched/report.txt" });
  let since = performance.now();
  await mesh.files.put("watched/report.txt", new TextEncoder().encode("v2"), "text/plain");
  const updated = await client.waitForNotification("notifications/resources/updated", {
    since,
    match: (n) => n.params?.uri === "mesh://files/watched/report.txt",
  });
  assert.ok(updated.at - since < 2000);
  const now = await client.client.readResource({ uri: "mesh://files/watched/report.txt" });
  assert.equal((now.contents[0] as { text?: string }).text, "v2");
  // Files nobody subscribed to do not send updated.
  since = performance.now();
  await mesh.files.put("other/new.txt", new TextEncoder().encode("x"), "text/plain");
  await client.waitForNotification("notifications/resources/list_changed", { since });
  assert.deepEqual(client.received("notifications/resources/updated", since), []);
  assert.ok((await client.client.listResources()).resources.some((r) => r.uri === "mesh://files/other/new.txt"));

  // After unsubscribe, no more updates.
  await client.client.unsubscribeResource({ uri: "mesh://files/watched/report.txt" });
  since = performance.now();
  await mesh.files.put("watched/report.txt", new TextEncoder().encode("v3"), "text/plain");
  await client.waitForNotification("notifications/resources/list_changed", { since });
  assert.deepEqual(client.received("notifications/resources/updated", since), []);
});

test("completion/complete suggests file keys for mesh://files/{+key}", T, async (t) => {
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  for (const k of ["outputs/a.png", "outputs/b.png", "inputs/c.wav"]) await mesh.files.put(k, new Uint8Array([1]), "application/octet-stream");
  const client = await env.client();
  const ref = { type: "ref/resource" as const, uri: "mesh://files/{+key}" };
  const out = await client.client.complete({ ref, argument: { name: "key", value: "out" } });
  assert.deepEqual(out.completion.values, ["outputs/a.png", "outputs/b.png"]);
  const all = await client.client.complete({ ref, argument: { name: "key", value: "" } });
  assert.deepEqual(all.completion.values, ["inputs/c.wav", "outputs/a.png", "outputs/b.png"]);
  const none = await client.client.complete({ ref, argument: { name: "key", value: "zzz" } });
  assert.deepEqual(none.completion.values, []);
});

test("mesh://nodes and mesh://tools are JSON views of the mesh", T, async (t) => {
  const env = await mcpEnv(t);
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  await registerCalculator(n1);
  await registerCalculator(n2);
  await n2.registerTool({ name: "counter", version: "0.3.0", description: "Counts", methods: { count: { stream: true, handler: () => 1 } } });
  const client = await env.client();

  const nodesRes = await client.client.readResource({ uri: "mesh://nodes" });
  assert.equal(nodesRes.contents[0]!.mimeType, "application/json");
  const nodes = JSON.parse((nodesRes.contents[0] as { text: string }).text) as Record<string, { tools: Record<string, { methods: string[]; version: string }> }>;
  assert.deepEqual(Object.keys(nodes).sort(), ["n1", "n2"]);
  assert.deepEqual(nodes.n1!.tools.calculator!.methods.sort(), ["add", "fail"]);
  assert.equal(nodes.n1!.tools.calculator!.version, "1.2.0");
  assert.equal(nodes.n1!.tools.counter, undefined);
  assert.deepEqual(nodes.n2!.tools.counter!.methods, ["count"]);

  const one = await client.client.readResource({ uri: "mesh://nodes/n2" });
  assert.equal(JSON.parse((one.contents[0] as { text: string }).text).node, "n2");

  const toolsRes = await client.client.readResource({ uri: "mesh://tools" });
  const tools = JSON.parse((toolsRes.contents[0] as { text: string }).text) as Array<{ name: string; tool: string; method: string; nodes: string[]; stream: boolean }>;
  const add = tools.find((x) => x.name === "calculator__add");
  assert.deepEqual(add && { tool: add.tool, method: add.method, nodes: add.nodes, stream: add.stream }, { tool: "calculator", method: "add", nodes: ["n1", "n2"], stream: false });
  assert.equal(tools.find((x) => x.name === "counter__count")?.stream, true);
});
