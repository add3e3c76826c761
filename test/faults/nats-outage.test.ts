/**
 * nats-server killed and restarted at the same port while a call and a stream are
 * in flight. A short outage (~1 s) must cost the agent nothing it is not told
 * about: the answers arrive (or a clear error says to retry), and progress that
 * went missing is said. After a long outage (~6 s) whose answers are gone, every
 * in-flight call and stream must end with a clear isError within seconds of NATS
 * coming back, not at the one-hour call timeout or the stream idle timeout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { deferred, mcpEnv, registerCalculator, sleep, waitFor } from "../helpers/mcp.js";
import { outage, rawConnection, rawNode, reply, settle, show, type Settled } from "./helpers.js";

/** After NATS is back, how long an in-flight call may take to end ("within seconds"). */
const AFTER_RECOVERY_MS = 12_000;

/**
 * Calls that have run this long when NATS goes down were certainly delivered (the
 * bridge may fail younger ones at once as "may never have reached a node"). Tools
 * run for minutes, so this is the common case.
 */
const RUNNING_FOR_MS = 2500;

/** What a clear "the connection broke" error looks like to an agent. */
const OUTAGE_WORDS = /connection|NATS|reconnect|outage|disconnect/i;

function assertClearOutageError(what: string, r: Settled): void {
  assert.equal(r.error, undefined, `the ${what} must end with a tool result, not ${show(r)}`);
  assert.equal(r.result?.isError, true, `the ${what} must be an isError result: ${show(r)}`);
  assert.match(r.text, OUTAGE_WORDS, `the ${what}'s error must say the connection dropped: ${r.text}`);
}

test("short outage (~1 s) mid-call and mid-stream: the answers arrive or a clear error says so; lost progress is said", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const callStarted = deferred();
  const streamStarted = deferred();
  const STEPS = 80;
  await node.registerTool({
    name: "job",
    version: "1.0.0",
    methods: {
      sleep: {
        schema: { type: "object", properties: { ms: { type: "number" } } },
        handler: async (p) => {
          callStarted.resolve();
          await new Promise((r) => setTimeout(r, Number(p.ms)));
          return { slept: p.ms };
        },
      },
      count: {
        stream: true,
        schema: { type: "object", properties: {} },
        handler: async (_p, ctx) => {
          streamStarted.resolve();
          for (let i = 1; i <= STEPS; i++) {
            ctx.emit({ progress: i, total: STEPS, message: `step ${i}` });
            await new Promise((r) => setTimeout(r, 100));
          }
          return { counted: STEPS };
        },
      },
    },
  });
  const mc = await env.client();
  await mc.waitForTools(["job__sleep", "job__count"]);

  const progress: Progress[] = [];
  const call = settle(mc.call("job__sleep", { ms: 7000 }, { timeout: 30_000 }));
  const stream = settle(mc.call("job__count", {}, { timeout: 30_000, onprogress: (p) => progress.push(p) }));
  await callStarted.promise;
  await streamStarted.promise;
  await waitFor(() => progress.length >= 3, "the stream's first progress", { timeoutMs: 5000 });
  await sleep(RUNNING_FOR_MS);

  // The node reconnects before mesh-mcp does (200 ms vs 2 s between tries): the
  // frames it sends in between reach no one. The call's answer comes after both are back.
  const backAt = await outage(env.nats, 1000);
  const [c, s] = await Promise.all([call, stream]);
  const callMs = Math.round(c.at - backAt);
  const streamMs = Math.round(s.at - backAt);
  t.diagnostic(`after NATS came back: call ended in ${callMs} ms (${c.result?.isError ? "isError" : "ok"}), ` +
    `stream in ${streamMs} ms (${s.result?.isError ? "isError" : "ok"}, ${progress.length} of ${STEPS} progress)`);

  // The call: its answer, or a clear error; never a hang.
  assert.ok(callMs <= AFTER_RECOVERY_MS, `the call ended ${callMs} ms after NATS came back (want ≤ ${AFTER_RECOVERY_MS})`);
  if (c.result && !c.result.isError) {
    assert.deepEqual(c.result.structuredContent, { slept: 7000 }, "the call's own answer");
  } else {
    assertClearOutageError("call", c);
  }

  // The stream: its result with any gap said, or a clear error.
  assert.ok(streamMs <= AFTER_RECOVERY_MS, `the stream ended ${streamMs} ms after NATS came back (want ≤ ${AFTER_RECOVERY_MS})`);
  if (s.result && !s.result.isError) {
    assert.deepEqual(s.result.structuredContent, { counted: STEPS }, "the stream's own result");
    if (progress.length < STEPS) {
      const said = [s.text, ...progress.map((p) => p.message ?? "")].some((m) => OUTAGE_WORDS.test(m) || /lost|missed|gap/i.test(m));
      assert.ok(said, `${STEPS - progress.length} of ${STEPS} progress updates went missing in the outage and nothing said so ` +
        `(result: ${s.text}; last progress: ${progress.at(-1)?.message})`);
    }
  } else {
    assertClearOutageError("stream", s);
  }
  assert.ok(mc.alive);
  // The operator sees the outage in the log (stderr): one line when it starts, one when it ends.
  assert.match(mc.stderr, /disconnected/i, `the disconnect is logged:\n${mc.stderr}`);
  assert.match(mc.stderr, /reconnected/i, `the reconnect is logged:\n${mc.stderr}`);
});

test("long outage (~6 s) whose answers are gone: the in-flight call and stream end with a clear error within seconds", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t);
  // A real node for the check that calls work again afterwards.
  await registerCalculator(await env.node("n1"));
  // The node whose answers are lost: it got the requests, and its reply and terminal
  // frame went out while the server was down (here: they never come at all).
  const raw = await rawConnection(t, env.nats.url);
  const lost = await rawNode(raw, {
    node: "n2",
    tool: "lost",
    endpoints: [
      { name: "wait", schema: { type: "object", properties: {} } },
      {
        name: "feed",
        schema: { type: "object", properties: {}, stream: true },
        answer: (msg) => {
          reply(msg, { chunk: { progress: 1, message: "one" }, done: false, node: "n2" });
          reply(msg, { chunk: { progress: 2, message: "two" }, done: false, node: "n2" });
        },
      },
    ],
  });
  // Defaults on purpose: --call-timeout 3600, --stream-idle-timeout 120.
  const mc = await env.client();
  await mc.waitForTools(["lost__wait", "lost__feed", "calculator__add"]);

  const progress: Progress[] = [];
  const clientTimeout = { timeout: RUNNING_FOR_MS + 6000 + AFTER_RECOVERY_MS + 8000 };
  // With a progress token, as agents send it: keep-alive progress must not keep the agent waiting for an answer that is gone.
  const call = settle(mc.call("lost__wait", {}, { ...clientTimeout, onprogress: () => {} }));
  const stream = settle(mc.call("lost__feed", {}, { ...clientTimeout, onprogress: (p) => progress.push(p) }));
  await waitFor(() => lost.requests.length >= 2 && progress.length >= 2, "both requests at the node and the stream's progress", { timeoutMs: 5000 });
  await sleep(RUNNING_FOR_MS);

  const backAt = await outage(env.nats, 6000);
  const [c, s] = await Promise.all([call, stream]);
  const callMs = Math.round(c.at - backAt);
  const streamMs = Math.round(s.at - backAt);
  t.diagnostic(`time to a clear error after NATS came back: call ${callMs} ms, stream ${streamMs} ms`);

  for (const [what, r, took] of [["call", c, callMs], ["stream", s, streamMs]] as const) {
    assertClearOutageError(what, r);
    assert.ok(took <= AFTER_RECOVERY_MS, `the ${what} ended ${took} ms after NATS came back (want ≤ ${AFTER_RECOVERY_MS})`);
  }

  // And the mesh works again.
  const ok = await waitFor(async () => {
    const r = await mc.call("calculator__add", { a: 2, b: 3 }, { timeout: 5000 });
    return r.isError ? undefined : r;
  }, "calls to work again", { timeoutMs: 10_000, intervalMs: 200 });
  assert.deepEqual(ok.content, [{ type: "text", text: "5" }]);
});
