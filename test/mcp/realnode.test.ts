/**
 * The bridge against nodes that behave like the real jb-mesh node (test/helpers/jbnode.ts,
 * written from jb-mesh v0.0.9's pkg/node and jb-service), through a real MCP client:
 * streams on one node, setup failures, error frames, attached files, discovery that
 * follows the mesh whatever the events say, file inputs of streaming methods.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Objm } from "@nats-io/obj";
import { jbNode, type JbFrame } from "../helpers/jbnode.js";
import { mcpEnv, sleep, textOf, waitFor } from "../helpers/mcp.js";

const T = { timeout: 60_000 };

async function* frames(list: JbFrame[], gapMs = 10): AsyncGenerator<JbFrame> {
  for (const f of list) {
    await sleep(gapMs);
    yield f;
  }
}

test("a load-balanced stream runs on exactly one node, and a node whose tool is not running hands over to one that serves", T, async (t) => {
  const env = await mcpEnv(t);
  const [a, b] = await Promise.all([env.mesh(), env.mesh()]);
  const na = await jbNode(a.nc, "na");
  const nb = await jbNode(b.nc, "nb");
  const ran: string[] = [];
  const counter = (node: string, broken: boolean) => ({
    name: "counter",
    methods: {
      count: {
        stream: true,
        frames: async function* () {
          if (broken) throw "tool counter is not running, start it first";
          ran.push(node);
          yield* frames([{ chunk: { progress: 1, message: "one" }, done: false }, { result: { counted: 1, node }, done: true }]);
        },
      },
    },
  });
  await na.register(counter("na", false));
  await nb.register(counter("nb", false));
  const client = await env.client();
  await client.waitForTools(["counter__count"]);
  const t0 = performance.now();
  for (let i = 0; i < 4; i++) {
    const r = await client.call("counter__count");
    assert.equal(r.isError, undefined, textOf(r));
  }
  assert.equal(ran.length, 4, `4 calls ran ${ran.length} jobs (${ran.join(", ")}): every stream must run once`);
  assert.deepEqual([...ran].sort(), ["na", "na", "nb", "nb"], "calls take turns on the two nodes");
  const streamSubjects = [...na.received, ...nb.received].map((r) => r.subject);
  assert.ok(streamSubjects.every((s) => s.startsWith("node.")), `only node-targeted stream subjects: ${streamSubjects.join(", ")}`);

  // nb's tool stops (the node keeps its subscriptions): every call still succeeds, on na.
  await nb.register(counter("nb", true));
  ran.length = 0;
  for (let i = 0; i < 3; i++) {
    const r = await client.call("counter__count");
    assert.equal(r.isError, undefined, textOf(r));
    assert.deepEqual(r.structuredContent, { counted: 1, node: "na" });
  }
  assert.deepEqual(ran, ["na", "na", "na"]);
  // The failed node is avoided for a while, not tried before every call.
  assert.ok(nb.received.filter((r) => r.subject.endsWith(".stream")).length <= 3 + 1, "nb was retried at most once after failing");
  t.diagnostic(`7 stream calls in ${(performance.now() - t0).toFixed(0)} ms`);

  // A single node whose tool is not running: a clear error, at once.
  await na.register(counter("na", true));
  const r = await client.call("counter__count");
  assert.equal(r.isError, true);
  assert.match(textOf(r), /counter\.count failed on node n[ab]: tool counter is not running, start it first/);
});

test("a Python tool that raises mid-stream: its error and traceback end the call at once (an error frame without done)", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  const n = await jbNode(m.nc, "py");
  const tb = 'Traceback (most recent call last):\n  File "main.py", line 12, in count\nValueError: bad input';
  await n.register({
    name: "pytool",
    methods: {
      count: {
        stream: true,
        frames: async function* () {
          yield* frames([{ chunk: { progress: 1 }, done: false }, { error: "ValueError: bad input", traceback: tb }]);
          await sleep(60_000); // the process lingers: only the error frame may end the call
        },
      },
    },
  });
  const client = await env.client({ args: ["--stream-idle-timeout", "30"] });
  await client.waitForTools(["pytool__count"]);
  const t0 = performance.now();
  const r = await client.call("pytool__count");
  const ms = performance.now() - t0;
  assert.equal(r.isError, true);
  assert.match(textOf(r), /pytool\.count failed on node py: ValueError: bad input/);
  assert.match(textOf(r), /File "main\.py", line 12/);
  assert.ok(ms < 5000, `ended after ${ms.toFixed(0)} ms, not at the 30 s idle timeout`);
});

// A 1×1 PNG.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

test("files attached by a Python tool (__mesh_files__, description-typed objects) come as links with their type and images inline, in every result shape", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  // What jb-service's mesh_filestore.put does: no headers, description "<ct>;etag=<hex>".
  const os = await new Objm(m.nc).create("mesh-files");
  const { createHash } = await import("node:crypto");
  await os.putBlob({ name: "outputs/dot.png", description: `image/png;etag=${createHash("sha256").update(PNG).digest("hex")}` }, PNG);
  await os.putBlob({ name: "outputs/notes.txt", description: "text/plain;etag=00" }, new TextEncoder().encode("hello"));
  const ref = (key: string, ct: string, size: number) => ({ key, content_type: ct, size, filename: key.split("/").pop() });
  const n = await jbNode(m.nc, "py");
  await n.register({
    name: "painter",
    methods: {
      // A dict result: __mesh_files__ merged into it.
      dict: { call: async () => ({ ok: true, result: { caption: "a dot", __mesh_files__: [ref("outputs/dot.png", "image/png", PNG.length)] } }) },
      // A non-dict result is wrapped: {"value": …, "__mesh_files__": […]}.
      wrapped: { call: async () => ({ ok: true, result: { value: "done", __mesh_files__: [ref("outputs/notes.txt", "text/plain", 5), ref("outputs/dot.png", "image/png", PNG.length)] } }) },
      // And the same from a stream's final frame.
      streamed: {
        stream: true,
        frames: () => frames([{ chunk: "painting", done: false }, { result: { value: 7, __mesh_files__: [ref("outputs/dot.png", "image/png", PNG.length)] }, done: true }]),
      },
    },
  });
  const client = await env.client({ args: ["--resource-links"] });
  await client.waitForTools(["painter__dict", "painter__wrapped", "painter__streamed"]);

  type C = { type: string; uri?: string; mimeType?: string; data?: string; text?: string };
  const check = async (name: string, links: Record<string, string>, text: RegExp) => {
    const r = await client.call(name);
    assert.equal(r.isError, undefined, textOf(r));
    const content = r.content as C[];
    const got = Object.fromEntries(content.filter((c) => c.type === "resource_link").map((c) => [c.uri, c.mimeType]));
    assert.deepEqual(got, links, `${name}: one link per file, with its content type`);
    const images = content.filter((c) => c.type === "image");
    assert.equal(images.length, 1, `${name}: the PNG inline once`);
    assert.equal(images[0]!.mimeType, "image/png");
    assert.equal(Buffer.from(images[0]!.data!, "base64").equals(PNG), true);
    assert.match(content[0]!.text!, text);
    // No payload twice: the text shows the value, not the file list the links already give.
    assert.doesNotMatch(content[0]!.text!, /__mesh_files__/);
    const read = await client.client.readResource({ uri: "mesh://files/outputs/dot.png" });
    assert.equal(read.contents[0]!.mimeType, "image/png");
  };
  await check("painter__dict", { "mesh://files/outputs/dot.png": "image/png" }, /"caption": "a dot"/);
  await check("painter__wrapped", { "mesh://files/outputs/notes.txt": "text/plain", "mesh://files/outputs/dot.png": "image/png" }, /^done$/);
  await check("painter__streamed", { "mesh://files/outputs/dot.png": "image/png" }, /^7$/);
});

test("the tool list follows the mesh within seconds whatever the events say: none, too early, or before the node goes", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  const n = await jbNode(m.nc, "quiet");
  const tool = (name: string) => ({ name, methods: { run: { call: async () => ({ ok: true, result: name }) } } });
  await n.register(tool("first"));
  const client = await env.client();
  await client.waitForTools(["first__run"]);
  const since = performance.now();

  // 1. Registered with no event at all (a Go program on pkg/mesh alone): the periodic sweep finds it.
  let t0 = performance.now();
  await n.register(tool("silent"));
  await client.waitForTools(["silent__run"], 15_000);
  const silentMs = performance.now() - t0;

  // 2. tool.started sent 1.2 s before the services register (pkg/node order): a later look finds it.
  t0 = performance.now();
  n.event("tool.started", { tool: "early" });
  await sleep(1200);
  await n.register(tool("early"));
  await client.waitForTools(["early__run"], 15_000);
  const earlyMs = performance.now() - t0;

  // 3. node.left, and the services stop 2 s later (pkg/node stops tools one by one).
  t0 = performance.now();
  n.event("node.left");
  await sleep(2000);
  await n.unregister("silent");
  await n.unregister("early");
  await waitFor(async () => !(await client.listTools()).some((x) => x.name === "silent__run" || x.name === "early__run"), "the node's tools to go", { timeoutMs: 15_000, intervalMs: 100 });
  const leftMs = performance.now() - t0;
  t.diagnostic(`no event: ${silentMs.toFixed(0)} ms; tool.started 1.2 s early: ${earlyMs.toFixed(0)} ms; node.left 2 s early: ${leftMs.toFixed(0)} ms`);
  assert.ok(silentMs < 9000, `a tool registered without an event appeared after ${silentMs.toFixed(0)} ms`);
  assert.ok(earlyMs < 5000, `a tool announced early appeared ${earlyMs.toFixed(0)} ms after its event`);
  assert.ok(leftMs < 6000, `a leaving node's tools went ${leftMs.toFixed(0)} ms after node.left`);
  // No flapping: each change is announced, not a stream of on/off.
  await sleep(1000);
  const changes = client.received("notifications/tools/list_changed", since).length;
  assert.ok(changes >= 3 && changes <= 5, `${changes} list_changed notifications for 3 changes`);
  assert.ok(client.alive);
});

test("services whose names are not NATS subject tokens are left out of the tool list, with a warning", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  const n = await jbNode(m.nc, "ok");
  await n.register({ name: "good", methods: { run: { call: async () => ({ ok: true, result: 1 }) } } });
  // Raw micro answers (the JS and Go micro libraries refuse such names; other stacks do not).
  const info = (name: string, node: string, method: string) => JSON.stringify({
    type: "io.nats.micro.v1.info_response", name, id: `ID${name.replace(/\W/g, "")}`, version: "1.0.0", description: "", metadata: { node },
    endpoints: [{ name: method, subject: `tools.${name}.${method}`, queue_group: "q", metadata: { schema: "{}" } }],
  });
  const answers = [info("my tool", "ok2", "run"), info("dotted", "ok2", "a.b"), info("nodey", "has space", "run")];
  for (const subject of ["$SRV.INFO", "$SRV.PING"]) {
    m.nc.subscribe(subject, { callback: (_e, msg) => answers.forEach((a) => msg.respond(a)) });
  }
  const client = await env.client();
  const tools = await client.waitForTools(["good__run"]);
  assert.deepEqual(tools.filter((x) => /my|dotted|nodey/.test(x.name)).map((x) => x.name), []);
  await waitFor(() => /left out service "nodey" of node "has space": "has space" is not a valid NATS subject token/.test(client.stderr), "the warning for nodey").catch((e) => { throw new Error(`${e.message}\n${client.stderr}`); });
  assert.match(client.stderr, /left out service "my tool"[^\n]*"my tool" is not a valid NATS subject token/);
  assert.match(client.stderr, /left out service "dotted"[^\n]*"a\.b" is not a valid NATS subject token/);
  await sleep(6000); // a periodic sweep or two
  assert.equal(client.stderr.match(/left out service "dotted"/g)?.length, 1, "warned once, not at every refresh");
  assert.equal((await client.call("good__run")).isError, undefined);
});

test("a file-store key given to a streaming method goes by request/reply, where jb-mesh nodes fetch it (they do not for streams)", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  await m.files.put("uploads/a1/in.png", PNG, "image/png");
  const n = await jbNode(m.nc, "gpu");
  await n.register({
    name: "vision",
    methods: {
      describe: {
        stream: true,
        schema: { type: "object", properties: { image: { type: "string" } } },
        call: async (p) => ({ ok: true, result: { got: p.image } }),
        frames: (p) => frames([{ result: { got: p.image }, done: true }]),
      },
    },
  });
  const client = await env.client();
  await client.waitForTools(["vision__describe"]);
  const r = await client.call("vision__describe", { image: "uploads/a1/in.png" });
  assert.equal(r.isError, undefined, textOf(r));
  assert.deepEqual(n.received.map((x) => x.subject), ["node.gpu.tools.vision.describe"], "the request/reply subject, not .stream");
  assert.match(textOf(r), /without streaming so the node fetches image from the file store/);
  // Without a file key, it streams as usual.
  const plain = await client.call("vision__describe", { image: "just text" });
  assert.equal(plain.isError, undefined, textOf(plain));
  assert.equal(n.received.at(-1)!.subject, "node.gpu.tools.vision.describe.stream");
});

test("request/reply: a node that answers 'tool X is not running' hands the call to a node that serves it; one node alone gives the error", T, async (t) => {
  const env = await mcpEnv(t);
  const [a, b] = await Promise.all([env.mesh(), env.mesh()]);
  const ran: string[] = [];
  const calc = (node: string, running: boolean) => ({
    name: "calc",
    methods: {
      add: {
        schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } },
        call: async (p: Record<string, unknown>) => {
          if (!running) return { ok: false, error: "tool calc is not running, start it first" };
          ran.push(node);
          return { ok: true, result: (p.a as number) + (p.b as number) };
        },
      },
    },
  });
  const na = await jbNode(a.nc, "na");
  const nb = await jbNode(b.nc, "nb");
  await na.register(calc("na", true));
  await nb.register(calc("nb", false));
  const client = await env.client();
  await client.waitForTools(["calc__add"]);
  for (let i = 0; i < 4; i++) assert.equal(textOf(await client.call("calc__add", { a: i, b: 1 })), String(i + 1));
  assert.deepEqual(ran, ["na", "na", "na", "na"]);
  assert.ok(nb.received.length <= 2, `the stopped node was asked ${nb.received.length} times for 4 calls`);
  // Pinned to the stopped node: its error, as it said it.
  const pinned = await client.call("calc__add", { a: 1, b: 1, _node: "nb" });
  assert.equal(pinned.isError, true);
  assert.match(textOf(pinned), /calc\.add failed on node nb: tool calc is not running, start it first/);
});
