import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MeshCancelledError, type StreamFrame } from "../../src/mesh/index.js";
import { NODE, publishedSchema, startFixture, type Fixture } from "./helpers.js";

const { registerCounter } = await import("../../examples/counter.js");

describe("examples/counter (streaming)", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture(registerCounter);
  });
  after(() => fx.close());

  test("the schema says stream: true", async () => {
    const schema = await publishedSchema(fx.client, "counter", "count");
    assert.equal(schema.stream, true);
    assert.equal(schema.type, "object");
    const props = schema.properties as Record<string, { type: string; description: string }>;
    assert.equal(props.n?.type, "integer");
    assert.ok(props.delay_ms?.description);
  });

  test("yields ordered {progress, total, message} chunks, then the result", async () => {
    const frames: StreamFrame[] = [];
    for await (const f of fx.client.stream("counter", "count", { n: 5, delay_ms: 10 })) frames.push(f);
    assert.equal(frames.length, 6);
    frames.slice(0, 5).forEach((f, i) => {
      assert.equal(f.done, false);
      assert.equal(f.node, NODE);
      assert.deepEqual(f.chunk, { progress: i + 1, total: 5, message: `counted ${i + 1} of 5` });
    });
    const last = frames[5]!;
    assert.equal(last.done, true);
    assert.equal(last.error, undefined);
    assert.equal((last.result as { count: number }).count, 5);
  });

  test("the node stops early when the caller cancels (cancel.<call_id>)", async () => {
    // 100 steps of 100 ms = 10 s when left alone.
    const stream = fx.client.stream("counter", "count", { n: 100, delay_ms: 100 });
    const t0 = Date.now();
    const chunks: unknown[] = [];
    let terminal: StreamFrame | undefined;
    let cancelledAt = 0;
    for await (const f of stream) {
      if (f.done) {
        terminal = f;
        break;
      }
      chunks.push(f.chunk);
      if (chunks.length === 3) {
        // Publish the cancel but keep reading: the node's own terminal frame tells how it ended.
        fx.client.cancel(stream.callId);
        cancelledAt = Date.now();
      }
    }
    const elapsed = Date.now() - t0;
    assert.ok(terminal, "a terminal frame arrived");
    assert.equal(terminal.done, true);
    assert.match(terminal.error ?? "", /^cancelled: stopped at 3 of 100$/);
    assert.equal(chunks.length, 3, "no chunk after the cancel");
    assert.ok(Date.now() - cancelledAt < 1000, `the node answered the cancel within ${Date.now() - cancelledAt} ms`);
    assert.ok(elapsed < 3000, `ended after ${elapsed} ms, well before the full 10 s`);
  });

  test("aborting the caller's signal ends the stream at once and publishes the cancel", async () => {
    const cancels: string[] = [];
    const sub = fx.node.nc.subscribe("cancel.*", { callback: (_err, msg) => void cancels.push(msg.subject) });
    await fx.node.nc.flush();
    const ac = new AbortController();
    const stream = fx.client.stream("counter", "count", { n: 100, delay_ms: 100 }, { signal: ac.signal });
    const t0 = Date.now();
    const seen: number[] = [];
    try {
      await assert.rejects(
        (async () => {
          for await (const f of stream) {
            seen.push((f.chunk as { progress: number }).progress);
            if (seen.length === 2) ac.abort();
          }
        })(),
        MeshCancelledError,
      );
      assert.deepEqual(seen, [1, 2]);
      assert.ok(Date.now() - t0 < 3000, `ended after ${Date.now() - t0} ms`);
      await fx.client.nc.flush();
      await fx.node.nc.flush();
      assert.ok(cancels.includes(`cancel.${stream.callId}`), `cancel.${stream.callId} was published`);
    } finally {
      sub.unsubscribe();
    }
  });
});
