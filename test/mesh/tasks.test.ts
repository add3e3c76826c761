import { test } from "node:test";
import assert from "node:assert/strict";
import { Mesh, TASK_FRAMES_STREAM, TASKS_BUCKET, type TaskView, type ToolCallContext, type ToolDefinition } from "../../src/mesh/index.js";
import { foldOutcome, isTaskId, newTaskId, ownerHash } from "../../src/mesh/task-records.js";
import { deferred, meshEnv, sleep, subjectLog, waitFor, within } from "../helpers/mesh.js";

const enc = new TextEncoder();

/** A job that emits `n` chunks `everyMs` apart and returns a result (or stops when cancelled). */
function job(onStart?: (ctx: ToolCallContext) => void): ToolDefinition {
  return {
    name: "job",
    methods: {
      run: {
        stream: true,
        handler: async (p, ctx) => {
          onStart?.(ctx);
          const n = (p.n as number) ?? 10;
          for (let i = 1; i <= n; i++) {
            if (ctx.signal.aborted) throw new Error("context canceled");
            ctx.emit({ progress: i, total: n, message: `step ${i}/${n}` });
            await sleep((p.everyMs as number) ?? 20);
          }
          return p.noResult ? null : { sum: (n * (n + 1)) / 2 };
        },
      },
      add: { handler: async (p) => { await sleep((p.ms as number) ?? 0); return (p.a as number) + (p.b as number); } },
      boom: { handler: () => { throw new Error("bad input: b must be positive"); } },
    },
  };
}

const done = (v: TaskView | undefined) => (v && v.status !== "working" ? v : undefined);

test("task ids are 128-bit random and owners are stored hashed", () => {
  const ids = new Set(Array.from({ length: 1000 }, newTaskId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(isTaskId(id), id);
  assert.equal(Buffer.from([...ids][0]!, "base64url").length, 16);
  assert.equal(isTaskId("../../etc"), false);
  assert.equal(isTaskId("a.b"), false);
  const h = ownerHash("secret-token");
  assert.match(h, /^[0-9a-f]{32}$/);
  assert.notEqual(h, ownerHash("secret-token2"));
  assert.ok(!h.includes("secret"));
});

test("captured frames fold into the outcome: chunks, terminal result, error without done, service error", () => {
  const m = (o: unknown) => ({ data: enc.encode(JSON.stringify(o)) });
  const s = foldOutcome("stream", [m({ chunk: 1 }), m({ chunk: 2 }), m({ done: true, result: "r", node: "n1" })], "n1");
  assert.deepEqual(s.outcome, { ok: true, result: "r", error: undefined, node: "n1", chunks: [1, 2] });
  const dying = foldOutcome("stream", [m({ chunk: 1 }), m({ error: "process died" })], "n1");
  assert.equal(dying.outcome?.ok, false);
  assert.equal(dying.outcome?.error, "process died");
  assert.equal(foldOutcome("stream", [m({ chunk: 1 })], "n1").outcome, undefined);
  assert.deepEqual(foldOutcome("call", [m({ ok: true, result: 42, node: "n2" })], "n2").outcome?.result, 42);
  assert.equal(foldOutcome("call", [{ data: new Uint8Array(0), serviceError: "handler crashed" }], "n").outcome?.error, "handler crashed");
  assert.match(foldOutcome("call", [{ data: enc.encode("{nope") }], "n").outcome?.error ?? "", /not valid JSON/);
});

test("a stream task's frames land in JetStream after its starter is gone; another process gets the full result", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const starter = await Mesh.connect({ servers: env.server.url });
  const tasks = await starter.tasks();
  const view = await tasks.startTask({ tool: "job", method: "run", params: { n: 15, everyMs: 40 }, node: "n1", stream: true, owner: "alice" });
  assert.equal(view.status, "working");
  await sleep(150);
  await starter.close(); // the process that made the call is gone

  const other = await (await env.mesh()).tasks();
  const mid = await other.getTask(view.id, "alice");
  assert.equal(mid?.status, "working");
  const end = await waitFor(async () => done(await other.getTask(view.id, "alice")), "the task to finish", { timeoutMs: 10_000, intervalMs: 100 });
  assert.equal(end.status, "completed");
  assert.equal(end.chunks, 15);
  assert.deepEqual(end.lastChunk, { progress: 15, total: 15, message: "step 15/15" });
  const r = await other.taskResult(view.id, "alice");
  assert.deepEqual(r?.outcome?.result, { sum: 120 });
  assert.equal(r?.outcome?.chunks.length, 15);
  assert.equal(r?.outcome?.node, "n1");
});

test("a request/reply task completes while nobody listens; node errors end it as failed with the node's text", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const starter = await Mesh.connect({ servers: env.server.url });
  const st = await starter.tasks();
  const ok = await st.startTask({ tool: "job", method: "add", params: { a: 2, b: 40, ms: 300 }, node: "n1", stream: false, owner: "bob" });
  const bad = await st.startTask({ tool: "job", method: "boom", params: {}, node: "n1", stream: false, owner: "bob" });
  await starter.close();
  await sleep(500);
  const other = await (await env.mesh()).tasks();
  const r = await other.taskResult(ok.id, "bob");
  assert.equal(r?.view.status, "completed");
  assert.equal(r?.outcome?.result, 42);
  const b = await other.taskResult(bad.id, "bob");
  assert.equal(b?.view.status, "failed");
  assert.match(b?.outcome?.error ?? "", /b must be positive/);
});

test("another identity sees nothing: get, result, cancel and list all say not found", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const store = await (await env.mesh()).tasks();
  const v = await store.startTask({ tool: "job", method: "run", params: { n: 50, everyMs: 20 }, node: "n1", stream: true, owner: "alice" });
  assert.equal(await store.getTask(v.id, "mallory"), undefined);
  assert.equal(await store.taskResult(v.id, "mallory"), undefined);
  assert.equal(await store.cancelTask(v.id, "mallory"), undefined);
  assert.deepEqual(await store.listTasks("mallory"), { tasks: [], next: undefined });
  assert.equal((await store.getTask(v.id, "alice"))?.status, "working", "mallory's cancel did nothing");
  assert.deepEqual((await store.listTasks("alice")).tasks.map((x) => x.id), [v.id]);
  // The bucket holds no identity in clear.
  const raw = await env.raw();
  const { Kvm } = await import("@nats-io/kv");
  const kv = await new Kvm(raw).open(TASKS_BUCKET);
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  assert.equal(keys.length, 1);
  assert.ok(!keys[0]!.includes("alice") && !(await kv.get(keys[0]!))!.string().includes("alice"));
});

test("cancel from another process reaches the node as cancel.<call_id>; a late end does not undo it", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const started = deferred<ToolCallContext>();
  await node.registerTool(job((ctx) => started.resolve(ctx)));
  const cancels = await subjectLog(node.nc, "cancel.*");
  const a = await (await env.mesh()).tasks();
  const b = await (await env.mesh()).tasks();
  const v = await a.startTask({ tool: "job", method: "run", params: { n: 1000, everyMs: 10 }, node: "n1", stream: true, owner: "carol" });
  const ctx = await within(started.promise, 5000, "the job to start");
  const c = await b.cancelTask(v.id, "carol");
  assert.equal(c?.status, "cancelled");
  await cancels.waitFor(`cancel.${v.callId}`);
  await waitFor(() => ctx.signal.aborted, "the node's handler to see the cancel");
  await sleep(300); // the node answers "context canceled" afterwards
  assert.equal((await a.getTask(v.id, "carol"))?.status, "cancelled");
  assert.equal((await b.cancelTask(v.id, "carol"))?.status, "cancelled", "cancelling again is harmless");
});

test("a task whose node dies ends as failed within seconds", async (t) => {
  const env = await meshEnv(t);
  const node = await Mesh.connect({ servers: env.server.url, node: "n1" });
  await node.registerTool(job());
  const store = await (await env.mesh({ tasks: { livenessAfterMs: 500 } })).tasks();
  const v = await store.startTask({ tool: "job", method: "add", params: { a: 1, b: 1, ms: 60_000 }, node: "n1", stream: false, owner: "dan" });
  await sleep(200);
  node.nc.close(); // like a crash: no goodbye
  const t0 = Date.now();
  const end = await waitFor(async () => done(await store.getTask(v.id, "dan")), "the task to fail", { timeoutMs: 8000, intervalMs: 200 });
  assert.equal(end.status, "failed");
  assert.match(end.message ?? "", /node n1 is gone/);
  // Silent 0.5 s, then two pings 0.5 s apart that find no n1: well under the 8 s bound on this loaded box.
  assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms`);
});

test("no node answers: the task fails at once with the reason; a run past its deadline fails as timed out", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const store = await (await env.mesh()).tasks();
  const v = await store.startTask({ tool: "nothing", method: "here", params: {}, node: "nx", stream: false, owner: "erin" });
  const end = await waitFor(async () => done(await store.getTask(v.id, "erin")), "the task to fail", { timeoutMs: 3000 });
  assert.match(end.message ?? "", /no node answers node\.nx\.tools\.nothing\.here/);

  const cancels = await subjectLog(await env.raw(), "cancel.*");
  const slow = await store.startTask({ tool: "job", method: "add", params: { a: 1, b: 1, ms: 30_000 }, node: "n1", stream: false, owner: "erin", maxRunMs: 400 });
  const late = await waitFor(async () => done(await store.getTask(slow.id, "erin")), "the deadline", { timeoutMs: 4000, intervalMs: 100 });
  assert.match(late.message ?? "", /timed out after 0 s/);
  await cancels.waitFor(`cancel.${slow.callId}`);
});

test("a stream whose terminal frame has no result keeps every chunk; the capture stream exists with the TTL", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const m = await env.mesh({ tasks: { ttlMs: 3_600_000 } });
  const store = await m.tasks();
  const v = await store.startTask({ tool: "job", method: "run", params: { n: 5, everyMs: 5, noResult: true }, node: "n1", stream: true, owner: "fay" });
  await waitFor(async () => done(await store.getTask(v.id, "fay")), "the end");
  const r = await store.taskResult(v.id, "fay");
  assert.equal(r?.outcome?.chunks.length, 5);
  assert.equal(r?.outcome?.result, null);
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const info = await (await jetstreamManager(await env.raw())).streams.info(TASK_FRAMES_STREAM);
  assert.equal(info.config.max_age, 3_600_000 * 1_000_000);
  // A second process asking for another retention is told who decided, and how to change it.
  const logged: string[] = [];
  await (await env.mesh({ tasks: { ttlMs: 7_200_000 }, log: (_l, m) => logged.push(m) })).tasks();
  assert.ok(logged.some((m) => /keeps records 3600 s, not the 7200 s asked for.*nats stream edit KV_mesh-mcp-tasks/.test(m)), logged.join("\n"));
});

test("watchTasks tells an owner of status changes written by any process, and nothing of others' tasks", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const watcher = await (await env.mesh()).tasks();
  const seen: TaskView[] = [];
  const stop = await watcher.watchTasks("gus", (v) => seen.push(v));
  t.after(stop);
  const starter = await (await env.mesh()).tasks();
  await starter.startTask({ tool: "job", method: "add", params: { a: 1, b: 2 }, node: "n1", stream: false, owner: "someone-else" });
  const v = await starter.startTask({ tool: "job", method: "add", params: { a: 1, b: 2, ms: 100 }, node: "n1", stream: false, owner: "gus" });
  await waitFor(() => seen.some((x) => x.id === v.id && x.status === "completed"), "the completion through the watch");
  assert.deepEqual([...new Set(seen.map((x) => x.id))], [v.id]);
  assert.deepEqual(seen.map((x) => x.status), ["working", "completed"]);
});

test("listTasks pages newest first", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(job());
  const store = await (await env.mesh()).tasks();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.unshift((await store.startTask({ tool: "job", method: "add", params: { a: i, b: 0 }, node: "n1", stream: false, owner: "hal" })).id);
    await sleep(5);
  }
  const p1 = await store.listTasks("hal", { limit: 2 });
  const p2 = await store.listTasks("hal", { offset: p1.next, limit: 2 });
  const p3 = await store.listTasks("hal", { offset: p2.next, limit: 2 });
  assert.deepEqual([...p1.tasks, ...p2.tasks, ...p3.tasks].map((x) => x.id), ids);
  assert.equal(p3.next, undefined);
});

test("a node that re-registers (a reconnect) keeps its silent task alive: one missed ping is not death", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const started = deferred<ToolCallContext>();
  await node.registerTool(job((ctx) => started.resolve(ctx)));
  // Started by a process that is gone at once: only polls (not a live follower) judge the node.
  const starter = await Mesh.connect({ servers: env.server.url });
  const v = await (await starter.tasks()).startTask({ tool: "job", method: "add", params: { a: 1, b: 2, ms: 6000 }, node: "n1", stream: false, owner: "ivy" });
  await starter.close();
  const store = await (await env.mesh({ tasks: { livenessAfterMs: 2000 } })).tasks();
  // A request/reply job, silent for 6 s: from 2 s on, polls probe the node (at most once a second).
  const polling = waitFor(async () => done(await store.getTask(v.id, "ivy")), "the task to end", { timeoutMs: 20_000, intervalMs: 100 });
  await sleep(2300);
  // The service is gone from $SRV for 1.4 s (a ping sees it missing) while the job goes on.
  await node.unregisterTool("job");
  await sleep(1400);
  await node.registerTool(job());
  const end = await polling;
  assert.equal(end.status, "completed", end.message);
  assert.equal((await store.taskResult(v.id, "ivy"))?.outcome?.result, 3);
});
