/**
 * A node streams 2,000 frames of 512 KB (a gigabyte) to one call. mesh-mcp keeps of its
 * chunks only what the answer needs, bounded per call and in all: its memory stays
 * bounded, a stream whose final frame carries the result is answered with it, and one
 * whose chunks would have been the result ends with an error that says why.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Msg } from "@nats-io/transport-node";
import { mcpEnv, registerCalculator } from "../helpers/mcp.js";
import { memoryOf, rawConnection, rawNode, settle, show } from "./helpers.js";

const FRAMES = 2000;
const FRAME_BYTES = 512 * 1024;
/** Growth of mesh-mcp's peak RSS over its start that is still "bounded" (today's main: ~900 MB). */
const GROWTH_MAX_MB = 300;

test(`${FRAMES} frames of ${FRAME_BYTES / 1024} KB: memory stays bounded, the call ends clearly`, { timeout: 240_000 }, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("good"));
  const raw = await rawConnection(t, env.nats.url);
  const payload = "z".repeat(FRAME_BYTES);
  /** Sends the frames with flow control (a flush every 50), then the final frame. */
  const flood = (final: Record<string, unknown>) => async (msg: Msg) => {
    if (!msg.reply) return;
    for (let i = 0; i < FRAMES; i++) {
      raw.publish(msg.reply, JSON.stringify({ chunk: { i, data: payload }, done: false, node: "flood" }));
      if (i % 50 === 49) await raw.flush();
    }
    raw.publish(msg.reply, JSON.stringify({ done: true, node: "flood", ...final }));
    await raw.flush();
  };
  await rawNode(raw, {
    node: "flood",
    tool: "flood",
    endpoints: [
      { name: "withresult", schema: { type: "object", properties: {}, stream: true }, answer: flood({ result: { total: FRAMES } }) },
      { name: "noresult", schema: { type: "object", properties: {}, stream: true }, answer: flood({}) },
    ],
  });
  const mc = await env.client({ args: ["--stream-idle-timeout", "60"] });
  await mc.waitForTools(["flood__withresult", "flood__noresult", "calculator__add"], 10_000);
  const before = memoryOf(mc.proc.pid!);

  const withResult = await settle(mc.call("flood__withresult", {}, { timeout: 180_000 }));
  const mid = memoryOf(mc.proc.pid!);
  const noResult = await settle(mc.call("flood__noresult", {}, { timeout: 180_000 }));
  const after = memoryOf(mc.proc.pid!);
  t.diagnostic(`RSS before ${before.rssMb} MB; after the stream with a result ${mid.rssMb} MB; after the one without ${after.rssMb} MB; peak ${after.peakMb} MB`);

  assert.equal(withResult.error, undefined, show(withResult));
  assert.notEqual(withResult.result!.isError, true, show(withResult));
  assert.match(withResult.text, /"total": 2000/, "the final frame's result is the answer");

  assert.equal(noResult.error, undefined, show(noResult));
  assert.equal(noResult.result!.isError, true, `chunks past the bound cannot be the result: ${show(noResult)}`);
  assert.match(noResult.text, /final frame has no result.*more than mesh-mcp keeps/s, noResult.text.slice(0, 400));

  assert.ok(after.peakMb - before.rssMb < GROWTH_MAX_MB, `peak RSS ${after.peakMb} MB from ${before.rssMb} MB (want < +${GROWTH_MAX_MB} MB)`);
  const ok = await settle(mc.call("calculator__add", { a: 1, b: 1 }, { timeout: 5000 }));
  assert.equal(ok.text, "2", show(ok));
});
