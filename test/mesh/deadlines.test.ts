/**
 * The calls' shared deadline timer (mesh/call.ts Deadlines): each deadline fires once,
 * not before its time and not long after, in any order of adding; a forgotten one
 * never fires.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Deadlines } from "../../src/mesh/call.js";

test("deadlines fire once each, on time, whatever the order they were added in", async () => {
  const d = new Deadlines();
  const t0 = performance.now();
  const fired: Array<{ ms: number; at: number }> = [];
  const add = (ms: number) => d.add(ms, () => fired.push({ ms, at: performance.now() - t0 }));
  add(120);
  add(40); // earlier than the armed one: re-arms
  const forgotten = add(60);
  add(80);
  add(80);
  forgotten();
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(fired.map((f) => f.ms), [40, 80, 80, 120]);
  for (const f of fired) {
    assert.ok(f.at >= f.ms - 1, `${f.ms} ms deadline fired early, at ${f.at.toFixed(1)} ms`);
    assert.ok(f.at < f.ms + 150, `${f.ms} ms deadline fired late, at ${f.at.toFixed(1)} ms`);
  }
  d.close();
});

test("a deadline beyond setTimeout's range is held, not fired at once; close drops everything", async () => {
  const d = new Deadlines();
  let fired = 0;
  d.add(2 ** 31 + 1000, () => fired++);
  d.add(10, () => fired++);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(fired, 1);
  d.close();
  d.add(5, () => fired++);
  d.close();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, 1);
});
