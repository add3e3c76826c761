import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Mesh,
  MeshConfigError,
  NotConnectedError,
  connectNats,
  prepareWsUrl,
  serverList,
} from "../../src/mesh/index.js";
import { freePort } from "../helpers/nats-server.js";
import { meshEnv } from "../helpers/mesh.js";

test("prepareWsUrl replaces the URL's own values of a query key and keeps the others", () => {
  const url = prepareWsUrl("ws://h:8080/base?token=old&keep=1&token=older", {
    query: { token: "new", tag: ["a", "b"] },
  });
  const u = new URL(url);
  assert.deepEqual(u.searchParams.getAll("token"), ["new"]);
  assert.deepEqual(u.searchParams.getAll("keep"), ["1"]);
  assert.deepEqual(u.searchParams.getAll("tag"), ["a", "b"]);
  assert.equal(u.pathname, "/base");
});

test("prepareWsUrl appends the proxy path to the URL's path", () => {
  assert.equal(prepareWsUrl("wss://mesh.example.com", { proxyPath: "nats" }), "wss://mesh.example.com/nats");
  assert.equal(prepareWsUrl("wss://mesh.example.com/base/", { proxyPath: "/nats" }), "wss://mesh.example.com/base/nats");
  assert.equal(
    prepareWsUrl("ws://h/base?x=1", { proxyPath: "nats", query: { y: "2" } }),
    "ws://h/base/nats?x=1&y=2",
  );
});

test("prepareWsUrl leaves any URL alone without ws options, and refuses ws options on a non-ws URL", () => {
  assert.equal(prepareWsUrl("nats://h:4222", undefined), "nats://h:4222");
  assert.equal(prepareWsUrl("nats://h:4222", { query: {}, headers: {} }), "nats://h:4222");
  for (const ws of [{ proxyPath: "nats" }, { bearerToken: "t" }, { headers: { A: "b" } }, { query: { a: "b" } }]) {
    assert.throws(() => prepareWsUrl("nats://h:4222", ws), (err: unknown) => {
      assert.ok(err instanceof MeshConfigError);
      assert.equal(err.message, 'websocket client options require ws:// or wss:// NATS URL, got "nats://h:4222"');
      return true;
    });
  }
});

test("serverList splits comma-separated URLs and defaults to nats://localhost:4222", () => {
  assert.deepEqual(serverList("nats://a:1, nats://b:2,,"), ["nats://a:1", "nats://b:2"]);
  assert.deepEqual(serverList(["nats://a:1,nats://b:2", "nats://c:3"]), ["nats://a:1", "nats://b:2", "nats://c:3"]);
  assert.deepEqual(serverList(undefined), ["nats://localhost:4222"]);
  assert.deepEqual(serverList(""), ["nats://localhost:4222"]);
});

test("contradictory auth options are refused before any connection attempt", async () => {
  // Nothing listens on this port: a MeshConfigError proves the options were checked first.
  const servers = `nats://127.0.0.1:${await freePort()}`;
  const cases = [
    { opts: { token: "t", user: "u", password: "p" }, message: /token auth cannot be combined with username\/password/ },
    { opts: { token: "t", user: "u" }, message: /username\/password auth requires both/ },
    { opts: { user: "u" }, message: /requires both username and password/ },
    { opts: { password: "p" }, message: /requires both username and password/ },
    { opts: { servers: `${servers},ws://127.0.0.1:1` }, message: /cannot mix ws:\/\/ and nats:\/\// },
    { opts: { ws: { proxyPath: "nats" } }, message: /require ws:\/\/ or wss:\/\// },
  ];
  for (const c of cases) {
    await assert.rejects(connectNats({ servers, ...c.opts }), (err: unknown) => {
      assert.ok(err instanceof MeshConfigError, `${JSON.stringify(c.opts)} → ${String(err)}`);
      assert.match(err.message, c.message);
      return true;
    });
  }
  await assert.rejects(Mesh.connect({ servers, token: "t", user: "u", password: "p" }), MeshConfigError);
});

test("an unreachable server gives NotConnectedError naming the URL", async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  await assert.rejects(Mesh.connect({ servers: url, connectTimeoutMs: 1000 }), (err: unknown) => {
    assert.ok(err instanceof NotConnectedError);
    assert.ok(err.message.includes(url), err.message);
    assert.match(err.message, /Is nats-server running/);
    return true;
  });
});

test("a server list with a dead entry still connects (comma-separated list)", async (t) => {
  const env = await meshEnv(t);
  const dead = `nats://127.0.0.1:${await freePort()}`;
  const node = await env.node("n1");
  await node.registerTool({ name: "echo", methods: { say: { handler: (p) => p.text } } });
  const client = await env.mesh({ servers: `${dead},${env.server.url}` });
  assert.deepEqual(await client.call("echo", "say", { text: "hi" }), { ok: true, result: "hi", node: "n1" });
});

test("user/password auth: right credentials connect, wrong ones fail clearly", async (t) => {
  const env = await meshEnv(t, { args: ["--user", "alice", "--pass", "s3cret"] });
  const node = await env.node("n1", { user: "alice", password: "s3cret" });
  await node.registerTool({ name: "echo", methods: { say: { handler: (p) => p.text } } });
  const client = await env.mesh({ user: "alice", password: "s3cret" });
  assert.equal((await client.call("echo", "say", { text: "ok" })).result, "ok");
  await assert.rejects(Mesh.connect({ servers: env.server.url, user: "alice", password: "wrong" }), (err: unknown) => {
    assert.ok(err instanceof NotConnectedError);
    assert.match(err.message, /authorization|credentials/i);
    return true;
  });
});

test("token auth connects with the token and fails without it", async (t) => {
  const env = await meshEnv(t, { args: ["--auth", "tok123"] });
  const client = await env.mesh({ token: "tok123" });
  assert.equal(client.connected, true);
  await assert.rejects(Mesh.connect({ servers: env.server.url }), NotConnectedError);
});

/** A TCP pass-through in front of the server's websocket port that records each HTTP upgrade request. */
async function recordingProxy(target: number): Promise<{ port: number; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((client) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes("\r\n\r\n")) return;
      client.off("data", onData);
      requests.push(head.toString("latin1").split("\r\n\r\n")[0]!);
      const upstream = netConnect(target, "127.0.0.1", () => {
        upstream.write(head);
        client.pipe(upstream).pipe(client);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    };
    client.on("data", onData);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, requests, server };
}

test("websocket: proxy path, query, bearer token and headers reach the server's upgrade request", async (t) => {
  const wsPort = await freePort();
  const conf = join(tmpdir(), `mesh-ws-${wsPort}.conf`);
  writeFileSync(conf, `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }\n`);
  t.after(() => rmSync(conf, { force: true }));
  const env = await meshEnv(t, { args: ["-c", conf] });
  const proxy = await recordingProxy(wsPort);
  t.after(() => new Promise<void>((r) => proxy.server.close(() => r())));
  const proxyUrl = `ws://127.0.0.1:${proxy.port}/edge?token=old`;

  const node = await env.node("n1");
  await node.registerTool({ name: "echo", methods: { say: { handler: (p) => p.text } } });
  const client = await env.mesh({
    servers: proxyUrl,
    ws: {
      proxyPath: "nats",
      bearerToken: "bear-1",
      headers: { "X-Mesh-Team": ["a", "b"] },
      query: { token: "new", tenant: "t1" },
    },
  });
  assert.deepEqual(await client.call("echo", "say", { text: "over ws" }), { ok: true, result: "over ws", node: "n1" });

  const req = proxy.requests[0];
  assert.ok(req, "the client went through the proxy");
  const [requestLine, ...headerLines] = req.split("\r\n");
  const target = new URL(requestLine!.split(" ")[1]!, "http://x");
  assert.equal(target.pathname, "/edge/nats");
  assert.deepEqual(target.searchParams.getAll("token"), ["new"]);
  assert.deepEqual(target.searchParams.getAll("tenant"), ["t1"]);
  const headers = new Map(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  assert.equal(headers.get("authorization"), "Bearer bear-1");
  assert.equal(headers.get("x-mesh-team"), "a, b");
});
