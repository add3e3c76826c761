import { test } from "node:test";
import assert from "node:assert/strict";
import { Svcm } from "@nats-io/services";
import {
  MalformedReplyError,
  MeshCancelledError,
  MeshTimeoutError,
  NoRespondersError,
  NotConnectedError,
  type CallRequest,
  type ToolDefinition,
} from "../../src/mesh/index.js";
import { deferred, meshEnv, subjectLog, waitFor, within } from "../helpers/mesh.js";

const whoami: ToolDefinition = {
  name: "who",
  methods: { ami: { handler: (_p, ctx) => ctx.node } },
};

test("load-balanced calls spread over both nodes offering the tool", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(whoami);
  await (await env.node("n2")).registerTool(whoami);
  const client = await env.mesh();

  const seen = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    const r = await client.call("who", "ami");
    assert.equal(r.ok, true);
    assert.equal(r.result, r.node, "the reply names the node that ran the call");
    seen.set(r.node, (seen.get(r.node) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ["n1", "n2"], `distribution: ${JSON.stringify([...seen])}`);
});

test("node-targeted calls always reach that node", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(whoami);
  await (await env.node("n2")).registerTool(whoami);
  const client = await env.mesh();
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await client.call("who", "ami", {}, { node: "n2" }), { ok: true, result: "n2", node: "n2" });
  }
  await assert.rejects(client.call("who", "ami", {}, { node: "n3" }), NoRespondersError);
});

test("a handler that throws gives ok:false with its message and node", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool({
    name: "fail",
    methods: { now: { handler: () => { throw new Error("disk full"); } } },
  });
  const client = await env.mesh();
  assert.deepEqual(await client.call("fail", "now"), { ok: false, error: "disk full", node: "n1" });
});

test("no node offering the tool → NoRespondersError naming the subject", async (t) => {
  const env = await meshEnv(t);
  const client = await env.mesh();
  const t0 = performance.now();
  await assert.rejects(client.call("nope", "m", {}, { timeoutMs: 10_000 }), (err: unknown) => {
    assert.ok(err instanceof NoRespondersError);
    assert.equal(err.subject, "tools.nope.m");
    assert.match(err.message, /no node answers on tools\.nope\.m/);
    return true;
  });
  assert.ok(performance.now() - t0 < 2000, "no responders is immediate, not a timeout");
});

test("a call that takes too long → MeshTimeoutError, and the node is told to cancel", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const cancels = await subjectLog(node.nc, "cancel.*");
  const seen = deferred<{ request: CallRequest; signal: AbortSignal }>();
  await node.registerTool({
    name: "slow",
    methods: {
      run: {
        handler: (_p, ctx) => {
          seen.resolve({ request: ctx.request, signal: ctx.signal });
          return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("stopped")));
        },
      },
    },
  });
  const client = await env.mesh();

  await assert.rejects(client.call("slow", "run", {}, { timeoutMs: 300 }), (err: unknown) => {
    assert.ok(err instanceof MeshTimeoutError);
    assert.equal(err.timeoutMs, 300);
    assert.match(err.message, /no reply on tools\.slow\.run within 300 ms/);
    return true;
  });
  const { request, signal } = await seen.promise;
  assert.ok(request.call_id, "the request carries a call_id");
  await cancels.waitFor(`cancel.${request.call_id}`);
  await waitFor(() => signal.aborted, "the handler's signal to abort");
});

test("aborting a call rejects at once with MeshCancelledError and cancels the node's handler", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const cancels = await subjectLog(node.nc, "cancel.*");
  const started = deferred<{ request: CallRequest; signal: AbortSignal }>();
  const release = deferred<string>();
  env.defer(() => release.resolve("released"));
  await node.registerTool({
    name: "job",
    methods: {
      // Cooperative cancellation: this handler ignores its signal and only ends when released.
      run: { handler: (_p, ctx) => (started.resolve({ request: ctx.request, signal: ctx.signal }), release.promise) },
    },
  });
  const client = await env.mesh();

  const ac = new AbortController();
  const call = client.call("job", "run", { x: 1 }, { signal: ac.signal, timeoutMs: 60_000 });
  const { request, signal } = await started.promise;
  ac.abort();
  const err = await within(call.then(() => undefined, (e: unknown) => e), 1000, "the aborted call");
  assert.ok(err instanceof MeshCancelledError, String(err));
  assert.equal(err.callId, request.call_id);
  assert.match(err.message, new RegExp(`cancel\\.${request.call_id} published`));

  const published = await cancels.waitFor(`cancel.${request.call_id}`);
  assert.equal(published.data, "", "the cancel message is empty");
  await waitFor(() => signal.aborted, "the handler's signal to abort");
});

test("an already aborted signal rejects without calling the node", async (t) => {
  const env = await meshEnv(t);
  let calls = 0;
  await (await env.node("n1")).registerTool({ name: "count", methods: { up: { handler: () => ++calls } } });
  const client = await env.mesh();
  await assert.rejects(client.call("count", "up", {}, { signal: AbortSignal.abort() }), MeshCancelledError);
  assert.deepEqual(await client.call("count", "up"), { ok: true, result: 1, node: "n1" }, "the aborted call never ran");
});

test("corr is copied from params.corr, correlation_id or trace_id, else fresh per call (the node logs it); every call has a fresh call_id", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool({
    name: "echo",
    methods: { req: { handler: (_p, ctx) => ({ corr: ctx.request.corr ?? null, call_id: ctx.request.call_id, node: ctx.request.node ?? null }) } },
  });
  const client = await env.mesh();
  const corrOf = async (params: Record<string, unknown>) => ((await client.call("echo", "req", params)).result as { corr: string | null }).corr;

  assert.equal(await corrOf({ corr: "c-1" }), "c-1");
  assert.equal(await corrOf({ correlation_id: "c-2" }), "c-2");
  assert.equal(await corrOf({ trace_id: "c-3" }), "c-3");
  assert.equal(await corrOf({ trace_id: "t", correlation_id: "cid", corr: "first" }), "first");
  // Without one, a fresh corr only this call carries: the node's logs.call record finds the call by it.
  const fresh = [await corrOf({ x: 1 }), await corrOf({ x: 1 }), await corrOf({ corr: 42 })];
  for (const c of fresh) assert.match(c ?? "", /^[A-Za-z0-9]{16,}$/, "only string ids are copied; otherwise a fresh one");
  assert.equal(new Set(fresh).size, 3);

  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) ids.add(((await client.call("echo", "req")).result as { call_id: string }).call_id);
  assert.equal(ids.size, 5);
  const targeted = (await client.call("echo", "req", {}, { node: "n1", callId: "my-id" })).result;
  assert.deepEqual({ ...targeted as object, corr: null }, { corr: null, call_id: "my-id", node: "n1" }, "node-targeted requests name the node");
});

test("a reply that is not JSON → MalformedReplyError; the mesh keeps working", async (t) => {
  const env = await meshEnv(t);
  const fake = await env.raw();
  fake.subscribe("tools.bad.m", { callback: (_e, msg) => void msg.respond("not json") });
  fake.subscribe("tools.shape.m", { callback: (_e, msg) => void msg.respond('{"ok":"yes"}') });
  await fake.flush();
  await (await env.node("n1")).registerTool(whoami);
  const client = await env.mesh();

  await assert.rejects(client.call("bad", "m"), (err: unknown) => {
    assert.ok(err instanceof MalformedReplyError, String(err));
    assert.equal(err.subject, "tools.bad.m");
    assert.equal(err.raw, "not json");
    assert.match(err.message, /malformed reply on tools\.bad\.m: not valid JSON/);
    assert.match(err.message, /"not json"/);
    return true;
  });
  await assert.rejects(client.call("shape", "m"), (err: unknown) => {
    assert.ok(err instanceof MalformedReplyError, String(err));
    assert.match(err.message, /malformed reply on tools\.shape\.m: ok:/);
    return true;
  });
  assert.deepEqual(await client.call("who", "ami"), { ok: true, result: "n1", node: "n1" });
});

test("a NATS micro service error reply becomes ok:false with the service's error text", async (t) => {
  const env = await meshEnv(t);
  const svc = await new Svcm(await env.raw()).add({ name: "micro", version: "1.0.0", metadata: { node: "foreign" } });
  const group = svc.addGroup("tools.micro");
  group.addEndpoint("throws", () => {
    throw new Error("handler crashed");
  });
  group.addEndpoint("refuses", (_err, msg) => msg.respondError(400, "bad input"));
  const client = await env.mesh();
  assert.deepEqual(await client.call("micro", "throws"), { ok: false, error: "handler crashed", node: "" });
  assert.deepEqual(await client.call("micro", "refuses", {}), { ok: false, error: "bad input", node: "" });
});

test("calls on a closed mesh fail with NotConnectedError", async (t) => {
  const env = await meshEnv(t);
  const client = await env.mesh();
  await client.close();
  await assert.rejects(client.call("who", "ami"), NotConnectedError);
});

