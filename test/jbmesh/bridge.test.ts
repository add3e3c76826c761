/**
 * The bridge end to end against jb-mesh node fixtures (Go, serving tools the way
 * a deployed jb-mesh node with Python tools does), driven by the MCP SDK client
 * through the built CLI, on Debian's nats-server 2.9 and on 2.12.
 *
 * What the bridge is still being fixed for (streams running on every node, error
 * frames without done, __mesh_files__, late events, dying nodes) is in
 * bridge-real-mesh.test.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goCaller, GoNode, goNodes, NATS_FLAVOURS, startNats } from "../helpers/jbmesh.js";
import { McpClient, textOf, waitFor } from "../helpers/mcp.js";
import type { NatsServer } from "../helpers/nats-server.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = { timeout: 30_000 };

function props(tool: { inputSchema: unknown }): Json {
  return (tool.inputSchema as Json).properties as Json;
}

for (const flavour of NATS_FLAVOURS) {
  describe(`bridge ↔ jb-mesh fixtures (nats-server ${flavour})`, () => {
    let nats: NatsServer;
    let alpha: GoNode;
    let beta: GoNode;
    let client: McpClient;
    let dir: string;
    const { nodes, start } = goNodes(() => nats.url);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "mesh-mcp-jbmesh-"));
      nats = await startNats(flavour);
      // alpha is a v0.0.9 node (with the `files` tool), beta a v0.0.2 one.
      alpha = await start({ name: "alpha" });
      beta = await start({ name: "beta", tools: ["calc", "writer"], flavour: "v0.0.2" });
      client = await McpClient.start({ natsUrl: nats.url, args: ["--allow-dir", dir, "--stream-idle-timeout", "3"] });
      await client.waitForTools(["calc__add", "writer__generate", "slow__sleep", "images__render", "files__put"], 10_000);
    });
    after(async () => {
      await client?.close();
      await Promise.all(nodes.map((n) => n.kill()));
      await nats?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("discovery: every method of every manifest, the nodes offering it, and the schema's fields", T, async () => {
      const tools = await client.listTools();
      const names = tools.map((t) => t.name);
      for (const n of ["calc__add", "calc__divide", "calc__whoami", "calc__health", "writer__generate", "writer__explode",
        "slow__sleep", "slow__ticks", "images__render", "images__describe", "files__get", "files__list"]) {
        assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
      }
      const add = tools.find((t) => t.name === "calc__add")!;
      assert.deepEqual(Object.keys(props(add)).sort(), ["a", "b"]);
      assert.deepEqual((add.inputSchema as Json).required, ["a", "b"]);
      assert.deepEqual(await client.nodesOf("calc__add"), ["alpha", "beta"]);
      assert.equal(props(add).a.description, "First number");
      const gen = tools.find((t) => t.name === "writer__generate")!;
      assert.match(gen.description ?? "", /What to write/);
      assert.equal(props(gen).n.default, 3);
      assert.deepEqual(props(gen).tags.items, (props(gen).tags.items as Json), "nested items kept");
      assert.ok(!JSON.stringify(gen.inputSchema).includes('"stream"'));
      // A method whose manifest has no input: `{}` in the metadata, an open schema here.
      const health = tools.find((t) => t.name === "calc__health")!;
      assert.equal((health.inputSchema as Json).type, "object");
      // The `files` tool comes from the v0.0.9 node only.
      const filesGet = tools.find((t) => t.name === "files__get")!;
      assert.ok(filesGet);
      assert.deepEqual(await client.nodesOf("files__get"), ["alpha"]);
    });

    test("calls are load-balanced over both nodes and pinned with _node", T, async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20 && seen.size < 2; i++) {
        const r = await client.call("calc__whoami");
        assert.equal(r.isError, undefined, textOf(r));
        seen.add((r.structuredContent as Json).node);
      }
      assert.deepEqual([...seen].sort(), ["alpha", "beta"]);
      for (let i = 0; i < 5; i++) {
        const r = await client.call("calc__whoami", { _node: "beta" });
        assert.equal((r.structuredContent as Json).node, "beta");
      }
      const add = await client.call("calc__add", { a: 2, b: 40, _node: "alpha" });
      assert.equal(textOf(add), "42");
    });

    test("a Python tool's exception: isError with its type, message and traceback, naming the node", T, async () => {
      const r = await client.call("calc__divide", { a: 1, b: 0, _node: "beta" });
      assert.equal(r.isError, true);
      const text = textOf(r);
      assert.match(text, /ValueError: Cannot divide by zero/);
      assert.match(text, /Traceback \(most recent call last\)/);
      assert.match(text, /beta/);
    });

    test("a pinned stream: chunks as progress, the result at the end, run on that node only", T, async () => {
      const since = alpha.events.length;
      const { result, progress } = await client.callWithProgress("writer__generate", { prompt: "hello", n: 3, delay_ms: 30, _node: "alpha" });
      assert.equal(result.isError, undefined, textOf(result));
      assert.match(textOf(result), /hello done/);
      assert.ok(progress.length >= 2, `progress notifications: ${progress.length}`);
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.progress > progress[i - 1]!.progress);
      assert.equal(alpha.events.slice(since).filter((e) => e.ev === "stream").length, 1);
    });

    test("cancelling a call reaches the tool on the node (cancel.<call_id>)", T, async () => {
      const since = alpha.events.length;
      const ac = new AbortController();
      const pending = client.call("slow__sleep", { seconds: 20 }, { signal: ac.signal });
      const call = await alpha.waitForEvent("call", (e) => e.method === "sleep", { since });
      ac.abort();
      await assert.rejects(pending);
      const cancel = await alpha.waitForEvent("cancel", (e) => e.call_id === call.call_id, { since, timeoutMs: 5000 });
      assert.equal(cancel.method, "sleep");
    });

    test("cancelling a stream reaches the tool too", T, async () => {
      const since = alpha.events.length;
      const ac = new AbortController();
      let first: () => void;
      const gotProgress = new Promise<void>((r) => (first = r));
      const pending = client.call("slow__ticks", { n: 100, interval_ms: 100 }, { signal: ac.signal, onprogress: () => first() });
      await gotProgress;
      ac.abort();
      await assert.rejects(pending);
      const stream = await alpha.waitForEvent("stream", (e) => e.method === "ticks", { since });
      await alpha.waitForEvent("cancel", (e) => e.call_id === stream.call_id, { since, timeoutMs: 5000 });
      const end = await alpha.waitForEvent("stream-end", (e) => e.call_id === stream.call_id, { since, timeoutMs: 5000 });
      assert.ok((end.frames as number) < 100);
    });

    test("upload a local file and hand its key to a tool: the node resolves it to a file", T, async () => {
      const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 13) % 256));
      const path = join(dir, "photo.png");
      writeFileSync(path, bytes);
      const up = await client.call("mesh_upload_file", { path });
      assert.equal(up.isError, undefined, textOf(up));
      const key = (up.structuredContent as Json).key as string;
      const r = await client.call("images__describe", { image: key });
      assert.equal(r.isError, undefined, textOf(r));
      assert.deepEqual(r.structuredContent, { size: 3000, sha256: createHash("sha256").update(bytes).digest("hex"), suffix: ".png" });
    });

    test("an object the Go store wrote (headers) reads back as a resource with its content type", T, async () => {
      const put = await goCaller(nats.url, ["store-put", "notes/go.txt", "text/plain", "written by Go"]);
      assert.equal(put.out.error, undefined, String(put.out.error));
      const read = await client.client.readResource({ uri: "mesh://files/notes/go.txt" });
      const c = read.contents[0] as Json;
      assert.equal(c.mimeType, "text/plain");
      assert.equal(c.text, "written by Go");
    });

    test("a file attached through nats-py (jb-service attach_file) reads back intact, also via the Go node's files.get", T, async () => {
      await start({ name: "pyimg", tools: ["images"], pythonAttach: true });
      await waitFor(async () => (await client.nodesOf("images__render")).includes("pyimg"), "pyimg offers images__render", { timeoutMs: 5000, intervalMs: 100 });
      const r = await client.call("images__render", { text: "py", _node: "pyimg" });
      assert.equal(r.isError, undefined, textOf(r));
      const ref = ((r.structuredContent as Json).__mesh_files__ as Json[])[0]!;
      assert.match(ref.key, /^outputs\/.+\.png$/);
      assert.equal(ref.content_type, "image/png");
      const read = await client.client.readResource({ uri: `mesh://files/${ref.key}` });
      const c = read.contents[0] as Json;
      const bytes = c.blob ? Buffer.from(c.blob, "base64") : Buffer.from(c.text ?? "");
      assert.equal(bytes.length, ref.size);
      assert.deepEqual([...bytes.subarray(1, 4)], [...Buffer.from("PNG")]);
      // The real Go store reads headers only: no content type for a Python-written object.
      const got = await goCaller(nats.url, ["files", "get"], { params: { key: ref.key } });
      assert.equal(got.out.ok, true);
      assert.equal(got.out.content_type, undefined);
      assert.deepEqual(Buffer.from(String(got.out.data), "base64"), bytes);
    });

    test("the files tool of a v0.0.9 node works through the bridge", T, async () => {
      const put = await client.call("files__put", { key: "notes/via-tool.txt", data: Buffer.from("hi").toString("base64"), content_type: "text/plain" });
      assert.equal(put.isError, undefined, textOf(put));
      const head = await client.call("files__head", { key: "notes/via-tool.txt" });
      assert.equal((head.structuredContent as Json).content_type, "text/plain");
    });

    test("a stream whose tool returns None (no terminal frame) ends with isError at the idle timeout", T, async () => {
      const since = alpha.events.length;
      const t0 = Date.now();
      const r = await client.call("writer__silent", { _node: "alpha" });
      assert.equal(r.isError, true);
      assert.ok(Date.now() - t0 < 10_000, "ended by --stream-idle-timeout 3");
      // The node's stream subscription stays blocked on such a call until it is cancelled.
      const stream = await alpha.waitForEvent("stream", (e) => e.method === "silent", { since });
      await alpha.waitForEvent("cancel", (e) => e.call_id === stream.call_id, { since, timeoutMs: 5000 });
    });

    test("a node joining is offered within seconds; one restarting after a crash comes back", T, async () => {
      const gamma = await start({ name: "gamma", tools: ["calc"] });
      await waitFor(async () => (await client.nodesOf("calc__add")).includes("gamma"), "gamma offers calc__add", { timeoutMs: 5000, intervalMs: 100 });
      const r = await client.call("calc__whoami", { _node: "gamma" });
      assert.equal((r.structuredContent as Json).node, "gamma");
      await gamma.kill();
      await gamma.restart();
      const again = await waitFor(async () => {
        const res = await client.call("calc__whoami", { _node: "gamma" });
        return res.isError ? undefined : res;
      }, "gamma answers after its restart", { timeoutMs: 5000, intervalMs: 100 });
      assert.equal((again.structuredContent as Json).node, "gamma");
      await gamma.stop();
    });

    test("node administration through the bridge (--admin): install, config, inspect, uninstall on a Go node", T, async () => {
      const adm = await start({ name: "adm", tools: ["calc"] });
      const admin = await McpClient.start({ natsUrl: nats.url, args: ["--admin"] });
      try {
        await admin.waitForTools(["calc__add", "mesh_admin_install"], 10_000);
        const offered = (tool: string) => admin.nodesOf(tool);
        const bad = await admin.call("mesh_admin_install", { node: "adm", source: "https://example.com/x.git" });
        assert.equal(bad.isError, true);
        assert.match(textOf(bad), /not a fixture:\/\/ source/);
        const ok = await admin.call("mesh_admin_install", { node: "adm", source: "fixture://slow" });
        assert.equal(ok.isError, undefined, textOf(ok));
        assert.match(textOf(ok), /slow/);
        await waitFor(async () => (await offered("slow__sleep")).includes("adm"), "adm offers slow after install", { timeoutMs: 5000, intervalMs: 100 });
        const set = await admin.call("mesh_admin_config", { node: "adm", tool_name: "slow", action: "set", values: { speed: 2 } });
        assert.equal(set.isError, undefined, textOf(set));
        const get = await admin.call("mesh_admin_config", { node: "adm", tool_name: "slow", action: "get" });
        assert.match(textOf(get), /"speed": 2/);
        const inspect = await admin.call("mesh_admin_release_inspect", { node: "adm", tool_name: "slow" });
        assert.match(textOf(inspect), /\/opt\/jb-mesh\/tools\/slow/);
        const un = await admin.call("mesh_admin_uninstall", { node: "adm", tool_name: "slow" });
        assert.equal(un.isError, undefined, textOf(un));
        await waitFor(async () => !(await offered("slow__sleep")).includes("adm"), "adm no longer offers slow", { timeoutMs: 5000, intervalMs: 100 });
        const missing = await admin.call("mesh_admin_uninstall", { node: "adm", tool_name: "slow" });
        assert.equal(missing.isError, true);
        assert.match(textOf(missing), /tool not found: slow/);
      } finally {
        await admin.close();
        await adm.stop();
      }
    });

    test("after a NATS restart the nodes re-register (new ids, node.joined reconnect) and calls go on", T, async () => {
      const since = alpha.events.length;
      await nats.restart();
      await alpha.waitForEvent("reregistered", undefined, { since, timeoutMs: 10_000 });
      const r = await waitFor(async () => {
        const res = await client.call("calc__whoami", { _node: "alpha" });
        return res.isError ? undefined : res;
      }, "alpha answers after the restart", { timeoutMs: 10_000, intervalMs: 200 });
      assert.equal((r.structuredContent as Json).node, "alpha");
      const names = (await client.listTools()).map((t) => t.name);
      for (const n of ["calc__add", "writer__generate", "images__render"]) assert.ok(names.includes(n), `${n} still listed`);
    });
  });
}
