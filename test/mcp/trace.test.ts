/** Trace context from `_meta` → NATS request headers: well-formed values pass, others are dropped. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { traceHeaders } from "../../src/mcp/tools.js";

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

test("traceparent and tracestate become headers", () => {
  assert.deepEqual(traceHeaders({ traceparent: PARENT, tracestate: "a=1,b=2" }), { traceparent: PARENT, tracestate: "a=1,b=2" });
  assert.deepEqual(traceHeaders({ traceparent: PARENT }), { traceparent: PARENT });
});

test("no trace context, or a malformed one, sends no headers", () => {
  assert.equal(traceHeaders(undefined), undefined);
  assert.equal(traceHeaders({}), undefined);
  assert.equal(traceHeaders({ traceparent: "not-a-traceparent" }), undefined);
  assert.equal(traceHeaders({ traceparent: `${PARENT}\r\nX-Evil: 1` }), undefined);
  assert.equal(traceHeaders({ traceparent: 42 }), undefined);
  assert.equal(traceHeaders({ tracestate: "a=1" }), undefined, "a tracestate alone means nothing");
});

test("a tracestate that could break the header block or is oversized is dropped, the traceparent kept", () => {
  assert.deepEqual(traceHeaders({ traceparent: PARENT, tracestate: "a=1\r\nX-Evil: 1" }), { traceparent: PARENT });
  assert.deepEqual(traceHeaders({ traceparent: PARENT, tracestate: "x".repeat(600) }), { traceparent: PARENT });
});
