/**
 * The README's least-privilege NATS user for the bridge, taken from the README itself,
 * on a real nats-server: everything mesh-mcp does must work with exactly those rights.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Svcm } from "@nats-io/services";
import { NatsServer } from "./helpers/nats-server.js";
import { Mesh, type MeshOptions } from "../src/mesh/index.js";

function readmeAuthorization(): string {
  const readme = readFileSync(new URL("../docs/security.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## NATS permissions"));
  const block = section.match(/```\n(authorization \{[\s\S]*?)```/)?.[1];
  assert.ok(block, "docs/security.md has no authorization block under ## NATS permissions");
  return block;
}

/**
 * A nats-server with the README's block plus a node user with full rights; `connect`
 * opens a mesh on it as some user, closed after the test.
 */
async function readmeNats(t: TestContext): Promise<{ connect(o: MeshOptions): Promise<Mesh> }> {
  const conf = join(mkdtempSync(join(tmpdir(), "mesh-mcp-perm-")), "nats.conf");
  writeFileSync(conf, readmeAuthorization().replace("users = [", 'users = [\n    { user: node, password: "node-pass" }'));
  const srv = await NatsServer.start({ args: ["-c", conf] });
  const opened: Mesh[] = [];
  t.after(async () => {
    for (const m of opened) await m.close().catch(() => {});
    await srv.stop();
  });
  return {
    async connect(o) {
      const m = await Mesh.connect({ servers: srv.url, ...o });
      opened.push(m);
      return m;
    },
  };
}

test("the README's bridge user can discover, call, stream, cancel and use the file store", { timeout: 60_000 }, async (t) => {
  const { connect } = await readmeNats(t);

  const node = await connect({ user: "node", password: "node-pass", node: "n1" });
  let cancelled = false;
  await node.registerTool({
    name: "calc",
    version: "1.0.0",
    methods: {
      add: { schema: { type: "object" }, handler: (p) => (p.a as number) + (p.b as number) },
      count: { stream: true, handler: async (_p, ctx) => { ctx.emit({ progress: 1 }); return "done"; } },
      wait: {
        handler: (_p, ctx) =>
          new Promise((resolve) => ctx.signal.addEventListener("abort", () => ((cancelled = true), resolve("stopped")))),
      },
    },
  });
  await node.files.put("outputs/from-node.txt", new TextEncoder().encode("hello"), "text/plain");

  const bridge = await connect({ user: "mesh-mcp", password: "change-me" });
  const catalog = await bridge.catalog();
  assert.deepEqual(catalog.methods().map((m) => `${m.tool}.${m.method}`), ["calc.add", "calc.count", "calc.wait"]);
  assert.deepEqual(await bridge.call("calc", "add", { a: 2, b: 3 }), { ok: true, result: 5, node: "n1" });
  assert.deepEqual(await bridge.call("calc", "add", { a: 1, b: 1 }, { node: "n1" }), { ok: true, result: 2, node: "n1" });
  const frames = [];
  for await (const f of bridge.stream("calc", "count", {})) frames.push(f);
  assert.equal(frames.at(-1)?.result, "done");

  const ac = new AbortController();
  const pending = bridge.call("calc", "wait", {}, { signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(pending, /cancelled/);
  for (let i = 0; i < 50 && !cancelled; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cancelled, "the node never saw the bridge user's cancel");

  // File store through the Object Store: read what the node wrote, upload, list, watch.
  assert.equal(await bridge.files.mode(), "objectstore");
  const got = await bridge.files.getBytes("outputs/from-node.txt");
  assert.equal(new TextDecoder().decode(got.data), "hello");
  const watch = bridge.files.watch(AbortSignal.timeout(10_000));
  const first = watch.next();
  await bridge.files.put("uploads/x/a.bin", new Uint8Array([1, 2, 3]));
  assert.equal((await first).value?.key, "uploads/x/a.bin");
  await watch.return(undefined);
  assert.deepEqual((await bridge.files.list("uploads/")).map((f) => f.key), ["uploads/x/a.bin"]);

  // Durable tasks: the record, the captured reply, the liveness ping and the cancel all pass.
  const tasks = await bridge.tasks();
  const task = await tasks.startTask({ tool: "calc", method: "count", params: {}, node: "n1", stream: true, owner: "perm-test" });
  let end;
  for (let i = 0; i < 100 && end?.status !== "completed"; i++) {
    end = await tasks.getTask(task.id, "perm-test");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(end?.status, "completed");
  assert.equal((await tasks.taskResult(task.id, "perm-test"))?.outcome?.result, "done");
  assert.deepEqual((await tasks.listTasks("perm-test")).tasks.map((x) => x.id), [task.id]);

  // Without the --admin additions, admin requests are refused by the server (the node would answer).
  node.subscribeAdmin({ install: async () => ({ toolName: "x", version: "1.0.0" }) });
  const admin = await connect({ user: "node", password: "node-pass" });
  assert.equal((await admin.admin.install("n1", "git@example:tool.git", 2000)).ok, true);
  await assert.rejects(bridge.admin.install("n1", "git@example:tool.git", 2000));
});

test("the README's bridge user may run the periodic $SRV.PING sweep (a tool that appears without an event is found)", { timeout: 30_000 }, async (t) => {
  const { connect } = await readmeNats(t);
  const node = await connect({ user: "node", password: "node-pass" });
  // Events off: only the sweep (a request on the bare `$SRV.PING` subject) can see it.
  const bridge = await connect({ user: "mesh-mcp", password: "change-me", catalog: { refreshIntervalMs: 300 } });
  const catalog = await bridge.catalog();
  assert.deepEqual(catalog.methods(), []);
  await new Promise((r) => setTimeout(r, 1500)); // past the first load's patient second pass
  const svc = await new Svcm(node.nc).add({ name: "quiet", version: "0.1.0", metadata: { node: "n9" } });
  svc.addGroup("tools.quiet").addEndpoint("run", { handler: (_err, msg) => msg.respond("{}") });
  await node.nc.flush();
  const deadline = Date.now() + 10_000;
  while (!catalog.get("quiet", "run") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(catalog.get("quiet", "run"), "the sweep never found a tool that appeared without an event (is $SRV.PING allowed?)");
});
