/**
 * Streaming methods as MCP progress, and keep-alive progress for long calls.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Mesh } from "../../src/mesh/index.js";
import { deferred, mcpEnv, sleep, textOf, waitFor } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

/** `counter.count`: n chunks carrying progress/total/message, then `{counted}`; `counter.quiet`: chunks, no result. */
async function registerCounter(node: Mesh, ran: string[] = []): Promise<void> {
  await node.registerTool({
    name: "counter",
    description: "Counts",
    methods: {
      count: {
        stream: true,
        schema: { type: "object", properties: { n: { type: "integer", description: "how far" } }, required: ["n"] },
        handler: async (p, ctx) => {
          const n = p.n as number;
          ran.push(ctx.node);
          for (let i = 1; i <= n; i++) {
            ctx.emit({ progress: i * 10, total: n * 10, message: `step ${i} of ${n}` });
            await sleep(20);
          }
          // A progress notification written just before the response may be dropped by the SDK client.
          await sleep(100);
          return { counted: n, node: ctx.node };
        },
      },
      quiet: {
        stream: true,
        handler: async (_p, ctx) => {
          for (const word of ["one", "two", "three"]) ctx.emit({ word });
          return undefined;
        },
      },
    },
  });
}

test("with a progress token each chunk is a progress notification (increasing, total and message from the chunk); the result is the terminal frame's", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCounter(node);
  const client = await env.client();
  const { result, progress } = await client.callWithProgress("counter__count", { n: 4 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual(result.structuredContent, { counted: 4, node: "n1" });
  assert.deepEqual(progress.map((p) => p.progress), [10, 20, 30, 40]);
  assert.deepEqual(progress.map((p) => p.total), [40, 40, 40, 40]);
  assert.deepEqual(progress.map((p) => p.message), ["step 1 of 4", "step 2 of 4", "step 3 of 4", "step 4 of 4"]);
  // With progress already shown, the result does not repeat the chunks.
  assert.doesNotMatch(textOf(result), /progress chunks/);
});

test("without a progress token the chunks are in the result when the terminal result lacks them", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCounter(node);
  const client = await env.client();

  const quiet = await client.call("counter__quiet");
  assert.equal(quiet.isError, undefined, textOf(quiet));
  assert.deepEqual(quiet.structuredContent, { chunks: [{ word: "one" }, { word: "two" }, { word: "three" }] });

  // With a terminal result and no progress token, the chunks still reach the agent, after the result.
  const counted = await client.call("counter__count", { n: 2 });
  assert.deepEqual(counted.structuredContent, { counted: 2, node: "n1" });
  assert.match(textOf(counted), /\(2 progress chunks\)/);
  assert.match(textOf(counted), /step 2 of 2/);
});

test("a stream that goes silent ends with isError after --stream-idle-timeout, and the node is told to stop", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const stopped = deferred<string>();
  await node.registerTool({
    name: "hang",
    methods: {
      forever: {
        stream: true,
        handler: async (_p, ctx) => {
          ctx.emit({ message: "started" });
          await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
          stopped.resolve(ctx.request.call_id ?? "");
          return "too late";
        },
      },
    },
  });
  const client = await env.client({ args: ["--stream-idle-timeout", "1"] });
  const t0 = performance.now();
  const r = await client.call("hang__forever");
  const ms = performance.now() - t0;
  assert.equal(r.isError, true);
  assert.match(textOf(r), /hang\.forever: stream on node\.n1\.tools\.hang\.forever\.stream sent nothing for 1000 ms/);
  assert.ok(ms >= 900 && ms < 4000, `ended after ${ms.toFixed(0)} ms (idle timeout 1 s)`);
  await stopped.promise; // the cancel reached the handler
});

test("two nodes offering one stream: it runs on one node, the next call on the other", T, async (t) => {
  const env = await mcpEnv(t);
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  const ran: string[] = [];
  await registerCounter(n1, ran);
  await registerCounter(n2, ran);
  const client = await env.client();
  await client.waitForTools(["counter__count"]);
  await waitFor(async () => JSON.stringify(await client.nodesOf("counter__count")) === JSON.stringify(["n1", "n2"]), "both nodes offer counter.count");

  const { result, progress } = await client.callWithProgress("counter__count", { n: 3 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual(progress.map((p) => p.progress), [10, 20, 30], "three chunks, not six");
  assert.deepEqual(progress.map((p) => p.message), ["step 1 of 3", "step 2 of 3", "step 3 of 3"]);
  assert.equal(ran.length, 1, `the stream ran on ${ran.join(", ")}: jb-mesh .stream subjects have no queue group, so the bridge must target one node`);
  const again = await client.callWithProgress("counter__count", { n: 1 });
  assert.equal(again.result.isError, undefined, textOf(again.result));
  assert.deepEqual(ran.sort(), ["n1", "n2"], "the least recently used node serves the next call");

  const quiet = await client.call("counter__quiet");
  assert.equal((quiet.structuredContent as { chunks: unknown[] }).chunks.length, 3);

  // Pinned with _node, only that node streams.
  ran.length = 0;
  const pinned = await client.callWithProgress("counter__count", { n: 2, _node: "n2" });
  assert.deepEqual(pinned.result.structuredContent, { counted: 2, node: "n2" });
  assert.deepEqual(ran, ["n2"]);
  assert.equal(pinned.progress.length, 2);
});

test("chunks without progress figures count up; a terminal error frame is an isError naming the node", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCounter(node);
  await node.registerTool({
    name: "broken",
    methods: {
      midway: {
        stream: true,
        handler: async (_p, ctx) => {
          ctx.emit("warming up");
          await sleep(20);
          throw new Error("GPU out of memory");
        },
      },
    },
  });
  const client = await env.client();
  const quiet = await client.callWithProgress("counter__quiet");
  assert.deepEqual(quiet.progress.map((p) => p.progress), [1, 2, 3]);
  assert.deepEqual(quiet.result.structuredContent, { chunks: [{ word: "one" }, { word: "two" }, { word: "three" }] });

  const { result, progress } = await client.callWithProgress("broken__midway");
  assert.equal(result.isError, true);
  assert.match(textOf(result), /broken\.midway failed on node n1: GPU out of memory/);
  assert.deepEqual(progress.map((p) => [p.progress, p.message]), [[1, "warming up"]]);
});

test("keep-alive progress during a long non-streaming call when the client sent a progress token", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await node.registerTool({
    name: "slow",
    methods: { job: { handler: async () => (await sleep(2500), { done: true }) } },
  });
  const client = await env.client({ args: ["--keepalive-interval", "1"] });
  const { result, progress } = await client.callWithProgress("slow__job", {}, { timeout: 2000 });
  assert.deepEqual(result.structuredContent, { done: true }, "the 2 s client timeout was reset by the keep-alives");
  assert.ok(progress.length >= 2, `${progress.length} keep-alive notifications`);
  assert.deepEqual(progress.map((p) => p.progress), progress.map((_, i) => i + 1));
  assert.match(progress[0]!.message ?? "", /slow\.job still running/);
});
