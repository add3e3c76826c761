/**
 * Where the real jb-mesh disagrees with what the bridge assumed (issue 14, item 3),
 * asserted as a user would notice it, against the jb-mesh node fixtures on
 * nats-server 2.9 and 2.12:
 * - a load-balanced stream runs on exactly one node, and a node that cannot serve
 *   it ("tool X is not running") does not fail a call a healthy node serves;
 * - a stream frame with `error` is final, with or without `done`;
 * - files a Python tool attached (`__mesh_files__`, content type in the object's
 *   description) come back as resource links with their type and inline images;
 * - the tool list follows nodes that leave (node.left goes out before the
 *   services stop), crash, or register with no event, within seconds;
 * - a call or stream whose node dies ends with isError within seconds;
 * - uploads reach streaming methods of Go-served tools;
 * - manifest types (`int`, `str`, …) become JSON Schema types.
 * They failed before the `bridge` branch's fixes (and, for the types, this
 * branch's); they guard those fixes now.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GoNode, goNodes, NATS_FLAVOURS, startNats } from "../helpers/jbmesh.js";
import { McpClient, sleep, textOf, waitFor, within } from "../helpers/mcp.js";
import type { NatsServer } from "../helpers/nats-server.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = { timeout: 30_000 };

for (const flavour of NATS_FLAVOURS) {
  describe(`bridge follows the real jb-mesh (nats-server ${flavour})`, () => {
    let nats: NatsServer;
    let alpha: GoNode;
    let beta: GoNode;
    let client: McpClient;
    let dir: string;
    const { nodes, start } = goNodes(() => nats.url);
    /** The nodes offering `tool`, as mesh://tools says. */
    const offeredOn = (tool: string): Promise<string[]> => client.nodesOf(tool);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "mesh-mcp-jbmesh-"));
      nats = await startNats(flavour);
      // alpha attaches files with jb-service's own write (nats-py).
      alpha = await start({ name: "alpha", pythonAttach: true });
      beta = await start({ name: "beta", tools: ["calc", "writer"] });
      // A long idle timeout: nothing here may pass by waiting for it.
      // --resource-links: the attached files' links (with their MIME type) are checked too.
      client = await McpClient.start({ natsUrl: nats.url, args: ["--allow-dir", dir, "--stream-idle-timeout", "60", "--resource-links"] });
      await client.waitForTools(["calc__add", "writer__generate", "slow__sleep", "images__render"], 10_000);
      await waitFor(async () => (await offeredOn("writer__generate")).length === 2, "writer on alpha and beta", { timeoutMs: 5000 });
    });
    after(async () => {
      await client?.close();
      await Promise.all(nodes.map((n) => n.kill()));
      await nats?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a load-balanced stream runs on exactly one of the nodes that offer it", T, async () => {
      const before = [alpha, beta].map((n) => n.events.length);
      const { result } = await client.callWithProgress("writer__generate", { prompt: "once", n: 2, delay_ms: 20 });
      assert.equal(result.isError, undefined, textOf(result));
      await sleep(300);
      const runs = [alpha, beta].flatMap((n, i) => n.events.slice(before[i]).filter((e) => e.ev === "stream" && e.method === "generate"));
      assert.equal(runs.length, 1, `the job ran ${runs.length} times`);
    });

    test("a node whose tool is not running does not fail a stream a healthy node serves", T, async () => {
      const sick = await start({ name: "sick", tools: ["writer"], notRunning: ["writer"] });
      await waitFor(async () => (await offeredOn("writer__generate")).includes("sick"), "sick offers writer", { timeoutMs: 5000 });
      for (let i = 0; i < 4; i++) {
        const r = await within(client.call("writer__generate", { prompt: `p${i}`, n: 1, delay_ms: 10 }), 10_000, "stream");
        assert.equal(r.isError, undefined, `call ${i}: ${textOf(r)}`);
        assert.match(textOf(r), new RegExp(`p${i} done`));
      }
      // Pinned to it, the node's setup error is the answer, at once.
      const pinned = await within(client.call("writer__generate", { prompt: "x", _node: "sick" }), 5000, "pinned stream");
      assert.equal(pinned.isError, true);
      assert.match(textOf(pinned), /tool writer is not running, start it first/);
      await sick.stop();
    });

    test("an error frame without done ends the stream at once with the exception's text", T, async () => {
      const t0 = Date.now();
      const r = await within(client.call("writer__explode", { after: 2, _node: "alpha" }), 6000, "writer__explode");
      assert.equal(r.isError, true);
      assert.match(textOf(r), /RuntimeError: the model ran out of memory/);
      assert.ok(Date.now() - t0 < 5000, `ended after ${Date.now() - t0} ms`);
    });

    const checkAttached = async (r: Json) => {
      assert.equal(r.isError, undefined, textOf(r));
      const link = r.content.find((c: Json) => c.type === "resource_link");
      assert.ok(link, `a resource_link in ${JSON.stringify(r.content).slice(0, 400)}`);
      assert.match(link.uri, /^mesh:\/\/files\/outputs\/[A-Za-z0-9]+\.png$/);
      assert.equal(link.mimeType, "image/png");
      const image = r.content.find((c: Json) => c.type === "image");
      assert.ok(image, "the attached image inline");
      assert.equal(image.mimeType, "image/png");
      assert.deepEqual([...Buffer.from(image.data, "base64").subarray(1, 4)], [...Buffer.from("PNG")]);
      const read = await client.client.readResource({ uri: link.uri });
      assert.equal((read.contents[0] as Json).mimeType, "image/png", "the description-typed object reads as image/png");
    };

    test("attach_file output (__mesh_files__, type in the description): resource link and inline image", T, async () => {
      await checkAttached(await client.call("images__render", { text: "hi" }));
    });

    test("a non-object result wrapped as {value, __mesh_files__}: the value and the image", T, async () => {
      const r = await client.call("images__render_plain", { text: "plain" });
      await checkAttached(r);
      assert.match(textOf(r), /rendered plain/);
    });

    test("an upload reaches a streaming method of a Go-served tool", T, async () => {
      const bytes = Buffer.from("\x89PNG fake image for a stream");
      const path = join(dir, "in.png");
      writeFileSync(path, bytes);
      const up = await client.call("mesh_upload_file", { path });
      const key = (up.structuredContent as Json).key as string;
      const r = await within(client.call("images__describe_stream", { image: key }), 6000, "describe_stream");
      assert.equal(r.isError, undefined, textOf(r));
      assert.equal((r.structuredContent as Json).sha256, createHash("sha256").update(bytes).digest("hex"));
    });

    test("manifest types (int, str, list, float) become JSON Schema types, and arguments are validated", T, async () => {
      const add = (await client.tool("calc__add"))!.inputSchema as Json;
      assert.equal(add.properties.a.type, "integer");
      const gen = (await client.tool("writer__generate"))!.inputSchema as Json;
      assert.equal(gen.properties.prompt.type, "string");
      assert.equal(gen.properties.tags.type, "array");
      assert.equal(gen.properties.tags.items.type, "string");
      assert.equal(((await client.tool("calc__divide"))!.inputSchema as Json).properties.b.type, "number");
      const since = alpha.events.length + beta.events.length;
      const bad = await client.call("calc__add", { a: "two", b: 1 });
      assert.equal(bad.isError, true);
      assert.equal(alpha.events.length + beta.events.length, since, "an invalid call never reaches a node");
    });

    test("a node that leaves (node.left before its services stop) is gone from the list within seconds", T, async () => {
      const leaving = await start({ name: "leaving", tools: ["calc"], stopDelayMs: 2000 });
      await waitFor(async () => (await offeredOn("calc__add")).includes("leaving"), "leaving offers calc", { timeoutMs: 5000 });
      await leaving.stop();
      await waitFor(async () => !(await offeredOn("calc__add")).includes("leaving"), "leaving gone from calc__add", { timeoutMs: 6000, intervalMs: 200 });
    });

    test("a node that crashes (SIGKILL, no event) is gone from the list within seconds", T, async () => {
      const crashing = await start({ name: "crashing", tools: ["calc"] });
      await waitFor(async () => (await offeredOn("calc__add")).includes("crashing"), "crashing offers calc", { timeoutMs: 5000 });
      await crashing.kill();
      await waitFor(async () => !(await offeredOn("calc__add")).includes("crashing"), "crashing gone from calc__add", { timeoutMs: 6000, intervalMs: 200 });
    });

    test("tools registered with no event at all (pkg/mesh alone) are listed within seconds", T, async () => {
      await start({ name: "quiet", tools: ["calc"], noEvents: true });
      await waitFor(async () => (await offeredOn("calc__add")).includes("quiet"), "quiet offers calc", { timeoutMs: 6000, intervalMs: 200 });
    });

    test("a node dying mid-call: the call ends with isError within seconds", T, async () => {
      const doomed = await start({ name: "doomed", tools: ["slow"] });
      await waitFor(async () => (await offeredOn("slow__sleep")).includes("doomed"), "doomed offers slow", { timeoutMs: 5000 });
      const pending = client.call("slow__sleep", { seconds: 60, _node: "doomed" });
      await doomed.waitForEvent("call", (e) => e.method === "sleep");
      await doomed.kill();
      const r = await within(pending, 8000, "the call on the dead node");
      assert.equal(r.isError, true);
      assert.match(textOf(r), /doomed/);
    });

    test("a node dying mid-stream: the stream ends with isError within seconds", T, async () => {
      const doomed = await start({ name: "doomed2", tools: ["slow"] });
      await waitFor(async () => (await offeredOn("slow__ticks")).includes("doomed2"), "doomed2 offers slow", { timeoutMs: 5000 });
      let progressed!: () => void;
      const first = new Promise<void>((r) => (progressed = r));
      const pending = client.call("slow__ticks", { n: 600, interval_ms: 100, _node: "doomed2" }, { onprogress: () => progressed(), resetTimeoutOnProgress: true });
      await first;
      await doomed.kill();
      const r = await within(pending, 8000, "the stream on the dead node");
      assert.equal(r.isError, true);
    });
  });
}
