/**
 * The bridge against a node fixture that behaves as a real jb-mesh v0.0.9 node with
 * jb-service tools on jumpboot v1.2.2 (issue 21): reshaped results, None that never
 * answers, sync methods deaf to cancels, exceptions mid-stream, a clean stop mid-call,
 * REPL oneshot tools, replies over max_payload that vanish, trimmed manifests, and
 * the mesh's own log store on logs.call.* both ways. Each test asserts what the MCP
 * client (or a Go subscriber on logs.>) sees.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CALLER_BIN, goNodes, startNats, type GoNode } from "../helpers/jbmesh.js";
import { userInfo } from "node:os";
import { McpClient, textOf, waitFor } from "../helpers/mcp.js";
import type { NatsServer } from "../helpers/nats-server.js";

const T = { timeout: 60_000 };
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A Go program subscribed to logs.> (what jb-mesh's logstore captures): resolves with what it saw. */
async function goLogSubscriber(natsUrl: string, prefix: string, count: number, corrPrefix: string): Promise<{ done: Promise<Json> }> {
  const p = spawn(CALLER_BIN, ["--nats", natsUrl, "--timeout", "30s", "logs", prefix, String(count), corrPrefix], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  p.stdout!.on("data", (d) => (out += String(d)));
  const subscribed = new Promise<void>((resolve, reject) => {
    p.stderr!.on("data", (d) => {
      err += String(d);
      if (err.includes("subscribed")) resolve();
    });
    p.once("exit", () => reject(new Error(`the Go log subscriber exited early: ${err}`)));
  });
  const done = new Promise<Json>((resolve, reject) => p.once("close", () => {
    try {
      resolve(JSON.parse(out) as Json);
    } catch {
      reject(new Error(`the Go log subscriber printed no JSON: ${out}\n${err}`));
    }
  }));
  await subscribed;
  return { done }; // wrapped: an async function would wait for a returned promise
}

describe("bridge ↔ a node that behaves as a real jb-mesh v0.0.9 node", () => {
  let nats: NatsServer;
  let client: McpClient;
  let node: GoNode;
  const { nodes, start } = goNodes(() => nats.url);

  before(async () => {
    nats = await startNats("2.9"); // what the real run used
    node = await start({ name: "rn", tools: ["quirks", "notebook", "writer"], oneshotStartMs: 1100, cancelGraceMs: 5000 });
    client = await McpClient.start({ natsUrl: nats.url, args: ["--call-timeout", "4", "--stream-idle-timeout", "120"] });
    await client.waitForTools(["quirks__shape", "quirks__big", "notebook__echo", "writer__explode"], 15_000);
  });
  after(async () => {
    await client?.close();
    await Promise.all(nodes.map((n) => n.kill()));
    await nats?.stop();
  });

  test("1. results come reshaped by jumpboot: one-key dicts unwrapped, `result` taken, a string `error` fails the call", T, async () => {
    const shape = (value: unknown) => client.call("quirks__shape", { value });
    assert.equal(textOf(await shape({ sum: 5 })), "5");
    assert.equal(textOf(await shape({ result: "r", extra: 1 })), "r");
    const two = JSON.parse(textOf(await shape({ a: 1, b: 2 }))) as Json;
    assert.deepEqual(two, { a: 1, b: 2 }, "request_id is dropped, the dict kept");
    const failed = await shape({ error: "the model is not loaded" });
    assert.equal(failed.isError, true);
    assert.match(textOf(failed), /queue call failed: python error: the model is not loaded/);
  });

  test("8. the manifest is trimmed on the wire: an enum never reaches the client, and the node does not check it", T, async () => {
    const tools = await client.listTools();
    const mode = (tools.find((t) => t.name === "quirks__shape")!.inputSchema as Json).properties.mode as Json;
    assert.equal(mode.type, "string");
    assert.equal(mode.enum, undefined);
    const r = await client.call("quirks__shape", { value: { ok: "yes" }, mode: "not-in-the-enum" });
    assert.equal(r.isError, undefined, textOf(r));
  });

  test("4. mesh-mcp's own records on logs.call.*: a Go subscriber reads them with jb-mesh's field names, beside the node's", T, async () => {
    // Only this test's calls (records of earlier ones may still be on their way): their corr says which.
    const corr = `rec-${Date.now()}`;
    const seen = await goLogSubscriber(nats.url, "logs.call.", 4, corr);
    const secret = "s3cr3t-argument-value";
    assert.equal(textOf(await client.call("quirks__shape", { value: { sum: 2 }, mode: secret, corr: `${corr}-ok` })), "2");
    assert.equal((await client.call("quirks__shape", { value: { error: "no" }, corr: `${corr}-failed` })).isError, true);
    const out = await seen.done;
    assert.equal(out.error, undefined, JSON.stringify(out));
    const records = out.records as Json[];
    for (const r of records) assert.equal(r.strict_error, undefined, `${r.subject}: ${r.strict_error}`);
    const ours = records.filter((r) => r.subject.startsWith("logs.call.mesh-mcp."));
    const theirs = records.filter((r) => r.subject.startsWith("logs.call.rn."));
    assert.equal(ours.length, 2);
    assert.equal(theirs.length, 2);
    const ok = ours.find((r) => r.record.corr === `${corr}-ok`)?.record as Json | undefined;
    const failed = ours.find((r) => r.record.corr === `${corr}-failed`)?.record as Json | undefined;
    assert.ok(ok && failed, JSON.stringify(ours));
    assert.equal(ours[0]!.subject, "logs.call.mesh-mcp.quirks.shape");
    assert.deepEqual(
      { kind: ok!.kind, level: ok!.level, node: ok!.node, tool: ok!.tool, method: ok!.method, ok: ok!.ok, served_by: ok!.data.served_by, outcome: ok!.data.outcome },
      { kind: "tool_call", level: "info", node: "mesh-mcp", tool: "quirks", method: "shape", ok: true, served_by: "rn", outcome: "ok" },
    );
    assert.ok(typeof ok!.duration_ms === "number" && ok!.duration_ms > 0);
    assert.ok(!Number.isNaN(Date.parse(ok!.ts)));
    // The record names the caller: over stdio, the local user (identity's stdio principal).
    assert.equal(ok!.message, `quirks.shape completed on rn for ${userInfo().username}`);
    assert.equal(failed!.ok, false);
    assert.equal(failed!.level, "error");
    assert.match(failed!.data.error, /queue call failed: python error: no/);
    // One call, both sides: the node's record carries the same corr.
    assert.deepEqual(theirs.map((r) => r.record.corr).sort(), ours.map((r) => r.record.corr).sort());
    assert.ok(!JSON.stringify(records).includes(secret), "arguments never reach the log store");
  });

  test("7. a reply over max_payload is dropped by the node: the call ends within 5 s with the size and the limit", T, async () => {
    const t0 = performance.now();
    const r = await client.call("quirks__big", { bytes: 1_100_000 }, { timeout: 30_000 });
    const ms = performance.now() - t0;
    assert.equal(r.isError, true);
    assert.match(textOf(r), /the result was 1100002 bytes, over the NATS server's max_payload of 1048576/);
    assert.match(textOf(r), /raise max_payload.*or have the tool return a file/i);
    assert.ok(ms < 5000, `ended after ${Math.round(ms)} ms`);
    // A small result on the same method is answered as usual.
    assert.equal(textOf(await client.call("quirks__big", { bytes: 3 })), "xxx");
  });

  test("7. a stream whose final frame is over max_payload ends within 5 s, from the node's record", T, async () => {
    const t0 = performance.now();
    const r = await client.call("quirks__big_stream", { bytes: 1_100_000 }, { timeout: 30_000 });
    const ms = performance.now() - t0;
    assert.equal(r.isError, true);
    assert.match(textOf(r), /node rn finished quirks\.big_stream.*\(1 frames sent\).*max_payload of 1048576/);
    assert.ok(ms < 5000, `ended after ${Math.round(ms)} ms`);
  });

  test("4. an exception inside a stream: a terminal frame (done:true) with jumpboot's chained traceback, from node rn", T, async () => {
    const r = await client.call("writer__explode", { after: 1 });
    assert.equal(r.isError, true);
    const text = textOf(r);
    assert.match(text, /writer\.explode failed on node rn/);
    assert.match(text, /RuntimeError: the model ran out of memory/);
    assert.match(text, /During handling of the above exception, another exception occurred/);
  });

  test("6. a REPL oneshot tool: results as returned, tracebacks with literal \\n, streams refused", T, async () => {
    assert.deepEqual(JSON.parse(textOf(await client.call("notebook__echo", { text: "hi" }))), { echo: "hi" });
    const failed = await client.call("notebook__fail", {});
    assert.equal(failed.isError, true);
    assert.match(textOf(failed), /ValueError: the notebook cell failed\nTraceback \(most recent call last\):\\n {2}File/);
    const stream = await client.call("notebook__count", {});
    assert.equal(stream.isError, true);
    assert.match(textOf(stream), /streaming requires msgpack transport; tool notebook uses "repl"/);
  });

  test("3. a failed call's error carries what the node logged when it adds something (here: how long the node worked)", T, async () => {
    const failed = await client.call("notebook__fail", {});
    assert.match(textOf(failed), /\(node rn's log: failed after 1\.\d s of work on the node\)/);
  });

  test("2. a method that returns None never answers: the call ends at --call-timeout and the cancel frees the node", T, async () => {
    const since = node.events.length;
    const t0 = performance.now();
    const r = await client.call("quirks__nothing", {}, { timeout: 30_000 });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /timed out after 4 s; the call was cancelled on the mesh/);
    assert.ok(performance.now() - t0 >= 3500);
    await node.waitForEvent("cancel", (e) => e.method === "nothing", { since, timeoutMs: 5000 });
  });

  test("3. a sync method is deaf to cancels and holds the tool's queue: the tool's next call waits for it", T, async () => {
    const ac = new AbortController();
    const since = node.events.length;
    const busy = client.call("quirks__busy", { seconds: 2.5 }, { signal: ac.signal, timeout: 30_000 }).catch((e: Error) => e);
    await node.waitForEvent("call", (e) => e.method === "busy", { since, timeoutMs: 10_000 });
    ac.abort();
    assert.ok((await busy) instanceof Error, "the client's own cancel ends its request at once");
    await node.waitForEvent("cancel", (e) => e.method === "busy", { since, timeoutMs: 5000 });
    const t0 = performance.now();
    const nap = await client.call("quirks__nap", { seconds: 0 }, { timeout: 30_000 });
    const waited = performance.now() - t0;
    assert.equal(nap.isError, undefined, textOf(nap));
    assert.ok(waited >= 1000, `quirks.nap should have waited for quirks.busy to return (it took ${Math.round(waited)} ms)`);
  });

  test("5. a clean stop mid-call answers the call in flight at once (python process exited)", T, async () => {
    const stopper = await start({ name: "stopper", tools: ["quirks"] });
    // Which nodes offer a method is in mesh://tools (tool definitions name no nodes).
    await waitFor(async () => (await client.nodesOf("quirks__nap")).includes("stopper"), "quirks.nap offered by node stopper", { timeoutMs: 15_000, intervalMs: 100 });
    const since = stopper.events.length;
    const pending = client.call("quirks__nap", { seconds: 30, _node: "stopper" }, { timeout: 30_000 });
    await stopper.waitForEvent("call", (e) => e.method === "nap", { since, timeoutMs: 10_000 });
    const t0 = performance.now();
    await stopper.stop();
    const r = await pending;
    assert.equal(r.isError, true);
    assert.match(textOf(r), /queue call failed: python error: python process exited: signal: terminated/);
    assert.ok(performance.now() - t0 < 10_000, "answered by the stop, not by --call-timeout");
  });
});
