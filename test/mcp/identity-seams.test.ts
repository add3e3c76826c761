/**
 * The policy through the seams the HTTP edge will use (no sign-in here: the principal is
 * handed over as a transport hands it): `SessionOptions.principal` for 2025 sessions
 * (createServer over an in-memory pair, the v1 client), and ModernHttp's `principalOf`
 * for 2026-07-28 requests — the SDK path (authInfo) and the lean call path alike — with
 * a real nats-server and mesh node.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { PolicySchema } from "../../src/mcp/policy.js";
import type { Principal } from "../../src/mcp/principal.js";
import { createServer } from "../../src/mcp/server.js";
import { Mesh } from "../../src/mesh/index.js";
import { ModernHttp } from "../../src/transports/http-modern.js";
import { NatsServer } from "../helpers/nats-server.js";
import { registerCalculator, waitFor } from "../helpers/mcp.js";
import { MCP_HEADERS, raw } from "../http/helpers.js";

const POLICY = PolicySchema.parse({
  roles: {
    readers: { tools: { allow: ["calculator.add"] }, files: { read: ["shared/"] } },
    operators: { tools: { allow: ["*"] }, files: { read: ["*"] } },
  },
  map: [{ principal: "sub-alice", roles: ["operators"] }],
  default: "readers",
});

const person = (id: string, name: string): Principal => ({ id, name, source: "oauth", roles: [], scopes: ["mcp"], groups: [], claims: { sub: id } });
const ALICE = person("sub-alice", "alice@example.com");
const BOB = person("sub-bob", "bob@example.com");

async function setup(t: TestContext): Promise<{ bridge: Bridge; mesh: Mesh; node: Mesh }> {
  const nats = await NatsServer.start();
  const node = await Mesh.connect({ servers: nats.url, node: "n1" });
  await registerCalculator(node);
  await node.registerTool({ name: "vault", methods: { open: { schema: { type: "object", properties: {} }, handler: () => "the secret" } } });
  const mesh = await Mesh.connect({ servers: nats.url });
  await mesh.files.put("private/plans.txt", new TextEncoder().encode("plans"), "text/plain");
  const bridge = await Bridge.withMesh(mesh, { policy: POLICY }, new Logger("error", false));
  await waitFor(() => (bridge.methods().some((e) => e.tool === "vault") ? true : undefined), "the catalog");
  t.after(async () => {
    await bridge.shutdown();
    await node.close().catch(() => {});
    await nats.stop();
  });
  return { bridge, mesh, node };
}

test("2025 sessions: SessionOptions.principal decides what each session sees and may call", { timeout: 60_000 }, async (t) => {
  const { bridge } = await setup(t);
  const session = async (principal: Principal) => {
    const s = createServer(bridge, { principal });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await s.server.connect(b);
    const client = new Client({ name: "seam", version: "1" });
    await client.connect(a);
    t.after(async () => {
      await client.close();
      await s.close();
    });
    return client;
  };
  const alice = await session(ALICE);
  const bob = await session(BOB);
  const names = async (c: Client) => (await c.listTools()).tools.map((x) => x.name).sort();
  assert.deepEqual(await names(alice), ["calculator__add", "calculator__fail", "vault__open"], "no upload prefix: no upload tool");
  assert.deepEqual(await names(bob), ["calculator__add"]);
  const hidden = await bob.callTool({ name: "vault__open", arguments: {} });
  const unknown = await bob.callTool({ name: "vaulx__opem", arguments: {} });
  assert.equal(JSON.stringify(hidden).replaceAll("vault__open", "N"), JSON.stringify(unknown).replaceAll("vaulx__opem", "N"));
  assert.match(JSON.stringify(await alice.callTool({ name: "vault__open", arguments: {} })), /the secret/);
  await assert.rejects(bob.readResource({ uri: "mesh://files/private/plans.txt" }), /has no object "private\/plans.txt"/);
  assert.equal(((await alice.readResource({ uri: "mesh://files/private/plans.txt" })).contents[0] as { text?: string }).text, "plans");
});

test("2026 over HTTP: principalOf reaches the SDK path and the lean call path; filtered answers are cacheScope private", { timeout: 60_000 }, async (t) => {
  const { bridge, node } = await setup(t);
  const who: Record<string, Principal> = { alice: ALICE, bob: BOB };
  const modern = new ModernHttp(bridge, {
    responseMode: "auto", maxBody: 1 << 20, maxPerClient: 100, maxTotal: 1000,
    principalOf: (req: IncomingMessage) => who[String(req.headers["x-test-principal"])],
  }, new Logger("error", false));
  const server = createHttpServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => void modern.serve(req, res, JSON.parse(text)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    await modern.close();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  const V = "2026-07-28";
  let id = 0;
  const send = async (as: string, method: string, params: Record<string, unknown> = {}) => {
    const name = method === "tools/call" ? params.name : method === "resources/read" ? params.uri : undefined;
    const r = await raw(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": method, ...(typeof name === "string" ? { "mcp-name": name } : {}), "x-test-principal": as },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: { ...params, _meta: { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} } } }),
    });
    const body = r.body.startsWith("{") ? r.body : r.body.split("\n").filter((l) => l.startsWith("data:")).pop()!.slice(5);
    return JSON.parse(body) as { id: number; result?: Record<string, unknown>; error?: { code: number; message: string } };
  };

  const list = async (as: string) => (await send(as, "tools/list")).result!;
  const bobList = await list("bob");
  assert.deepEqual((bobList.tools as Array<{ name: string }>).map((x) => x.name), ["calculator__add"]);
  assert.equal(bobList.cacheScope, "private", "a filtered list must not be shared between callers");
  assert.equal(((await list("alice")).tools as unknown[]).length, 3);

  // The lean path (a plain call) and the SDK path answer a hidden tool exactly as an unknown one.
  const strip = (m: { id: number; result?: unknown }, name: string) => JSON.stringify(m.result).replaceAll(name, "N");
  const hidden = await send("bob", "tools/call", { name: "vault__open", arguments: {} });
  const unknown = await send("bob", "tools/call", { name: "vaulx__opem", arguments: {} });
  assert.equal((hidden.result as { isError?: boolean }).isError, true);
  assert.equal(strip(hidden, "vault__open"), strip(unknown, "vaulx__opem"));
  assert.match(JSON.stringify((await send("alice", "tools/call", { name: "vault__open", arguments: {} })).result), /the secret/);
  assert.match(JSON.stringify((await send("bob", "tools/call", { name: "calculator__add", arguments: { a: 1, b: 2 } })).result), /"text":"3"/);

  // Resources: a file outside bob's prefixes reads as missing; his views are his.
  const read = await send("bob", "resources/read", { uri: "mesh://files/private/plans.txt" });
  assert.match(read.error!.message, /has no object "private\/plans.txt"/);
  const tools = await send("bob", "resources/read", { uri: "mesh://tools" });
  assert.equal(tools.result!.cacheScope, "private");
  assert.deepEqual((JSON.parse((tools.result!.contents as Array<{ text: string }>)[0]!.text) as Array<{ name: string }>).map((x) => x.name), ["calculator__add"]);

  // A listen that would follow a file bob may not read is refused (whether or not it exists).
  const listen = await send("bob", "subscriptions/listen", { notifications: { resourceSubscriptions: ["mesh://files/private/none.txt"] } });
  assert.match(listen.error!.message, /outside the file-store prefixes you may read/);

  // list_changed only for the principal whose view changed: alice hears of a new tool, bob does not.
  const openListen = (as: string) => {
    const heard: string[] = [];
    const req = request(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": "subscriptions/listen", "x-test-principal": as },
    }, (res) => res.on("data", (d) => heard.push(String(d))));
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 99, method: "subscriptions/listen", params: { notifications: { toolsListChanged: true }, _meta: { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} } } }));
    t.after(() => req.destroy());
    return { text: () => heard.join("") };
  };
  const aliceHears = openListen("alice");
  const bobHears = openListen("bob");
  await waitFor(() => (aliceHears.text().includes("acknowledged") && bobHears.text().includes("acknowledged") ? true : undefined), "both listens acknowledged");
  await node.registerTool({ name: "imaging", methods: { run: { handler: () => "img" } } });
  await waitFor(() => (aliceHears.text().includes("notifications/tools/list_changed") ? true : undefined), "alice hears list_changed", { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!bobHears.text().includes("list_changed"), "bob's view (calculator.add) did not change");
});
