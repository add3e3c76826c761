import { test } from "node:test";
import assert from "node:assert/strict";
import { NotConnectedError, type ConnectionState } from "../../src/mesh/index.js";
import { meshEnv, subjectLog, waitFor } from "../helpers/mesh.js";

const RECOVERY = { timeoutMs: 15_000, intervalMs: 50 };
const LIMIT = { timeout: 40_000 }; // a reconnect bug must fail the test, not hang the suite

test("after a server restart the tools come back in the catalog, calls work, and the node announces itself", LIMIT, async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({ name: "echo", version: "1.0.0", methods: { say: { handler: (p, ctx) => `${ctx.node}:${p.text}` } } });
  const client = await env.mesh({ catalog: { refreshIntervalMs: 0, debounceMs: 20 } });
  const cat = await client.catalog();
  assert.deepEqual(cat.get("echo", "say")?.nodes, ["n1"]);
  const idBefore = cat.services()[0]!.id;
  const states: ConnectionState[] = [];
  client.onConnectionState((s) => states.push(s));
  // Heard on the node's own connection: an observer that reconnects after the node would
  // miss the event (NATS keeps no history), which is why the catalog also refreshes on reconnect.
  const joined = await subjectLog(node.nc, "events.node.joined");

  await env.server.restart();

  await waitFor(() => states.includes("disconnected") && client.connected, "the client to reconnect", RECOVERY);
  const msg = await joined.waitFor("events.node.joined", RECOVERY.timeoutMs);
  assert.deepEqual(JSON.parse(msg.data), { node: "n1", event: "reconnect" });
  await waitFor(
    () => cat.get("echo", "say")?.nodes.includes("n1") && cat.services().some((s) => s.id !== idBefore),
    "the re-registered service (new id) in the client's catalog",
    RECOVERY,
  );
  const r = await waitFor(() => client.call("echo", "say", { text: "back" }, { timeoutMs: 1000 }), "a call to work again", RECOVERY);
  assert.deepEqual(r, { ok: true, result: "n1:back", node: "n1" });
  assert.deepEqual(await client.listServices().then((s) => s.length), 1, "one service instance, not the old one beside the new");
});

test("while the server is down calls fail fast with NotConnectedError, then recover", LIMIT, async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({ name: "echo", methods: { say: { handler: (p) => p.text } } });
  const client = await env.mesh();
  assert.equal((await client.call("echo", "say", { text: "before" })).result, "before");

  await env.server.kill();
  await waitFor(() => client.connectionState === "disconnected", "the client to notice the drop");
  const t0 = performance.now();
  await assert.rejects(client.call("echo", "say", { text: "during" }), (err: unknown) => {
    assert.ok(err instanceof NotConnectedError, String(err));
    assert.match(err.message, /reconnecting/);
    return true;
  });
  await assert.rejects(client.stream("echo", "say")[Symbol.asyncIterator]().next(), NotConnectedError);
  assert.ok(performance.now() - t0 < 1000, "no waiting for a timeout");

  await env.server.restart();
  const r = await waitFor(() => client.call("echo", "say", { text: "after" }, { timeoutMs: 1000 }), "calls to work again", RECOVERY);
  assert.equal(r.result, "after");
});

test("a call or stream sent just before the server dies fails fast instead of waiting for its timeout", LIMIT, async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerTool({
    name: "slow",
    methods: {
      wait: { handler: (_p, ctx) => new Promise((r) => ctx.signal.addEventListener("abort", () => r("stopped"))) },
      tick: { stream: true, handler: (_p, ctx) => new Promise((r) => ctx.signal.addEventListener("abort", () => r("stopped"))) },
    },
  });
  const client = await env.mesh();
  const t0 = performance.now();
  const outcome = (p: Promise<unknown>) => p.then((v) => v, (e: unknown) => e);
  const call = outcome(client.call("slow", "wait", {}, { timeoutMs: 30_000 }));
  const stream = outcome(client.stream("slow", "tick", {}, { inactivityTimeoutMs: 30_000 })[Symbol.asyncIterator]().next());
  await env.server.kill();
  for (const err of await Promise.all([call, stream])) {
    assert.ok(err instanceof NotConnectedError, String(err));
    assert.match(err.message, /may never have reached a node/);
  }
  assert.ok(performance.now() - t0 < 5000, "failed at the disconnect, not at the 30 s timeout");
});

test("tools do not flap out of the catalog while nodes re-register after a server restart", LIMIT, async (t) => {
  const env = await meshEnv(t);
  const nodes = await Promise.all(["n1", "n2", "n3"].map((n) => env.node(n)));
  for (const node of nodes) {
    await node.registerTool({ name: "echo", version: "1.0.0", methods: { say: { handler: (p) => p.text }, shout: { handler: (p) => String(p.text).toUpperCase() } } });
  }
  const client = await env.mesh({ catalog: { refreshIntervalMs: 0, debounceMs: 0, reconnectGraceMs: 3000 } });
  const cat = await client.catalog();
  await waitFor(() => cat.get("echo", "say")?.nodes.length === 3, "three nodes in the catalog");
  const removed: string[] = [];
  cat.onChange((ch) => removed.push(...ch.removed.map((e) => `${e.tool}.${e.method}`)));
  const ids = new Set(cat.services().map((s) => s.id));

  await env.server.restart();
  await waitFor(() => cat.services().filter((s) => !ids.has(s.id)).length === 3, "the three re-registered services", RECOVERY);
  await new Promise((r) => setTimeout(r, 3500)); // past the grace: the refresh that ends it must find them all
  assert.deepEqual(removed, [], "a method left the catalog during re-registration");
  assert.deepEqual(cat.get("echo", "say")?.nodes, ["n1", "n2", "n3"]);
  assert.equal(cat.services().length, 3, "stale instances are gone once the grace ends");
});
