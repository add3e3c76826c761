/**
 * --stateless behind a load balancer: two mesh-mcp replicas on one nats-server, a real
 * 2025 SDK client whose `notifications/cancelled` the balancer sends to the other
 * replica than the call. The cancel reaches the call (and the node, as cancel.<call_id>)
 * within seconds instead of being acknowledged and ignored while the call runs on. A
 * cancel of the same request id by another identity (another token) cancels nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { MCP_HEADERS, meshWithTools, raw, startCli, waitFor } from "../http/helpers.js";

const TOKEN = "replica-token-of-alice";
const OTHER = "replica-token-of-mallory";

/** A balancer that sends cancels to `cancels` and everything else to `calls`; it notes each tools/call's id. */
async function balancer(t: { after(fn: () => unknown): void }, calls: string, cancels: string) {
  const callIds: Array<string | number> = [];
  const routed = { calls: 0, cancels: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const text = body.toString("utf8");
      const isCancel = text.includes('"notifications/cancelled"');
      if (isCancel) routed.cancels++;
      else routed.calls++;
      if (text.includes('"tools/call"')) callIds.push((JSON.parse(text) as { id: string | number }).id);
      const target = new URL(isCancel ? cancels : calls);
      const out = request({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: { ...req.headers, host: target.host } }, (up: IncomingMessage) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on("error", () => res.destroy());
      res.on("close", () => out.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, callIds, routed };
}

test("--stateless: a 2025 client's cancel reaches its call on another replica, and only its own", { timeout: 60_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cancels: string[] = [];
  const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
  t.after(() => sub.unsubscribe());
  const [a, b, other] = await Promise.all([
    startCli(t, ["--nats", env.nats.url, "--stateless", "--auth-token", TOKEN]),
    startCli(t, ["--nats", env.nats.url, "--stateless", "--auth-token", TOKEN]),
    startCli(t, ["--nats", env.nats.url, "--stateless", "--auth-token", OTHER]),
  ]);
  const lb = await balancer(t, a.url, b.url);
  const client = new Client({ name: "stateless-cancel", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(lb.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
  t.after(() => client.close().catch(() => {}));

  const ac = new AbortController();
  const call = client.callTool({ name: "slow__wait", arguments: { ms: 60_000 } }, undefined, { signal: ac.signal, timeout: 120_000 }).then(() => "answered", (e: Error) => e.name);
  const callId = await env.slowStarted();
  const requestId = await waitFor(() => lb.callIds[0], "the call's request id");

  // Another identity cancelling the same request id (on a replica of its own) cancels nothing.
  const foreign = await raw(other.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${OTHER}`, "mcp-protocol-version": "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "not yours" } }),
  });
  assert.equal(foreign.status, 202, foreign.body);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!cancels.includes(`cancel.${callId}`), "another identity's cancel must not reach the call");

  const t0 = performance.now();
  ac.abort("the user pressed stop");
  await call;
  await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId} on the mesh after the client's cancel (sent to the other replica)`, 10_000);
  t.diagnostic(`the cancel reached the node ${Math.round(performance.now() - t0)} ms after the client sent it to the other replica`);
  assert.equal(lb.routed.cancels, 1, "the balancer sent the client's cancel to replica B");
});
