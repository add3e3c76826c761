/**
 * Big results reach the client intact, over stdio with the SDK client: above
 * --result-max the result is stored in the mesh file store and the reply is a link
 * plus a preview (the payload is sent once, when read); small results are unchanged.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { mcpEnv, textOf } from "../helpers/mcp.js";

/** A nats-server that takes 8 MiB messages (the default is 1 MiB), so a node can answer 5 MB. */
function bigPayloadConfig(t: TestContext): string[] {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-bigconf-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "nats.conf");
  writeFileSync(file, "max_payload: 8388608\n");
  return ["-c", file];
}

function bigObject(bytes: number): { rows: Array<{ i: number; text: string }>; note: string } {
  const rows: Array<{ i: number; text: string }> = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const text = `row ${i} ${"é∑x".repeat(20)} ${"abcdefghij".repeat(5)}`;
    rows.push({ i, text });
    size += text.length + 30;
  }
  return { rows, note: "the end" };
}

test("a ~5 MB result arrives intact through a link; the reply itself stays small and has no duplicate", { timeout: 90_000 }, async (t) => {
  const env = await mcpEnv(t, { args: bigPayloadConfig(t) });
  const node = await env.node("n1");
  const big = bigObject(5_000_000);
  await node.registerTool({
    name: "data",
    methods: {
      dump: { handler: () => big },
      small: { handler: () => ({ answer: 42 }) },
      text: { handler: () => "x".repeat(300_000) },
    },
  });
  const client = await env.client({ args: ["--resource-links"] });
  await client.waitForTools(["data__dump"]);

  const t0 = performance.now();
  const r = await client.call("data__dump", {});
  assert.equal(r.isError, undefined, textOf(r).slice(0, 500));
  assert.ok(JSON.stringify(r).length < 16_384, `the reply is small (${JSON.stringify(r).length} chars)`);
  assert.equal(r.structuredContent, undefined, "no second copy as structuredContent");
  assert.match(textOf(r), /The result is \d+ bytes, more than fits in a reply \(--result-max 262144\); it is stored in the mesh file store as results\/.+\/result\.json\. Read it in full with resources\/read mesh:\/\/files\/results\//);
  assert.match(textOf(r), /"rows": \[/, "the preview shows the start of the result");
  const link = r.content.find((c) => c.type === "resource_link") as { uri: string; mimeType: string; size: number } | undefined;
  assert.ok(link, "a resource link");
  assert.equal(link.mimeType, "application/json");
  assert.ok(link.size > 5_000_000);

  const read = await client.client.readResource({ uri: link.uri });
  const contents = read.contents[0] as { text?: string; mimeType?: string };
  assert.equal(typeof contents.text, "string", "JSON is read back as text");
  assert.deepEqual(JSON.parse(contents.text!), big, "every byte arrived");
  assert.ok(client.alive, "the client's connection survived");
  t.diagnostic(`5 MB result: call + read in ${Math.round(performance.now() - t0)} ms, reply ${JSON.stringify(r).length} chars`);

  // A big string result: stored as text/plain, read back equal.
  const s = await client.call("data__text", {});
  const sLink = s.content.find((c) => c.type === "resource_link") as { uri: string; mimeType: string } | undefined;
  assert.ok(sLink && sLink.mimeType.startsWith("text/plain"));
  assert.equal(((await client.client.readResource({ uri: sLink.uri })).contents[0] as { text?: string }).text, "x".repeat(300_000));

  // Small results are as before: text plus structuredContent.
  const small = await client.call("data__small", {});
  assert.deepEqual(small.structuredContent, { answer: 42 });
  assert.equal(textOf(small), JSON.stringify({ answer: 42 }, null, 2));
});

test("--result-max sets the limit (and 0 turns storing off)", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await node.registerTool({ name: "data", methods: { mid: { handler: () => ({ blob: "y".repeat(20_000) }) } } });
  const strict = await env.client({ args: ["--result-max", "10000"] });
  const off = await env.client({ args: ["--result-max", "0"] });
  await strict.waitForTools(["data__mid"]);
  await off.waitForTools(["data__mid"]);
  const linked = await strict.call("data__mid", {});
  // Without --resource-links the URI is in the text only (model providers reject links they cannot fetch).
  assert.ok(!linked.content.some((c) => c.type === "resource_link"));
  const uri = /resources\/read (mesh:\/\/files\/\S+)\./.exec(textOf(linked))?.[1];
  assert.ok(uri, textOf(linked).slice(0, 300));
  assert.equal(linked.structuredContent, undefined);
  const back = (await strict.client.readResource({ uri })).contents[0] as { text?: string };
  assert.deepEqual(JSON.parse(back.text!), { blob: "y".repeat(20_000) });
  const inline = await off.call("data__mid", {});
  assert.deepEqual(inline.structuredContent, { blob: "y".repeat(20_000) });
});
