import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MeshCancelledError,
  NoRespondersError,
  StreamInactivityError,
  type StreamFrame,
  type ToolCallContext,
  type ToolDefinition,
} from "../../src/mesh/index.js";
import { collect, deferred, meshEnv, subjectLog, waitFor, within } from "../helpers/mesh.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Emits {i}, `burst` chunks every `everyMs`, until `n` chunks were sent or the call is cancelled. */
function ticker(onStart?: (ctx: ToolCallContext) => void): ToolDefinition {
  return {
    name: "tick",
    methods: {
      run: {
        stream: true,
        handler: async (p, ctx) => {
          onStart?.(ctx);
          const n = (p.n as number) ?? 1_000_000;
          for (let i = 0; i < n && !ctx.signal.aborted; i++) {
            ctx.emit({ i, node: ctx.node });
            if (p.everyMs && (i + 1) % ((p.burst as number) ?? 1) === 0) await sleep(p.everyMs as number);
          }
          return ctx.signal.aborted ? "cancelled" : `sent ${n}`;
        },
      },
      plain: { handler: () => "no stream here" },
    },
  };
}

test("200 chunks arrive in order, then the terminal result", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(ticker());
  const client = await env.mesh();

  const frames = await collect(client.stream("tick", "run", { n: 200 }));
  assert.equal(frames.length, 201);
  frames.slice(0, 200).forEach((f, i) => assert.deepEqual(f, { chunk: { i, node: "n1" }, done: false, node: "n1" }));
  assert.deepEqual(frames[200], { result: "sent 200", done: true, node: "n1" });
});

test("aborting a stream midway: iteration throws MeshCancelledError and the node's handler is cancelled", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const cancels = await subjectLog(node.nc, "cancel.*");
  const started = deferred<ToolCallContext>();
  await node.registerTool(ticker((ctx) => started.resolve(ctx)));
  const client = await env.mesh();

  const ac = new AbortController();
  // Bursts of 50 frames: frames are still queued when abort() is called.
  const stream = client.stream("tick", "run", { everyMs: 1, burst: 50 }, { signal: ac.signal });
  const seen: StreamFrame[] = [];
  let afterAbort = 0;
  const err = await within(
    (async () => {
      for await (const f of stream) {
        if (ac.signal.aborted) afterAbort++;
        seen.push(f);
        if (seen.length === 3) ac.abort();
      }
    })().then(() => undefined, (e: unknown) => e),
    2000,
    "the aborted stream",
  );
  assert.ok(err instanceof MeshCancelledError, String(err));
  assert.equal(err.callId, stream.callId);
  assert.equal(afterAbort, 0, "no frame is yielded after abort()");

  const ctx = await started.promise;
  assert.equal(ctx.request.call_id, stream.callId);
  await cancels.waitFor(`cancel.${stream.callId}`);
  await waitFor(() => ctx.signal.aborted, "the node's signal to abort");
});

test("breaking out of the for-await loop publishes the cancel", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const cancels = await subjectLog(node.nc, "cancel.*");
  const started = deferred<ToolCallContext>();
  await node.registerTool(ticker((ctx) => started.resolve(ctx)));
  const client = await env.mesh();

  const stream = client.stream("tick", "run", { everyMs: 5 });
  let n = 0;
  for await (const f of stream) {
    assert.equal(f.done, false);
    if (++n === 2) break;
  }
  await cancels.waitFor(`cancel.${stream.callId}`);
  const ctx = await started.promise;
  await waitFor(() => ctx.signal.aborted, "the node's signal to abort");
});

test("a stream that finishes normally publishes no cancel", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  const cancels = await subjectLog(node.nc, "cancel.*");
  await node.registerTool(ticker());
  const client = await env.mesh();
  const stream = client.stream("tick", "run", { n: 3 });
  assert.equal((await collect(stream)).length, 4);
  await client.nc.flush();
  await node.nc.flush();
  assert.deepEqual(cancels.subjects, []);
});

test("a node that dies mid-stream → StreamInactivityError after the inactivity timeout, and a cancel", async (t) => {
  const env = await meshEnv(t);
  const fake = await env.raw();
  const cancels = await subjectLog(fake, "cancel.*");
  fake.subscribe("tools.dying.m.stream", {
    callback: (_e, msg) => {
      for (const i of [0, 1]) fake.publish(msg.reply!, JSON.stringify({ chunk: i, done: false, node: "zombie" }));
      // ... and then nothing: the node went silent.
    },
  });
  await fake.flush();
  const client = await env.mesh();

  const stream = client.stream("dying", "m", {}, { inactivityTimeoutMs: 300 });
  const chunks: unknown[] = [];
  const t0 = performance.now();
  await assert.rejects(
    (async () => {
      for await (const f of stream) chunks.push(f.chunk);
    })(),
    (err: unknown) => {
      assert.ok(err instanceof StreamInactivityError, String(err));
      assert.equal(err.idleMs, 300);
      assert.match(err.message, /tools\.dying\.m\.stream sent nothing for 300 ms/);
      return true;
    },
  );
  const elapsed = performance.now() - t0;
  assert.deepEqual(chunks, [0, 1]);
  assert.ok(elapsed >= 280 && elapsed < 2000, `gave up after ${elapsed.toFixed(0)} ms`);
  await cancels.waitFor(`cancel.${stream.callId}`);
});

test("two nodes answering one stream: only the first node's frames, in order, no doubles", async (t) => {
  const env = await meshEnv(t);
  const ran = new Set<string>();
  const tool = ticker((ctx) => ran.add(ctx.node));
  await (await env.node("n1")).registerTool(tool);
  await (await env.node("n2")).registerTool(tool);
  const client = await env.mesh();

  for (let round = 0; round < 5; round++) {
    const frames = await collect(client.stream("tick", "run", { n: 30 }));
    const first = frames[0]!.node;
    assert.ok(first === "n1" || first === "n2");
    assert.ok(frames.every((f) => f.node === first), `frames from ${[...new Set(frames.map((f) => f.node))]}`);
    assert.deepEqual(frames.slice(0, -1).map((f) => (f.chunk as { i: number }).i), Array.from({ length: 30 }, (_, i) => i));
    assert.deepEqual(frames.at(-1), { result: "sent 30", done: true, node: first });
  }
  assert.deepEqual([...ran].sort(), ["n1", "n2"], "both nodes did receive the stream request");
});

test("a node-targeted stream reaches only that node", async (t) => {
  const env = await meshEnv(t);
  const ran: string[] = [];
  const tool = ticker((ctx) => ran.push(ctx.node));
  await (await env.node("n1")).registerTool(tool);
  await (await env.node("n2")).registerTool(tool);
  const client = await env.mesh();
  const frames = await collect(client.stream("tick", "run", { n: 2 }, { node: "n2" }));
  assert.deepEqual(frames.map((f) => f.node), ["n2", "n2", "n2"]);
  await client.call("tick", "plain", {}, { node: "n1" }); // a round trip through n1 after its chance to run
  assert.deepEqual(ran, ["n2"]);
});

test("a terminal error frame is yielded with done:true and the error", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool({
    name: "fragile",
    methods: {
      run: {
        stream: true,
        handler: (_p, ctx) => {
          ctx.emit("partial");
          throw new Error("model crashed");
        },
      },
    },
  });
  const client = await env.mesh();
  const frames = await collect(client.stream("fragile", "run"));
  assert.deepEqual(frames, [
    { chunk: "partial", done: false, node: "n1" },
    { error: "model crashed", done: true, node: "n1" },
  ]);
});

test("streaming a method without a stream subscription → NoRespondersError", async (t) => {
  const env = await meshEnv(t);
  await (await env.node("n1")).registerTool(ticker());
  const client = await env.mesh();
  for (const [tool, method] of [["tick", "plain"], ["ghost", "run"]] as const) {
    await assert.rejects(collect(client.stream(tool, method)), (err: unknown) => {
      assert.ok(err instanceof NoRespondersError, String(err));
      assert.equal(err.subject, `tools.${tool}.${method}.stream`);
      return true;
    });
  }
});

test("an already aborted signal throws before anything is sent; a stream iterates once", async (t) => {
  const env = await meshEnv(t);
  const ran: string[] = [];
  await (await env.node("n1")).registerTool(ticker((ctx) => ran.push(ctx.node)));
  const client = await env.mesh();
  await assert.rejects(collect(client.stream("tick", "run", { n: 1 }, { signal: AbortSignal.abort() })), MeshCancelledError);
  const stream = client.stream("tick", "run", { n: 1 });
  await collect(stream);
  await assert.rejects(collect(stream), /iterated only once/);
  assert.deepEqual(ran, ["n1"], "the pre-aborted stream never reached the node");
});
