/**
 * The HTTP transport's life: readiness follows NATS, --stateless serves without
 * sessions, SIGTERM cancels in-flight calls on the mesh and exits 0, and a closing
 * server answers 503 with Retry-After.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { Mesh } from "../../src/mesh/index.js";
import { serveHttp } from "../../src/transports/http.js";
import { NatsServer } from "../helpers/nats-server.js";
import { connectClient, INITIALIZE, MCP_HEADERS, meshWithTools, raw, startCli, waitFor } from "./helpers.js";

test("/readyz is 503 until NATS is up and the catalog loaded, then 200", async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  await nats.kill(); // keep the port, start it later
  const cli = await startCli(t, ["--nats", nats.url]);
  const before = await raw(`${cli.base}/readyz`);
  assert.equal(before.status, 503);
  assert.match(JSON.parse(before.body).reason, /not connected to NATS/);
  assert.equal((await raw(`${cli.base}/healthz`)).status, 200);
  assert.match((await raw(`${cli.base}/metrics`)).body, /mesh_mcp_nats_connected 0/);

  await nats.restart();
  const after = await waitFor(async () => {
    const r = await raw(`${cli.base}/readyz`);
    return r.status === 200 ? r : undefined;
  }, "readyz 200", 8000);
  assert.equal(JSON.parse(after.body).status, "ready");
  assert.match((await raw(`${cli.base}/metrics`)).body, /mesh_mcp_nats_connected 1/);
});

test("--stateless: no session ids, every request stands alone, no GET stream", async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--stateless"]);
  const client = await connectClient(t, cli.url);
  const r = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } });
  assert.equal(((r as CallToolResult).content[0] as { text: string }).text, "5");
  assert.ok((await client.listTools()).tools.length > 3);

  const init = await raw(cli.url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
  assert.equal(init.status, 200);
  assert.equal(init.headers["mcp-session-id"], undefined);
  assert.equal((await raw(cli.url, { method: "GET", headers: { accept: "text/event-stream" } })).status, 405);
  assert.match((await raw(`${cli.base}/metrics`)).body, /mesh_mcp_sessions 0/);
});

test("SIGTERM during a call: the cancel reaches the mesh, the client gets an answer, exit code 0", async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url]);
  const client = await connectClient(t, cli.url);
  const cancels: string[] = [];
  const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
  t.after(() => sub.unsubscribe());

  const call = client.callTool({ name: "slow__wait", arguments: { ms: 60_000 } }).then(
    (r) => ({ result: r as CallToolResult }),
    (err: Error) => ({ error: err }),
  );
  const callId = await env.slowStarted();
  cli.proc.kill("SIGTERM");

  assert.equal(await cli.exited, 0);
  await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`);
  const outcome = await call;
  // The cancelled call is answered (an isError result naming the cancel) before the server goes.
  assert.ok("result" in outcome, `no answer: ${"error" in outcome ? outcome.error.message : ""}`);
  assert.equal(outcome.result.isError, true);
  assert.match((outcome.result.content[0] as { text: string }).text, /cancelled; cancel\./);
  assert.match(cli.stderr(), /shutting down \(SIGTERM\)/);
});

test("SIGTERM during a 2026-07-28 call: cancelled on the mesh, answered, exit code 0", async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url]);
  const cancels: string[] = [];
  const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
  t.after(() => sub.unsubscribe());
  const V = "2026-07-28";
  const call = raw(cli.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": "tools/call", "mcp-name": "slow__wait" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow__wait", arguments: { ms: 60_000 }, _meta: {
      "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {},
    } } }),
  }).then((r) => r, (err: Error) => err);
  const callId = await env.slowStarted();
  cli.proc.kill("SIGTERM");

  assert.equal(await cli.exited, 0);
  await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`);
  const answer = await call;
  assert.ok(!(answer instanceof Error), `no answer: ${answer instanceof Error ? answer.message : ""}`);
  const result = JSON.parse(answer.body).result;
  assert.equal(result?.isError, true, answer.body);
  assert.match(result.content[0].text, /cancelled; cancel\./);
});

test("in-process: a closing server answers 503 with Retry-After; close() ends open streams", async (t) => {
  const nats = await NatsServer.start();
  const mesh = await Mesh.connect({ servers: nats.url });
  t.after(async () => {
    await mesh.close().catch(() => {});
    await nats.stop();
  });
  const log = new Logger("error");
  const bridge = await Bridge.withMesh(mesh, {}, log);
  const config = {
    host: "127.0.0.1", port: 0, authToken: undefined, insecureNoAuth: false, allowedOrigin: [], allowedHost: [],
    stateless: false, sessionIdleTimeout: 60, maxBody: 1 << 20, maxInflight: 8,
  };
  const http = await serveHttp(bridge, config, log, () => {});
  const client = await connectClient(t, http.url);
  assert.ok((await client.listTools()).tools.length > 0);

  await bridge.shutdown();
  const r = await raw(http.url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
  assert.equal(r.status, 503);
  assert.equal(r.headers["retry-after"], "5");
  assert.equal((await raw(http.url.replace(/\/mcp$/, "/readyz"))).status, 503);
  const t0 = Date.now();
  await http.close();
  assert.ok(Date.now() - t0 < 3000, "close() finishes promptly with a GET stream open");
});
