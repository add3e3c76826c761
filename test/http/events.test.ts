/**
 * The MCP Events extension over Streamable HTTP, as a 2026-07-28 client sees it on the
 * wire: advertised in server/discover (and absent for a 2025 client), events/list, a
 * real jb-mesh node (the Go fixture) joining heard by push, by poll, and resumed from a
 * cursor after the client was away; truncated past the stream's limit; a replica killed
 * mid-stream and the client resuming on another without losing an occurrence.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "@nats-io/transport-node";
import { Mesh } from "../../src/mesh/index.js";
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { serveHttp } from "../../src/transports/http.js";
import { GoNode, startNats } from "../helpers/jbmesh.js";
import { NatsServer } from "../helpers/nats-server.js";
import { INITIALIZE, MCP_HEADERS, raw, startCli, waitFor } from "./helpers.js";
import { EVENTS_EXT, events, openStream, rpc } from "./events-kit.js";

const T = { timeout: 120_000 };

test("discover advertises the events extension to 2026 clients only; events/list names the mesh's event types with schemas", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const p = await startCli(t, ["--nats", nats.url]);
  const d = await rpc(p.url, "server/discover", {});
  assert.deepEqual(d.result?.capabilities?.extensions?.[EVENTS_EXT], {});
  const init = await raw(p.url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
  const caps = JSON.parse(init.body.startsWith("{") ? init.body : init.body.split("data:").pop()!).result.capabilities;
  assert.equal(caps.extensions?.[EVENTS_EXT], undefined, "a 2025 client is not offered events");

  const list = await rpc(p.url, "events/list", {});
  const names = (list.result!.events as Array<{ name: string }>).map((e) => e.name);
  for (const n of ["mesh.node.joined", "mesh.node.left", "mesh.tool.started", "mesh.tool.crashed", "mesh.call.completed", "mesh.call.failed", "mesh.file.created", "mesh.file.deleted", "mesh.task.completed"]) {
    assert.ok(names.includes(n), `${n} listed`);
  }
  const joined = (list.result!.events as Array<Record<string, any>>).find((e) => e.name === "mesh.node.joined")!;
  assert.deepEqual(joined.delivery, ["poll", "push", "webhook"]);
  assert.equal(joined.inputSchema.properties.node.type, "string");
  assert.deepEqual(joined.payloadSchema.required, ["node"]);

  // Clear errors for what a client gets wrong.
  const unknown = await rpc(p.url, "events/poll", { name: "mesh.nope", cursor: null });
  assert.equal(unknown.error?.code, -32011);
  assert.match(unknown.error!.message, /events\/list/);
  const badArgs = await rpc(p.url, "events/poll", { name: "mesh.node.joined", arguments: { tool: "x" }, cursor: null });
  assert.equal(badArgs.error?.code, -32602);
  const badCursor = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: "nope" });
  assert.equal(badCursor.error?.code, -32602);
  const refused = await openStream(p.url, { name: "mesh.nope", cursor: null });
  assert.equal(refused.answer?.error?.code, -32011, "an invalid subscription is refused at once, no stream opened");
});

test("a node joins: a subscribed client hears it by push within a second, by poll at its next poll, and after being away resumes from its cursor", T, async (t) => {
  const nats = await startNats("2.12");
  t.after(() => nats.stop());
  const p = await startCli(t, ["--nats", nats.url, "--events-heartbeat", "0.5"]);
  const stream = await openStream(p.url, { name: "mesh.node.joined", cursor: null });
  t.after(() => stream.close());
  await waitFor(() => stream.notes.find((n) => n.method === "notifications/events/active"), "the stream to be active");
  assert.equal(stream.notes[0]!.params.truncated, false);
  const poll0 = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: null });
  assert.deepEqual(poll0.result!.events, []);
  // The client that goes away keeps this cursor.
  const away = poll0.result!.cursor as string;

  const node = await GoNode.start({ natsUrl: nats.url, name: "gpu1", tools: ["calc"] });
  t.after(() => node.kill());
  const joinedAt = Date.now();
  const heard = await waitFor(() => events(stream, "mesh.node.joined").find((n) => n.params.data.node === "gpu1"), "the join by push", 10_000);
  const latency = Date.now() - joinedAt;
  // The node's "ready" line comes after its event is published; 1 s is the promise, bounded generously here.
  assert.ok(latency < 5000, `heard after ${latency} ms`);
  assert.equal(heard.params.name, "mesh.node.joined");
  assert.ok(heard.params.eventId && heard.params.timestamp && heard.params.cursor);
  assert.ok(heard.params._meta?.["io.modelcontextprotocol/subscriptionId"] !== undefined);

  const polled = await waitFor(async () => {
    const r = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: poll0.result!.cursor });
    return r.result!.events.length ? r : undefined;
  }, "the join by poll");
  assert.deepEqual(polled.result!.events.map((e: any) => e.data.node), ["gpu1"]);
  assert.equal(polled.result!.events[0].eventId, heard.params.eventId, "the same occurrence, the same id, by either mode");
  assert.equal(polled.result!.truncated, false);
  assert.equal(typeof polled.result!.nextPollMs, "number");
  const metrics = await raw(`${p.base}/metrics`);
  assert.match(metrics.body, /mesh_mcp_events_streams_open 1/);
  assert.match(metrics.body, /mesh_mcp_events_delivered_total\{mode="push"\} [1-9]/);
  assert.match(metrics.body, /mesh_mcp_events_delivered_total\{mode="poll"\} [1-9]/);
  // A heartbeat carries a cursor at least as far as the event.
  await waitFor(() => stream.notes.slice(stream.notes.indexOf(heard)).find((n) => n.method === "notifications/events/heartbeat"), "a heartbeat");

  // While the client is away: the node leaves and another joins; it comes back with its cursor.
  await node.stop();
  const n2 = await GoNode.start({ natsUrl: nats.url, name: "gpu2", tools: ["calc"] });
  t.after(() => n2.kill());
  const back = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: away });
  assert.deepEqual(back.result!.events.map((e: any) => e.data.node), ["gpu1", "gpu2"], "nothing missed");
  const left = await rpc(p.url, "events/poll", { name: "mesh.node.left", arguments: { node: "gpu1" }, cursor: away });
  assert.deepEqual(left.result!.events.map((e: any) => e.data.node), ["gpu1"]);
  // A push stream resumed from the same cursor replays them too.
  const resumed = await openStream(p.url, { name: "mesh.node.joined", cursor: away });
  t.after(() => resumed.close());
  await waitFor(() => events(resumed).length === 2, "the replay by push");
  assert.deepEqual(events(resumed).map((n) => n.params.data.node), ["gpu1", "gpu2"]);
});

test("past the stream's limit (a client away longer than it keeps): truncated: true, then nothing more is missed", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const p = await startCli(t, ["--nats", nats.url, "--events-max-msgs", "3"]);
  const start = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: null });
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  for (let i = 1; i <= 5; i++) nc.publish("events.node.joined", JSON.stringify({ type: "node.joined", node: `n${i}`, data: {} }));
  await nc.flush();
  const r = await waitFor(async () => {
    const x = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: start.result!.cursor });
    return x.result!.events.length === 3 ? x : undefined;
  }, "the kept three");
  assert.equal(r.result!.truncated, true);
  assert.deepEqual(r.result!.events.map((e: any) => e.data.node), ["n3", "n4", "n5"]);
  const stream = await openStream(p.url, { name: "mesh.node.joined", cursor: start.result!.cursor });
  t.after(() => stream.close());
  await waitFor(() => stream.notes.find((n) => n.method === "notifications/events/active"), "active");
  assert.equal(stream.notes[0]!.params.truncated, true, "the push stream says so too");
  const next = await rpc(p.url, "events/poll", { name: "mesh.node.joined", cursor: r.result!.cursor });
  assert.equal(next.result!.truncated, false);
});

test("a long poll (timeoutMs) answers as soon as a matching occurrence is stored, or empty when the time is up", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const p = await startCli(t, ["--nats", nats.url]);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const start = await rpc(p.url, "events/poll", { name: "mesh.tool.stopped", arguments: { tool: "render" }, cursor: null });
  const t0 = Date.now();
  const waiting = rpc(p.url, "events/poll", { name: "mesh.tool.stopped", arguments: { tool: "render" }, cursor: start.result!.cursor, timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 300));
  // Not this one (another tool), then the one asked for.
  nc.publish("events.tool.stopped", JSON.stringify({ type: "tool.stopped", node: "n1", data: { tool: "other", reason: "update" } }));
  nc.publish("events.tool.stopped", JSON.stringify({ type: "tool.stopped", node: "n1", data: { tool: "render", reason: "update" } }));
  const r = await waiting;
  assert.ok(Date.now() - t0 < 15_000, "answered when the occurrence came, not at the timeout");
  assert.deepEqual(r.result!.events.map((e: any) => [e.data.tool, e.data.reason]), [["render", "update"]]);
  const t1 = Date.now();
  const empty = await rpc(p.url, "events/poll", { name: "mesh.tool.stopped", arguments: { tool: "render" }, cursor: r.result!.cursor, timeoutMs: 600 });
  assert.deepEqual(empty.result!.events, []);
  assert.ok(Date.now() - t1 >= 500, "held open until the time was up");
  assert.equal(typeof empty.result!.cursor, "string");
});

test("a replica killed mid-stream: the client reconnects to another and resumes from its cursor, missing nothing", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const [a, b] = await Promise.all([startCli(t, ["--nats", nats.url]), startCli(t, ["--nats", nats.url])]);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const pub = (node: string) => nc.publish("events.tool.crashed", JSON.stringify({ type: "tool.crashed", node, data: { tool: "render", error: "oom", restart_count: 1 } }));
  const first = await openStream(a.url, { name: "mesh.tool.crashed", arguments: { tool: "render" }, cursor: null });
  await waitFor(() => first.notes.length > 0, "active on a");
  pub("n1");
  pub("n2");
  await waitFor(() => events(first).length === 2, "two crashes on a");
  const cursor = first.cursor()!;
  a.proc.kill("SIGKILL");
  await first.ended;
  // While no stream is open, more happen.
  pub("n3");
  pub("n4");
  await nc.flush();
  const second = await openStream(b.url, { name: "mesh.tool.crashed", arguments: { tool: "render" }, cursor });
  t.after(() => second.close());
  pub("n5");
  await waitFor(() => events(second).length === 3, "the rest on b");
  assert.deepEqual([...events(first), ...events(second)].map((n) => n.params.data.node), ["n1", "n2", "n3", "n4", "n5"]);
  assert.equal(second.notes[0]!.params.truncated, false);
});

test("the visibility hook (the identity policy's seam): a principal receives only occurrences it may see, by poll, push and webhook", T, async (t) => {
  const nats = await NatsServer.start();
  const mesh = await Mesh.connect({ servers: nats.url });
  t.after(async () => {
    await mesh.close().catch(() => {});
    await nats.stop();
  });
  const log = new Logger("error");
  const asked: string[] = [];
  const bridge = await Bridge.withMesh(mesh, {
    events: {
      webhookAllowHttp: true,
      webhookAllowPrivate: true,
      visible: (principal, about) => {
        asked.push(principal.id);
        return about.node !== "secret-node";
      },
    },
  }, log);
  t.after(() => bridge.shutdown());
  const TOKEN = "visibility-token-0123456789";
  const http = await serveHttp(bridge, {
    host: "127.0.0.1", port: 0, authToken: TOKEN, insecureNoAuth: false, allowedOrigin: [], allowedHost: [],
    stateless: false, sessionIdleTimeout: 60, maxBody: 1 << 20, maxInflight: 8,
  }, log, () => {});
  t.after(() => http.close());
  const got: any[] = [];
  const hook = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const json = JSON.parse(body);
      if (json.type === "verification") return res.end(JSON.stringify({ challenge: json.challenge }));
      got.push(json);
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  t.after(() => hook.close());
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
  const sub = await rpc(http.url, "events/subscribe", { name: "mesh.node.left", delivery: { url: hookUrl, secret: `whsec_${randomBytes(32).toString("base64")}` } }, TOKEN);
  assert.ok(sub.result, JSON.stringify(sub.error));
  const start = await rpc(http.url, "events/poll", { name: "mesh.node.left", cursor: null }, TOKEN);
  const stream = await openStream(http.url, { name: "mesh.node.left", cursor: null }, TOKEN);
  t.after(() => stream.close());
  await waitFor(() => stream.notes.length, "active");
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  for (const node of ["secret-node", "public-node"]) nc.publish("events.node.left", JSON.stringify({ type: "node.left", node, data: { reason: "shutdown" } }));
  await waitFor(() => events(stream).length === 1 && got.length === 1, "the visible one by push and webhook", 10_000);
  const polled = await rpc(http.url, "events/poll", { name: "mesh.node.left", cursor: start.result!.cursor }, TOKEN);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(polled.result!.events.map((e: any) => e.data.node), ["public-node"]);
  assert.deepEqual(events(stream).map((n) => n.params.data.node), ["public-node"]);
  assert.deepEqual(got.map((e) => e.data.node), ["public-node"]);
  assert.ok(asked.length >= 6 && asked.every((id) => id === asked[0] && id === "token:token"), "asked about the caller's principal (--auth-token's, named by --auth-token-name), never its token");
  assert.ok(!asked.some((id) => id.includes(TOKEN)));
});
