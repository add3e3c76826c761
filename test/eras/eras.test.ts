/**
 * Both protocol revisions from one mesh-mcp: every client kind (v2 pinned to
 * 2026-07-28, v2 auto, v2 legacy, v1) over HTTP (one shared endpoint) and stdio (one
 * process per client) connects, lists, calls, gets progress, cancels onto the mesh,
 * hears list_changed when a node joins and leaves, and reads and follows a file.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Mesh } from "../../src/mesh/index.js";
import { meshWithTools, startCli, waitFor, type Env } from "../http/helpers.js";
import { CLIENT_KINDS, connect, type CallResult, type EraClient, type Target, type Wire } from "./kit.js";

const T = { timeout: 120_000 };
const text = (r: CallResult) => r.content[0]?.text ?? "";

async function exercise(t: TestContext, env: Env, client: EraClient): Promise<void> {
  const modern = client.kind === "v2-pinned" || client.kind === "v2-auto";
  if (client.kind !== "v1") assert.equal(client.protocolVersion(), modern ? "2026-07-28" : "2025-11-25", "negotiated revision");

  // list: the mesh's tools, in the same order every time
  const first = (await client.listTools()).map((x) => x.name);
  for (const n of ["calc__add", "slow__count", "slow__wait"]) assert.ok(first.includes(n), `${n} in ${first.join(", ")}`);
  assert.deepEqual((await client.listTools()).map((x) => x.name), first, "deterministic order");

  // call, with the client's trace context carried onto the NATS request
  const requests: Array<{ traceparent?: string; tracestate?: string }> = [];
  // The bridge may send to the shared subject or pin a node: watch both.
  for (const subject of ["tools.calc.add", "node.*.tools.calc.add"]) {
    const spy = env.node.nc.subscribe(subject, {
      callback: (_e, m) => void requests.push({ traceparent: m.headers?.get("traceparent"), tracestate: m.headers?.get("tracestate") }),
    });
    t.after(() => spy.unsubscribe());
  }
  await env.node.nc.flush(); // the server has our interest before the call goes out
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const sum = await client.call("calc__add", { a: 20, b: 22 }, { meta: { traceparent, tracestate: "mesh=1" } });
  assert.equal(sum.isError, undefined, text(sum));
  assert.equal(text(sum), "42");
  await waitFor(() => requests.length > 0, "the NATS request");
  assert.deepEqual(requests[0], { traceparent, tracestate: "mesh=1" });

  // progress on the request's own stream
  const progress: number[] = [];
  const counted = await client.call("slow__count", { n: 6 }, { onprogress: (p) => progress.push(p.progress) });
  assert.deepEqual(counted.structuredContent, { counted: 6 });
  if (client.wire === "http") assert.deepEqual(progress, [1, 2, 3, 4, 5, 6], "no progress lost over HTTP");
  // stdio: the SDK clients can drop progress read together with the result (typescript-sdk#2580)
  else assert.deepEqual(progress.slice(0, 3), [1, 2, 3]);

  // cancel reaches the mesh as cancel.<call_id>
  const cancels: string[] = [];
  const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
  t.after(() => sub.unsubscribe());
  await env.node.nc.flush();
  const ac = new AbortController();
  const waiting = client.call("slow__wait", { ms: 60_000 }, { signal: ac.signal });
  const callId = await env.slowStarted();
  const abortedAt = performance.now();
  ac.abort();
  await assert.rejects(waiting);
  await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`, 10_000);
  // At once, not after a timeout (the box is shared and loaded: a generous bound).
  assert.ok(performance.now() - abortedAt < 5000, "the cancel went out at once");

  // changes: a file written, a node joining and leaving
  const key = `eras/${client.kind}-${client.wire}.txt`;
  const uri = `mesh://files/${key}`;
  await env.node.files.put(key, new TextEncoder().encode("one"), "text/plain");
  await client.watch([uri]);
  const since = performance.now();
  await env.node.files.put(key, new TextEncoder().encode("two"), "text/plain");
  await waitFor(() => client.heard.some((h) => h.method === "notifications/resources/updated" && h.uri === uri && h.at >= since), `resources/updated ${uri}`, 10_000);
  const read = await client.readResource(uri);
  assert.equal(read.contents[0]?.text, "two");

  const joinedAt = performance.now();
  const n2 = await Mesh.connect({ servers: env.nats.url, node: `n2-${client.kind}-${client.wire}` });
  t.after(() => n2.close().catch(() => {}));
  await n2.registerTool({ name: "extra", version: "1.0.0", description: "joins late", methods: { ping: { handler: () => "pong" } } });
  await waitFor(() => client.heard.some((h) => h.method === "notifications/tools/list_changed" && h.at >= joinedAt), "list_changed on join", 10_000);
  // A list_changed may also come from a later look at the catalog: wait for the tool itself.
  await waitFor(async () => (await client.listTools()).some((x) => x.name === "extra__ping"), "extra__ping listed", 10_000);
  assert.equal(text(await client.call("extra__ping", {})), "pong");

  // A node that shuts down says so (node.left, as jb-mesh's Node.Close does).
  const leftAt = performance.now();
  await n2.close();
  await waitFor(() => client.heard.some((h) => h.method === "notifications/tools/list_changed" && h.at >= leftAt), "list_changed on leave", 10_000);
  await waitFor(async () => !(await client.listTools()).some((x) => x.name === "extra__ping"), "extra__ping gone", 10_000);
}

for (const wire of ["http", "stdio"] as Wire[]) {
  test(`every client kind over ${wire}`, T, async (t) => {
    const env = await meshWithTools(t);
    const target: Target = wire === "http"
      ? { wire, url: (await startCli(t, ["--nats", env.nats.url])).url }
      : { wire, natsUrl: env.nats.url };
    for (const kind of CLIENT_KINDS) {
      await t.test(kind, async (tt) => exercise(tt, env, await connect(tt, kind, target)));
    }
  });
}
