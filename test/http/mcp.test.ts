/**
 * MCP over Streamable HTTP end to end: the built CLI against a real nats-server,
 * driven by the SDK's own Streamable HTTP client.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { connectClient, MCP_HEADERS, meshWithTools, raw, rawSession, startCli, waitFor } from "./helpers.js";

const text = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text;

test("MCP over Streamable HTTP", async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-inflight", "2", "--log-level", "debug"]);
  const client = await connectClient(t, cli.url);

  await t.test("logs a loopback URL and serves tools/list", async () => {
    assert.match(cli.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const { tools } = await client.listTools();
    const names = tools.map((x) => x.name);
    for (const n of ["calc__add", "slow__wait", "slow__count"]) assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
  });

  await t.test("a call returns the node's answer", async () => {
    const r = await client.callTool({ name: "calc__add", arguments: { a: 20, b: 22 } });
    assert.equal(r.isError, undefined);
    assert.equal(text(r), "42");
  });

  await t.test("a plain call is answered as JSON, a call with a progress token as SSE", async () => {
    const sid = await rawSession(cli.url);
    const h = { ...MCP_HEADERS, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    const call = (id: number, meta?: object) =>
      raw(cli.url, {
        method: "POST", headers: h,
        body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "slow__count", arguments: { n: 2 }, ...(meta ? { _meta: meta } : {}) } }),
      });
    const plain = await call(2);
    assert.equal(plain.headers["content-type"], "application/json");
    assert.match(JSON.parse(plain.body).result.content[0].text, /counted/);
    const streamed = await call(3, { progressToken: "p1" });
    assert.equal(streamed.headers["content-type"], "text/event-stream");
    assert.match(streamed.body, /notifications\/progress/);
    assert.match(streamed.body, /"id":3/);
    await raw(cli.url, { method: "DELETE", headers: h });
  });

  await t.test("progress of a streaming tool reaches the client on the POST's stream", async () => {
    const progress: number[] = [];
    const r = await client.callTool({ name: "slow__count", arguments: { n: 4 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    assert.equal(r.isError, undefined);
    assert.deepEqual(JSON.parse(text(r)), { counted: 4 });
    // The last progress may race the result (SDK client); the first ones must be there, in order.
    assert.ok(progress.length >= 3, `progress ${progress}`);
    assert.deepEqual(progress.slice(0, 3), [1, 2, 3]);
  });

  await t.test("cancelling a call publishes cancel.<call_id> on the mesh", async () => {
    const seen: string[] = [];
    const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void seen.push(m.subject) });
    try {
      const ac = new AbortController();
      const call = client.callTool({ name: "slow__wait", arguments: { ms: 30_000 } }, undefined, { signal: ac.signal });
      const callId = await env.slowStarted();
      ac.abort();
      await assert.rejects(call);
      await waitFor(() => seen.includes(`cancel.${callId}`), `cancel.${callId}`);
    } finally {
      sub.unsubscribe();
    }
  });

  await t.test("--max-inflight bounds concurrent calls per session", async () => {
    const calls = [0, 1, 2].map(() => client.callTool({ name: "slow__wait", arguments: { ms: 400 } }));
    const results = await Promise.all(calls);
    const refused = results.filter((r) => r.isError && /too many concurrent calls/.test(text(r)));
    assert.equal(refused.length, 1, JSON.stringify(results));
  });

  await t.test("list_changed and log messages arrive on the GET stream", async () => {
    let changed = 0;
    const logs: string[] = [];
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    await client.setLoggingLevel("info");
    await env.node.registerTool({
      name: "late", version: "1.0.0", description: "Arrives late",
      methods: { ping: { handler: () => "pong" } },
    });
    await waitFor(() => changed > 0, "tools/list_changed");
    await waitFor(() => logs.some((l) => l.includes("late.ping")), "a log message naming late.ping");
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === "late__ping"));
  });

  await t.test("resources: read a file, and get its update on a subscription", async () => {
    await env.node.files.put("http-test/hello.txt", new TextEncoder().encode("hello over http"), "text/plain");
    const uri = "mesh://files/http-test/hello.txt";
    const read = await client.readResource({ uri });
    assert.equal((read.contents[0] as { text: string }).text, "hello over http");
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    await client.subscribeResource({ uri });
    await env.node.files.put("http-test/hello.txt", new TextEncoder().encode("hello again"), "text/plain");
    await waitFor(() => updated.includes(uri), "notifications/resources/updated");
  });

  await t.test("24 concurrent sessions each get their own answers", async () => {
    const n = 24;
    const clients = await Promise.all(Array.from({ length: n }, () => connectClient(t, cli.url)));
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const [listed, a, b] = await Promise.all([
          c.listTools(),
          c.callTool({ name: "calc__add", arguments: { a: i, b: 1000 } }),
          c.callTool({ name: "calc__add", arguments: { a: i, b: 2000 } }),
        ]);
        return { tools: listed.tools.length, a: text(a), b: text(b) };
      }),
    );
    results.forEach((r, i) => {
      assert.ok(r.tools > 3);
      assert.equal(r.a, String(i + 1000));
      assert.equal(r.b, String(i + 2000));
    });
    const ready = JSON.parse((await raw(`${cli.base}/readyz`)).body);
    assert.ok(ready.sessions >= n + 1, `sessions ${ready.sessions}`);
    await Promise.all(clients.map((c) => c.close()));
  });

  await t.test("/metrics counts calls by tool and outcome, sessions and NATS state", async () => {
    const m = (await raw(`${cli.base}/metrics`)).body;
    assert.match(m, /mesh_mcp_tool_calls_total\{tool="calc\.add",outcome="ok"\} (\d+)/);
    const ok = Number(/mesh_mcp_tool_calls_total\{tool="calc\.add",outcome="ok"\} (\d+)/.exec(m)![1]);
    assert.ok(ok >= 49, `calc.add ok = ${ok}`);
    assert.match(m, /mesh_mcp_tool_calls_total\{tool="slow\.wait",outcome="cancelled"\} 1/);
    // By principal too (no sign-in here: everyone is the anonymous principal).
    assert.equal(Number(/mesh_mcp_principal_tool_calls_total\{principal="anonymous",tool="calc\.add",outcome="ok"\} (\d+)/.exec(m)?.[1]), ok);
    assert.match(m, /mesh_mcp_tool_call_duration_seconds_bucket\{le="0\.1",tool="calc\.add",outcome="ok"\} \d+/);
    assert.match(m, /mesh_mcp_sessions \d+/);
    assert.match(m, /mesh_mcp_inflight_calls 0/);
    assert.match(m, /mesh_mcp_nats_connected 1/);
    assert.match(m, /mesh_mcp_catalog_discovery_duration_seconds \d/);
    assert.match(m, /mesh_mcp_http_requests_total\{method="POST",status="200"\} \d+/);
  });
});
