/**
 * Webhook delivery of MCP events (events/subscribe), against a real HTTP receiver on
 * loopback (allowed by the operator's flags): a node joins and the receiver gets one
 * signed POST (Standard Webhooks, checked here with our own HMAC) though two replicas
 * run; failures are retried; the subscription survives every replica being killed;
 * TTL expiry, unsubscribe, the callback's verification handshake, the SSRF and
 * identity refusals, and the per-identity cap.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "@nats-io/transport-node";
import { GoNode } from "../helpers/jbmesh.js";
import { NatsServer } from "../helpers/nats-server.js";
import { raw, startCli, waitFor } from "./helpers.js";
import { rpc } from "./events-kit.js";

const T = { timeout: 120_000 };
const TOKEN = "webhook-test-token-0123456789";
const ALLOW = ["--events-webhook-allow-http", "--events-webhook-allow-private"];
const secret = () => `whsec_${randomBytes(32).toString("base64")}`;

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, any>;
}

/** A webhook receiver: echoes verification challenges; `fail` first answers with 503. */
async function receiver(t: TestContext, opts: { fail?: number; echo?: boolean } = {}) {
  const got: Delivery[] = [];
  let failing = opts.fail ?? 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const json = JSON.parse(body);
      if (json.type === "verification") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify(opts.echo === false ? {} : { challenge: json.challenge }));
      }
      if (failing > 0) {
        failing--;
        res.writeHead(503);
        return res.end();
      }
      got.push({ headers: req.headers, body, json });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

/** What a receiver must do: verify the Standard Webhooks signature with the secret. */
function validSignature(d: Delivery, whsec: string): boolean {
  const key = Buffer.from(whsec.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${d.headers["webhook-id"]}.${d.headers["webhook-timestamp"]}.${d.body}`).digest("base64");
  return String(d.headers["webhook-signature"]).split(" ").some((s) => s === `v1,${expected}`);
}

test("a node joins: the webhook gets one signed POST though two replicas run; a failing endpoint is retried; the subscription outlives every replica", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const [a, b] = await Promise.all([startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, ...ALLOW]), startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, ...ALLOW])]);
  const hook = await receiver(t, { fail: 2 });
  const whsec = secret();
  const sub = await rpc(a.url, "events/subscribe", { name: "mesh.node.joined", delivery: { mode: "webhook", url: hook.url, secret: whsec }, cursor: null, ttlMs: 600_000 }, TOKEN);
  assert.ok(sub.result, JSON.stringify(sub.error));
  assert.match(sub.result.id, /^sub_/);
  assert.equal(sub.result.truncated, false);
  const granted = Date.parse(sub.result.refreshBefore) - Date.now();
  assert.ok(granted > 0 && granted <= 600_000, `granted ${granted} ms, at most what was asked`);

  const node = await GoNode.start({ natsUrl: nats.url, name: "gpu1", tools: ["calc"] });
  t.after(() => node.kill());
  const d = await waitFor(() => hook.got[0], "the webhook (after two 503s)", 20_000);
  assert.equal(d.json.name, "mesh.node.joined");
  assert.equal(d.json.data.node, "gpu1");
  assert.ok(validSignature(d, whsec), "the signature verifies with the client's secret");
  assert.equal(d.headers["webhook-id"], d.json.eventId);
  assert.equal(d.headers["x-mcp-subscription-id"], sub.result.id);
  assert.ok(Math.abs(Number(d.headers["webhook-timestamp"]) - Date.now() / 1000) < 60);
  assert.equal(typeof d.json.cursor, "string");
  // Exactly one replica delivered it.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(hook.got.length, 1, "delivered once, not once per replica");

  // A refresh through the other replica: same id, the status tells the last delivery.
  const again = await rpc(b.url, "events/subscribe", { name: "mesh.node.joined", delivery: { mode: "webhook", url: hook.url, secret: whsec }, cursor: d.json.cursor, ttlMs: 600_000 }, TOKEN);
  assert.equal(again.result!.id, sub.result.id);
  assert.equal(again.result!.deliveryStatus.active, true);
  assert.ok(again.result!.deliveryStatus.lastDeliveryAt);

  // Every replica dies; a new one starts: the subscription is still there and delivers.
  a.proc.kill("SIGKILL");
  b.proc.kill("SIGKILL");
  await Promise.all([a.exited, b.exited]);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  nc.publish("events.node.joined", JSON.stringify({ type: "node.joined", node: "while-down", data: {} }));
  await nc.flush();
  const c = await startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, ...ALLOW]);
  await waitFor(() => hook.got.find((x) => x.json.data.node === "while-down"), "the occurrence from while every replica was down", 20_000);
  assert.ok(hook.got.every((x) => validSignature(x, whsec)));
  const metrics = await raw(`${c.base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.match(metrics.body, /mesh_mcp_events_delivered_total\{mode="webhook"\} [1-9]/);
  assert.match(metrics.body, /mesh_mcp_events_stream\{measure="messages"\} [1-9]/);

  // Unsubscribe: nothing more; a second unsubscribe finds nothing.
  const un = await rpc(c.url, "events/unsubscribe", { name: "mesh.node.joined", delivery: { url: hook.url } }, TOKEN);
  assert.ok(un.result && !un.error, JSON.stringify(un));
  const count = hook.got.length;
  nc.publish("events.node.joined", JSON.stringify({ type: "node.joined", node: "after", data: {} }));
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(hook.got.length, count);
  const un2 = await rpc(c.url, "events/unsubscribe", { name: "mesh.node.joined", delivery: { url: hook.url } }, TOKEN);
  assert.equal(un2.error?.code, -32011);
});

test("a subscription not refreshed before its TTL lapses: nothing more is delivered", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const p = await startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, ...ALLOW]);
  const hook = await receiver(t);
  const sub = await rpc(p.url, "events/subscribe", { name: "mesh.tool.crashed", delivery: { url: hook.url, secret: secret() }, ttlMs: 5000 }, TOKEN);
  assert.ok(sub.result, JSON.stringify(sub.error));
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const crash = (node: string) => nc.publish("events.tool.crashed", JSON.stringify({ type: "tool.crashed", node, data: { tool: "x", error: "e" } }));
  crash("before");
  await waitFor(() => hook.got.length === 1, "delivery while live", 10_000);
  // Past the granted refreshBefore (and a margin for a loaded machine), without a refresh.
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(sub.result!.refreshBefore) - Date.now()) + 3000));
  crash("after-expiry");
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(hook.got.map((d) => d.json.data.node), ["before"]);
  const un = await rpc(p.url, "events/unsubscribe", { name: "mesh.tool.crashed", delivery: { url: hook.url } }, TOKEN);
  assert.equal(un.error?.code, -32011, "the lapsed subscription is gone");
});

test("refusals: no identity, http or loopback targets unless allowed, bad secret, an endpoint that does not echo the challenge, the per-identity cap", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const [open, strict, httpOnly, capped] = await Promise.all([
    startCli(t, ["--nats", nats.url, ...ALLOW]),
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN]),
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, "--events-webhook-allow-http"]),
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, ...ALLOW, "--events-max-subscriptions", "2"]),
  ]);
  const hook = await receiver(t);
  const params = (url = hook.url, s = secret()) => ({ name: "mesh.node.left", delivery: { url, secret: s } });

  const anon = await rpc(open.url, "events/subscribe", params());
  assert.equal(anon.error?.code, -32012);
  assert.match(anon.error!.message, /authenticated identity/);

  const http = await rpc(strict.url, "events/subscribe", params(), TOKEN);
  assert.equal(http.error?.code, -32602);
  assert.match(http.error!.message, /https.*--events-webhook-allow-http/);
  const loop = await rpc(httpOnly.url, "events/subscribe", params(), TOKEN);
  assert.equal(loop.error?.code, -32602);
  assert.match(loop.error!.message, /127\.0\.0\.1.*--events-webhook-allow-private/);
  for (const target of ["https://10.1.2.3/x", "https://169.254.169.254/latest", "https://[::1]/x", "https://localhost/x"]) {
    const r = await rpc(strict.url, "events/subscribe", params(target), TOKEN);
    assert.equal(r.error?.code, -32602, `${target} refused`);
  }
  assert.equal(hook.got.length, 0);

  const badSecret = await rpc(capped.url, "events/subscribe", params(hook.url, "hunter2"), TOKEN);
  assert.equal(badSecret.error?.code, -32602);
  assert.match(badSecret.error!.message, /whsec_/);

  const silent = await receiver(t, { echo: false });
  const unverified = await rpc(capped.url, "events/subscribe", params(silent.url), TOKEN);
  assert.equal(unverified.error?.code, -32015);
  assert.equal(unverified.error?.data?.reason, "challenge_failed");

  for (const name of ["mesh.node.left", "mesh.node.joined"]) {
    const ok = await rpc(capped.url, "events/subscribe", { name, delivery: { url: hook.url, secret: secret() } }, TOKEN);
    assert.ok(ok.result, JSON.stringify(ok.error));
  }
  const third = await rpc(capped.url, "events/subscribe", { name: "mesh.tool.started", delivery: { url: hook.url, secret: secret() } }, TOKEN);
  assert.equal(third.error?.code, -32013);
  assert.equal(third.error?.data?.limit, "subscriptions");
  // A refresh of an existing one is not a new subscription.
  const refresh = await rpc(capped.url, "events/subscribe", { name: "mesh.node.left", delivery: { url: hook.url, secret: secret() } }, TOKEN);
  assert.ok(refresh.result);
});
