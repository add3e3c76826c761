import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { MeshConfigError, Mesh, NoRespondersError, type JsonObject } from "../../src/mesh/index.js";
import { deferred, meshEnv, waitFor } from "../helpers/mesh.js";

const json = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;

test("a throwing handler replies ok:false with the error text (Error or not)", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool({
    name: "bad",
    methods: {
      sync: { handler: () => { throw new Error("sync boom"); } },
      async: { handler: async () => { throw new Error("async boom"); } },
      text: { handler: () => { throw "plain string"; } },
    },
  });
  const client = await env.mesh();
  assert.deepEqual(await client.call("bad", "sync"), { ok: false, error: "sync boom", node: "n1" });
  assert.deepEqual(await client.call("bad", "async"), { ok: false, error: "async boom", node: "n1" });
  assert.deepEqual(await client.call("bad", "text"), { ok: false, error: "plain string", node: "n1" });
});

test("malformed request JSON gets ok:false and 'invalid request: …' on every subject", async (t) => {
  const env = await meshEnv(t);
  let ran = 0;
  await (await env.node("n1")).registerTool({ name: "t", methods: { m: { stream: true, handler: () => ++ran } } });
  const raw = await env.raw();

  for (const subject of ["tools.t.m", "node.n1.tools.t.m"]) {
    for (const body of ["{not json", '{"params": [1, 2]}']) {
      const reply = json((await raw.request(subject, body, { timeout: 2000 })).data);
      assert.equal(reply.ok, false, `${subject} ${body}`);
      assert.match(String(reply.error), /^invalid request: /);
      assert.equal(reply.node, "n1");
    }
  }
  for (const subject of ["tools.t.m.stream", "node.n1.tools.t.m.stream"]) {
    const frame = json((await raw.request(subject, "{not json", { timeout: 2000 })).data);
    assert.equal(frame.done, true);
    assert.match(String(frame.error), /^invalid request: /);
    assert.equal(frame.node, "n1");
  }
  assert.equal(ran, 0, "the handler never ran for a malformed request");
});

test("registered tools are NATS micro services exactly as the contract says", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({
    name: "calc",
    version: "2.0.1",
    description: "Calculator",
    methods: {
      add: { schema: { type: "object", properties: { a: { type: "number" } } }, handler: () => 0 },
      count: { stream: true, handler: () => 0 },
      bare: { handler: () => 0 },
    },
  });
  const [svc, ...more] = await (await env.mesh()).listServices();
  assert.equal(more.length, 0);
  assert.equal(svc!.type, "io.nats.micro.v1.info_response");
  assert.deepEqual([svc!.name, svc!.version, svc!.description, svc!.metadata], ["calc", "2.0.1", "Calculator", { node: "n1" }]);
  const eps = Object.fromEntries((svc!.endpoints ?? []).map((e) => [e.name, e]));
  assert.deepEqual(Object.keys(eps).sort(), ["add", "bare", "count"]);
  for (const [name, ep] of Object.entries(eps)) {
    assert.equal(ep.subject, `tools.calc.${name}`);
    assert.equal(ep.queue_group, "q");
  }
  assert.deepEqual(JSON.parse(eps.add!.metadata!.schema!), { type: "object", properties: { a: { type: "number" } } });
  assert.deepEqual(JSON.parse(eps.count!.metadata!.schema!), { type: "object", stream: true });
  assert.equal(eps.bare!.metadata?.schema, undefined, "no schema → no schema metadata");
});

test("unregisterTool removes the service from discovery and from the call subjects", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({ name: "gone", methods: { m: { stream: true, handler: () => 1 } } });
  await node.registerTool({ name: "stays", methods: { m: { handler: () => 2 } } });
  const client = await env.mesh();
  assert.deepEqual((await client.listServices()).map((s) => s.name).sort(), ["gone", "stays"]);

  assert.equal(await node.unregisterTool("gone"), true);
  assert.deepEqual((await client.listServices()).map((s) => s.name), ["stays"]);
  await assert.rejects(client.call("gone", "m"), NoRespondersError);
  await assert.rejects(client.call("gone", "m", {}, { node: "n1" }), NoRespondersError);
  await assert.rejects(client.stream("gone", "m")[Symbol.asyncIterator]().next(), NoRespondersError);
  assert.equal(await node.unregisterTool("gone"), false, "unknown tool → false");
  assert.equal((await client.call("stays", "m")).result, 2);
});

test("re-registering a tool replaces it (one service, the new handler)", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({ name: "v", version: "1.0.0", methods: { get: { handler: () => "one" } } });
  await node.registerTool({ name: "v", version: "2.0.0", methods: { get: { handler: () => "two" } } });
  const client = await env.mesh();
  const services = await client.listServices();
  assert.deepEqual(services.map((s) => s.version), ["2.0.0"]);
  for (let i = 0; i < 5; i++) assert.equal((await client.call("v", "get")).result, "two");
});

test("names that are not single subject tokens are refused", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await assert.rejects(node.registerTool({ name: "a.b", methods: { m: { handler: () => 0 } } }), MeshConfigError);
  await assert.rejects(node.registerTool({ name: "ok", methods: { "x y": { handler: () => 0 } } }), MeshConfigError);
  const badNode = await env.mesh({ node: "my node" });
  await assert.rejects(badNode.registerTool({ name: "ok", methods: { m: { handler: () => 0 } } }), MeshConfigError);
  await assert.rejects(node.registerTool({ name: "ok", version: "1", methods: { m: { handler: () => 0 } } }), /semver/, "micro services need semver versions");
  assert.equal(await node.unregisterTool("ok"), false, "a failed registration leaves nothing behind");
  const noNode = await env.mesh();
  await assert.rejects(noNode.registerTool({ name: "ok", methods: { m: { handler: () => 0 } } }), /set `node`/);
});

test("node administration requests round trip with the contract's reply fields", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const got: unknown[] = [];
  node.subscribeAdmin({
    install: async (source) => (got.push(["install", source]), { toolName: "whisper", version: "1.4.0" }),
    uninstall: async (toolName, removeEnv) => void got.push(["uninstall", toolName, removeEnv]),
    update: async (toolName, clean) => (got.push(["update", toolName, clean]), { oldVersion: "1.4.0", newVersion: "1.5.0" }),
    config: async (toolName, action, values) => (got.push(["config", toolName, action, values ?? null]), { model: "large", ...values }),
    releaseInspect: async (toolName) => (got.push(["inspect", toolName]), {
      tool_name: toolName, tool_path: "/opt/tools/whisper", manifest_version: "1.5.0",
    }),
  });
  const client = await env.mesh();

  assert.deepEqual(await client.admin.install("n1", "https://github.com/x/whisper"), {
    ok: true, tool_name: "whisper", version: "1.4.0", node: "n1",
  });
  assert.deepEqual(await client.admin.uninstall("n1", "whisper", true), { ok: true, node: "n1" });
  assert.deepEqual(await client.admin.update("n1", "whisper", true), {
    ok: true, tool_name: "whisper", old_version: "1.4.0", new_version: "1.5.0", node: "n1",
  });
  assert.deepEqual(await client.admin.config("n1", "whisper", "get"), { ok: true, config: { model: "large" }, node: "n1" });
  assert.deepEqual(await client.admin.config("n1", "whisper", "set", { lang: "de" }), {
    ok: true, config: { model: "large", lang: "de" }, node: "n1",
  });
  assert.deepEqual(await client.admin.releaseInspect("n1", "whisper"), {
    ok: true, node: "n1", info: { tool_name: "whisper", tool_path: "/opt/tools/whisper", manifest_version: "1.5.0" },
  });
  assert.deepEqual(got, [
    ["install", "https://github.com/x/whisper"],
    ["uninstall", "whisper", true],
    ["update", "whisper", true],
    ["config", "whisper", "get", null],
    ["config", "whisper", "set", { lang: "de" }],
    ["inspect", "whisper"],
  ]);
});

test("admin requests carry exactly the contract's request fields", async (t) => {
  const env = await meshEnv(t);
  const fake = await env.raw();
  const requests: Record<string, unknown> = {};
  fake.subscribe("node.fake.>", {
    callback: (_e, msg) => {
      requests[msg.subject.slice("node.fake.".length)] = json(msg.data);
      msg.respond(JSON.stringify({ ok: true, node: "fake" }));
    },
  });
  await fake.flush();
  const client = await env.mesh();
  await client.admin.install("fake", "/src/tool");
  await client.admin.uninstall("fake", "t1");
  await client.admin.update("fake", "t1");
  await client.admin.config("fake", "t1", "set", { a: 1 });
  await client.admin.releaseInspect("fake", "t1");
  assert.deepEqual(requests, {
    install: { source: "/src/tool" },
    uninstall: { tool_name: "t1", remove_env: false },
    update: { tool_name: "t1", clean: false },
    config: { tool_name: "t1", action: "set", values: { a: 1 } },
    "release.inspect": { tool_name: "t1" },
  });
});

test("admin failures: a throwing handler, a malformed request, a node without the handler", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  node.subscribeAdmin({ install: async () => { throw new Error("git clone failed: 404"); } });
  const client = await env.mesh();
  assert.deepEqual(await client.admin.install("n1", "https://nowhere"), { ok: false, error: "git clone failed: 404", node: "n1" });

  const raw = await env.raw();
  const reply = json((await raw.request("node.n1.install", "{oops", { timeout: 2000 })).data);
  assert.equal(reply.ok, false);
  assert.match(String(reply.error), /^invalid request: /);
  assert.equal(reply.node, "n1");
  const missing = json((await raw.request("node.n1.install", "{}", { timeout: 2000 })).data);
  assert.equal(missing.ok, false, "source is required");

  await assert.rejects(client.admin.uninstall("n1", "x", false, 2000), NoRespondersError);
  await assert.rejects(client.admin.install("n2", "x", 2000), NoRespondersError);
});

test("getToolSchema round trip through node.<node>.tools.<tool>.schema", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  node.subscribeToolSchema(async (tool) => {
    if (tool !== "calc") throw new Error(`unknown tool ${tool}`);
    return { add: { type: "object", properties: { a: { type: "number" } } } };
  });
  const client = await env.mesh();
  assert.deepEqual(await client.getToolSchema("n1", "calc"), {
    ok: true, schema: { add: { type: "object", properties: { a: { type: "number" } } } },
  });
  assert.deepEqual(await client.getToolSchema("n1", "other"), { ok: false, error: "unknown tool other" });
  await assert.rejects(client.getToolSchema("n2", "calc"), NoRespondersError);
});

test("resolveFileParams: a store key in a file param becomes a temp file path holding the bytes", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1", { resolveFileParams: true });
  let seenPaths: string[] = [];
  await node.registerTool({
    name: "img",
    methods: {
      inspect: {
        handler: (p: JsonObject) => {
          const image = p.image as string;
          const input = p.input_file as string;
          seenPaths = [image, input];
          return {
            image,
            imageSha: createHash("sha256").update(readFileSync(image)).digest("hex"),
            inputBytes: [...readFileSync(input)],
            prompt: p.prompt,
            missing: p.audio,
            local: p.path,
          };
        },
      },
    },
  });
  const client = await env.mesh();
  const png = new Uint8Array(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
  await client.files.put("inputs/cat.png", png, "image/png");
  await client.files.put("inputs/noext", new Uint8Array([9, 8, 7]), "audio/wav");

  const r = await client.call("img", "inspect", {
    image: "inputs/cat.png",
    input_file: "inputs/noext",
    prompt: "inputs/cat.png", // not a file param: left alone
    audio: "inputs/not-there.wav", // not in the store: left alone
    path: "/etc/hosts", // a local path: left alone
  });
  assert.equal(r.ok, true, r.error);
  const res = r.result as Record<string, unknown>;
  assert.ok(isAbsolute(res.image as string) && (res.image as string).endsWith(".png"), String(res.image));
  assert.equal(res.imageSha, createHash("sha256").update(png).digest("hex"));
  assert.deepEqual(res.inputBytes, [9, 8, 7]);
  assert.ok(seenPaths[1]!.endsWith(".wav"), `extension from the content type: ${seenPaths[1]}`);
  assert.equal(res.prompt, "inputs/cat.png");
  assert.equal(res.missing, "inputs/not-there.wav");
  assert.equal(res.local, "/etc/hosts");
  for (const p of seenPaths) assert.equal(existsSync(p), false, `temp file ${p} removed after the call`);
});

test("a node closing while a request is in flight does not crash the process", async (t) => {
  const env = await meshEnv(t);
  const node = await Mesh.connect({ servers: env.server.url, node: "n1" });
  const started = deferred();
  const release = deferred();
  node.subscribeAdmin({ install: async () => (started.resolve(), await release.promise, { toolName: "x", version: "1" }) });
  node.subscribeToolSchema(async () => (started.resolve(), await release.promise, {}));
  await node.registerTool({ name: "slow", methods: { m: { handler: () => release.promise } } });
  const client = await env.mesh();

  const pending = [
    client.admin.install("n1", "src", 1000).catch(() => "failed"),
    client.getToolSchema("n1", "slow", 1000).catch(() => "failed"),
    client.call("slow", "m", {}, { timeoutMs: 1000 }).catch(() => "failed"),
  ];
  await started.promise;
  await node.close();
  release.resolve();
  // An unhandled rejection from a reply on the closed connection would fail this test file.
  assert.deepEqual(await Promise.all(pending), ["failed", "failed", "failed"]);
  await waitFor(() => node.connectionState === "closed", "the node to be closed");
});
