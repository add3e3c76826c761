/**
 * Pure parts of running a call on one node: the node picker, which node errors are
 * setup failures (safe to retry elsewhere), and the shapes of a Python error frame.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodePicker, isSetupError } from "../../src/mesh/balance.js";
import { parseTypedDescription } from "../../src/mesh/files.js";
import { StreamFrameWire } from "../../src/mesh/types.js";

test("the picker takes turns, skips excluded nodes, and avoids a node that just failed while others can serve", () => {
  const p = new NodePicker();
  const nodes = ["a", "b", "c"];
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => p.pick("t", nodes)), ["a", "b", "c", "a", "b", "c"]);
  assert.equal(p.pick("t", nodes, new Set(["a", "b"])), "c");
  assert.equal(p.pick("t", nodes, new Set(nodes)), undefined);
  p.failedOn("a", "t");
  assert.deepEqual([1, 2, 3, 4].map(() => p.pick("t", nodes)).sort(), ["b", "b", "c", "c"]);
  // Another tool on the same node is not affected; and with only failed nodes left, they are still tried.
  assert.ok(["a", "b", "c"].includes(p.pick("u", nodes)!));
  p.failedOn("b", "t");
  p.failedOn("c", "t");
  assert.ok(p.pick("t", nodes) !== undefined);
});

test("the picker prefers the node with fewer of our calls of the method in flight", () => {
  const p = new NodePicker();
  const nodes = ["a", "b"];
  assert.equal(p.pick("t", nodes, undefined, "m"), "a");
  const done = p.started("a", "t", "m");
  assert.deepEqual([1, 2, 3].map(() => p.pick("t", nodes, undefined, "m")), ["b", "b", "b"], "a is busy with a call of t.m");
  assert.equal(p.pick("t", nodes, undefined, "other"), "a", "another method of the tool is not held up");
  done();
  done(); // idempotent
  assert.deepEqual([1, 2].map(() => p.pick("t", nodes, undefined, "m")), ["b", "a"], "both idle again: turns by last use");
});

test("setup failures of a jb-mesh node (pkg/tools/executor.go) are told from a tool's own errors", () => {
  for (const e of [
    "tool calc is not running, start it first",
    "tool not found: calc",
    "method not found: add",
    "failed to ensure environment: exit status 1",
    'streaming requires msgpack transport; tool writer uses "json"',
  ]) assert.equal(isSetupError(e), true, e);
  for (const e of ["ValueError: bad input", "context canceled", "division by zero", undefined, "my tool is not running well"]) {
    assert.equal(isSetupError(e), false, String(e));
  }
});

test("an error frame: a string, or an object with type/message/traceback, is text; a frame without done is still an error", () => {
  const f1 = StreamFrameWire.parse({ error: "ValueError: x", traceback: "Traceback …" });
  assert.equal(f1.error, "ValueError: x");
  assert.equal(f1.done, false);
  const f2 = StreamFrameWire.parse({ error: { type: "ValueError", message: "x", traceback: "Traceback (most recent call last)" }, done: true });
  assert.equal(f2.error, "ValueError: x\nTraceback (most recent call last)");
  assert.equal(StreamFrameWire.parse({ chunk: 1, error: null }).error, undefined);
});

test("objects typed by their description (jb-service attach_file) give their content type and etag", () => {
  assert.deepEqual(parseTypedDescription("image/png;etag=ABC123"), { contentType: "image/png", etag: "abc123" });
  assert.deepEqual(parseTypedDescription("text/plain; charset=utf-8;etag=00"), { contentType: "text/plain; charset=utf-8", etag: "00" });
  assert.equal(parseTypedDescription("jb-mesh file store"), undefined);
  assert.equal(parseTypedDescription(""), undefined);
});
