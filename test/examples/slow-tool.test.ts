import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MeshCancelledError } from "../../src/mesh/index.js";
import { NODE, startFixture, type Fixture } from "./helpers.js";

const { registerSlowTool } = await import("../../examples/slow-tool.js");

describe("examples/slow-tool", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture(registerSlowTool);
  });
  after(() => fx.close());

  test("sleeps as asked when left alone", async () => {
    const t0 = Date.now();
    const r = await fx.client.call("slow", "sleep", { seconds: 0.2 });
    assert.equal(r.ok, true, r.error);
    assert.equal((r.result as { slept_seconds: number }).slept_seconds, 0.2);
    assert.ok(Date.now() - t0 >= 190, `took ${Date.now() - t0} ms`);
  });

  test("the node stops and replies promptly when the call is cancelled", async () => {
    // Publish the cancel ourselves and keep waiting for the node's own reply: it must come
    // at once, long before the 30 s asked for, and say that it was cancelled.
    const callId = `slow-test-${Date.now()}`;
    const t0 = Date.now();
    const reply = fx.client.call("slow", "sleep", { seconds: 30 }, { callId, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    fx.client.cancel(callId);
    const cancelledAt = Date.now();
    const r = await reply;
    assert.equal(r.ok, false);
    assert.equal(r.node, NODE);
    assert.match(r.error ?? "", /^cancelled: stopped after 0\.\d s of 30 s$/);
    assert.ok(Date.now() - cancelledAt < 1000, `replied ${Date.now() - cancelledAt} ms after the cancel`);
    assert.ok(Date.now() - t0 < 3000, `ended after ${Date.now() - t0} ms of the 30 s asked for`);
  });

  test("callWithSignal: abort rejects at once", async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(fx.client.callWithSignal("slow", "sleep", { seconds: 30 }, ac.signal), MeshCancelledError);
    assert.ok(Date.now() - t0 < 2000, `rejected after ${Date.now() - t0} ms`);
  });

  test("bad seconds are refused", async () => {
    const r = await fx.client.call("slow", "sleep", { seconds: -1 });
    assert.deepEqual(r, { ok: false, error: "seconds must be at least 0, got -1", node: NODE });
  });
});
