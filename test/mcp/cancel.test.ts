/**
 * Cancellation: an MCP client's abort, and --call-timeout, both reach the node
 * as `cancel.<call_id>` for the call_id the node saw.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Mesh } from "../../src/mesh/index.js";
import { deferred, mcpEnv, SubjectLog, textOf, within } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

/** `job.wait` / `job.watch` (streaming): run until cancelled, reporting the call_id and the abort. */
async function registerWaiter(node: Mesh) {
  const started = deferred<string>();
  const aborted = deferred<number>();
  const handler = async (_p: unknown, ctx: { request: { call_id?: string }; signal: AbortSignal; emit(c: unknown): void }) => {
    started.resolve(ctx.request.call_id ?? "");
    ctx.emit({ message: "waiting" });
    await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
    aborted.resolve(performance.now());
    return "stopped";
  };
  await node.registerTool({ name: "job", methods: { wait: { handler }, watch: { stream: true, handler } } });
  return { started, aborted };
}

for (const method of ["wait", "watch"]) {
  test(`client abort of job.${method}: cancel.<call_id> is published at once and the node's signal aborts`, T, async (t) => {
    const env = await mcpEnv(t);
    const node = await env.node("n1");
    const { started, aborted } = await registerWaiter(node);
    const watcher = await env.mesh();
    const cancels = await SubjectLog.open(watcher.nc, "cancel.*");
    const client = await env.client();

    const ac = new AbortController();
    const call = client.call(`job__${method}`, {}, { signal: ac.signal });
    const callId = await within(started.promise, 5000, "the handler start");
    assert.ok(callId.length > 0);
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(call, /abort/i);

    const cancel = await cancels.waitFor(`cancel.${callId}`, 1000);
    assert.ok(cancel.at - t0 < 1000, `cancel after ${(cancel.at - t0).toFixed(0)} ms`);
    assert.equal(cancel.data, "", "the cancel message is empty");
    const abortedAt = await within(aborted.promise, 1000, "the handler's abort");
    assert.ok(abortedAt - t0 < 1000);
    assert.deepEqual(cancels.subjects, [`cancel.${callId}`], "one cancel, for that call only");

    // The server is fine afterwards.
    assert.ok(client.alive);
    assert.ok((await client.listTools()).some((x) => x.name === "job__wait"));
  });
}

test("--call-timeout 1: isError about the timeout, and the cancel is published", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const { started, aborted } = await registerWaiter(node);
  const watcher = await env.mesh();
  const cancels = await SubjectLog.open(watcher.nc, "cancel.*");
  const client = await env.client({ args: ["--call-timeout", "1"] });

  const t0 = performance.now();
  const r = await client.call("job__wait");
  const ms = performance.now() - t0;
  assert.equal(r.isError, true);
  assert.match(textOf(r), /job\.wait: timed out after 1 s; the call was cancelled on the mesh\. Raise --call-timeout/);
  assert.ok(ms >= 900 && ms < 3000, `${ms.toFixed(0)} ms`);
  const callId = await started.promise;
  await cancels.waitFor(`cancel.${callId}`, 1000);
  await within(aborted.promise, 1000, "the handler's abort");
});
