/**
 * The 2026-07-28 HTTP wire as a hand-written client sees it: sessionless requests,
 * the Mcp-Method/Mcp-Name checks, cache hints, JSON-RPC error codes, cancellation by
 * closing the response stream, and our access control in front of both revisions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { meshWithTools, INITIALIZE, MCP_HEADERS, raw, rawSession, startCli, waitFor } from "../http/helpers.js";

const T = { timeout: 60_000 };
const V = "2026-07-28";
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A 2026 request body and the headers the spec asks for (Mcp-Name for tools/call, resources/read). */
function modern(id: number, method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const name = method === "tools/call" ? params.name : method === "resources/read" ? params.uri : undefined;
  return {
    method: "POST",
    headers: {
      ...MCP_HEADERS,
      "mcp-protocol-version": V,
      "mcp-method": method,
      ...(typeof name === "string" ? { "mcp-name": name } : {}),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: { ...ENVELOPE, ...(params._meta as object) } } }),
  };
}

/** The JSON-RPC message of a JSON or single-event SSE answer (the last `data:` line). */
function message(body: string): { result?: Record<string, unknown>; error?: { code: number; message: string } } {
  if (body.startsWith("{")) return JSON.parse(body);
  const data = body.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).filter(Boolean);
  return JSON.parse(data[data.length - 1]!);
}

test("2026-07-28 over HTTP, request by request", T, async (t) => {
  const env = await meshWithTools(t);
  const token = "s3cret-token-for-tests";
  const cli = await startCli(t, ["--nats", env.nats.url], { MESH_MCP_AUTH_TOKEN: token });
  const auth = { authorization: `Bearer ${token}` };
  const send = (id: number, method: string, params?: Record<string, unknown>, headers: Record<string, string> = {}) =>
    raw(cli.url, modern(id, method, params, { ...auth, ...headers }));

  await t.test("server/discover needs no session and names both revisions' server", async () => {
    const r = await send(1, "server/discover");
    assert.equal(r.status, 200, r.body);
    const result = message(r.body).result!;
    assert.ok((result.supportedVersions as string[]).includes(V));
    const meta = result._meta as Record<string, { name: string }>;
    assert.equal(meta["io.modelcontextprotocol/serverInfo"]!.name, "mesh-mcp");
    assert.ok((result.capabilities as { tools?: { listChanged?: boolean } }).tools?.listChanged);
    assert.equal(r.headers["mcp-session-id"], undefined, "no session is created");
  });

  await t.test("tools/list carries cache hints that follow the catalog, in a stable order", async () => {
    const a = message((await send(2, "tools/list")).body).result!;
    const b = message((await send(3, "tools/list")).body).result!;
    assert.equal(a.cacheScope, "public");
    assert.ok(typeof a.ttlMs === "number" && a.ttlMs > 0 && a.ttlMs <= 30_000, `ttlMs ${a.ttlMs}: until the next periodic discovery`);
    const names = (x: Record<string, unknown>) => (x.tools as Array<{ name: string }>).map((tool) => tool.name);
    assert.deepEqual(names(a), names(b));
    const templates = message((await send(4, "resources/templates/list")).body).result!;
    assert.equal(templates.ttlMs, 3_600_000);
  });

  await t.test("the spec's error codes: -32020 on a header mismatch, -32602 for bad params", async () => {
    const mismatch = await send(5, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 } }, { "mcp-name": "slow__wait" });
    assert.equal(message(mismatch.body).error?.code, -32020, mismatch.body);
    const wrongMethod = await send(6, "tools/list", {}, { "mcp-method": "tools/call" });
    assert.equal(message(wrongMethod.body).error?.code, -32020, wrongMethod.body);
    const noName = await raw(cli.url, modern(7, "tools/call", { arguments: {} }, auth));
    assert.equal(message(noName.body).error?.code, -32602, noName.body);
    const badCursor = await send(8, "resources/list", { cursor: "not-a-cursor" });
    assert.equal(message(badCursor.body).error?.code, -32602, badCursor.body);
    const toolsCursor = await send(9, "tools/list", { cursor: "x" });
    assert.equal(message(toolsCursor.body).error?.code, -32602, toolsCursor.body);
  });

  // A plain tools/call is answered on our lean path (transports/http-modern-lean.ts), the
  // rest by the SDK: what each accepts, and how it answers, must be the same.
  await t.test("a tools/call the lean path does not take gets the SDK's errors", async () => {
    const call = { name: "calc__add", arguments: { a: 1, b: 2 } };
    const without = (id: number, name: string) => {
      const spec = modern(id, "tools/call", call, auth);
      delete (spec.headers as Record<string, string>)[name];
      return raw(cli.url, spec);
    };
    const noMethod = await without(20, "mcp-method");
    assert.equal(message(noMethod.body).error?.code, -32020, noMethod.body);
    const noName = await without(21, "mcp-name");
    assert.equal(message(noName.body).error?.code, -32020, noName.body);
    const badArgs = await send(22, "tools/call", { name: "calc__add", arguments: [1, 2] });
    assert.equal(message(badArgs.body).error?.code, -32602, badArgs.body);
    const numericName = await send(23, "tools/call", { name: 5, arguments: {} }, { "mcp-name": "5" });
    assert.equal(message(numericName.body).error?.code, -32602, numericName.body);
    const oldHeader = await send(24, "tools/call", call, { "mcp-protocol-version": "2025-11-25" });
    assert.ok(oldHeader.status >= 400 && message(oldHeader.body).error, oldHeader.body);
    const ok = await send(25, "tools/call", call);
    assert.equal(message(ok.body).result?.resultType, "complete", ok.body);
  });

  await t.test("the lean path answers a plain call byte for byte like the SDK path", async () => {
    // A Base64-encoded Mcp-Name is valid and means the same name, but only the SDK decodes it.
    const viaSdk = (name: string) => ({ "mcp-name": `=?base64?${Buffer.from(name).toString("base64")}?=` });
    for (const params of [
      { name: "calc__add", arguments: { a: 2, b: 3 } },
      { name: "calc__add", arguments: { a: "x", b: 3 } },
      { name: "slow__count", arguments: { n: 2 }, _meta: { progressToken: "tok" } },
      { name: "slow__count", arguments: { n: 2 } },
    ]) {
      const lean = await send(30, "tools/call", params);
      const sdk = await send(30, "tools/call", params, viaSdk(params.name));
      assert.equal(lean.status, sdk.status);
      assert.equal(lean.headers["content-type"], sdk.headers["content-type"], params.name);
      assert.equal(lean.body, sdk.body, `${JSON.stringify(params)}`);
    }
    const streamed = await send(31, "tools/call", { name: "slow__count", arguments: { n: 3 }, _meta: { progressToken: "p" } });
    assert.equal(streamed.headers["content-type"], "text/event-stream");
    assert.equal(streamed.body.match(/notifications\/progress/g)?.length, 3, streamed.body);
    const plain = await send(32, "tools/call", { name: "calc__add", arguments: { a: 2, b: 3 } });
    assert.equal(plain.headers["content-length"], String(Buffer.byteLength(plain.body)));
  });

  await t.test("2025 requests on the same endpoint: bad params are -32602 there too", async () => {
    const sid = await rawSession(cli.url, auth);
    const h = { ...MCP_HEADERS, ...auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
    const noName = await raw(cli.url, { method: "POST", headers: h, body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { arguments: {} } }) });
    const err = message(noName.body).error!;
    assert.equal(err.code, -32602, noName.body);
    assert.match(err.message, /name/);
    const badCursor = await raw(cli.url, { method: "POST", headers: h, body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "resources/list", params: { cursor: "zz" } }) });
    assert.equal(message(badCursor.body).error?.code, -32602, badCursor.body);
    // Without a session and without the 2026 envelope, a request is still a 2025 request.
    const loose = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, ...auth }, body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list" }) });
    assert.equal(loose.status, 400);
  });

  await t.test("a tool whose schema declares JSON Schema 2020-12 has its arguments checked", async () => {
    const seen: unknown[] = [];
    await env.node.registerTool({
      name: "pairs", version: "1.0.0", description: "2020-12 schema",
      methods: {
        take: {
          schema: {
            $schema: "https://json-schema.org/draft/2020-12/schema",
            type: "object",
            properties: { pair: { type: "array", prefixItems: [{ type: "number" }, { type: "string" }], items: false } },
            required: ["pair"],
          },
          handler: (p) => (seen.push(p), "taken"),
        },
      },
    });
    const call = async (id: number, args: unknown) => {
      const r = await waitFor(async () => {
        const m = message((await send(id, "tools/call", { name: "pairs__take", arguments: args })).body);
        return /unknown tool/.test(JSON.stringify(m)) ? undefined : m;
      }, "pairs__take listed");
      return r.result as { isError?: boolean; content: Array<{ text: string }> };
    };
    const bad = await call(20, { pair: ["one", 2, 3] });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0]!.text, /invalid arguments/);
    assert.match(bad.content[0]!.text, /pair\.0 must be number/);
    assert.equal(seen.length, 0, "bad arguments never reach the node");
    const good = await call(21, { pair: [1, "a"] });
    assert.equal(good.isError, undefined, good.content[0]!.text);
    assert.equal(seen.length, 1);
  });

  await t.test("token, Host and Origin checks come first for 2026 requests too", async () => {
    const noToken = await raw(cli.url, modern(10, "server/discover"));
    assert.equal(noToken.status, 401);
    const badHost = await send(11, "server/discover", {}, { host: "evil.example:80" });
    assert.equal(badHost.status, 403);
    const badOrigin = await send(12, "server/discover", {}, { origin: "https://evil.example" });
    assert.equal(badOrigin.status, 403);
    assert.equal((await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS }, body: INITIALIZE })).status, 401);
  });

  await t.test("closing a tools/call's response stream cancels it on the mesh at once", async () => {
    const cancels: string[] = [];
    const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
    t.after(() => sub.unsubscribe());
  await env.node.nc.flush();
    const spec = modern(13, "tools/call", { name: "slow__wait", arguments: { ms: 60_000 }, _meta: { progressToken: "p" } }, auth);
    const req = request(cli.url, { method: "POST", headers: spec.headers, agent: false });
    req.on("error", () => {});
    req.end(spec.body);
    const callId = await env.slowStarted();
    const closedAt = performance.now();
    req.destroy();
    await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`, 5000);
    assert.ok(performance.now() - closedAt < 2000, "cancelled within 2 s of the close");
  });
});

test("2026 requests are bounded per client like 2025 sessions are (--max-inflight × --max-sessions-per-client)", T, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-inflight", "1", "--max-sessions-per-client", "2"]);
  const open: Array<ReturnType<typeof request>> = [];
  t.after(() => open.forEach((r) => r.destroy()));
  for (let i = 0; i < 2; i++) {
    const spec = modern(30 + i, "tools/call", { name: "slow__wait", arguments: { ms: 60_000 } });
    const req = request(cli.url, { method: "POST", headers: spec.headers, agent: false });
    req.on("error", () => {});
    req.end(spec.body);
    open.push(req);
    await env.slowStarted();
  }
  const third = await raw(cli.url, modern(40, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 } }));
  assert.equal(third.status, 429, third.body);
  assert.match(third.body, /Too many open requests from this client/);
  assert.ok(third.headers["retry-after"]);
  // Closing one frees its slot (and cancels it on the mesh).
  open.shift()!.destroy();
  await waitFor(async () => (await raw(cli.url, modern(41, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 } }))).status === 200, "a slot again");
});

test("2025-11-25 clients of a --stateless server: plain calls answered by the lean path, byte for byte like the SDK's", T, async (t) => {
  const env = await meshWithTools(t);
  const token = "s3cret-token-for-tests";
  const cli = await startCli(t, ["--nats", env.nats.url, "--stateless"], { MESH_MCP_AUTH_TOKEN: token });
  const headers = { ...MCP_HEADERS, authorization: `Bearer ${token}`, "mcp-protocol-version": "2025-11-25" };
  const send = (id: number | string, method: string, params: Record<string, unknown>, extra: Record<string, string> = {}) =>
    raw(cli.url, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify({ jsonrpc: "2.0", id, method, params }) });
  await waitFor(async () => /slow__count/.test((await send(1, "tools/list", {})).body), "slow__count listed", 15_000);

  await t.test("same status, headers and bytes as the SDK path", async () => {
    for (const params of [
      { name: "calc__add", arguments: { a: 2, b: 3 } },
      { name: "calc__add", arguments: { a: "x", b: 3 } },
      { name: "slow__count", arguments: { n: 2 }, _meta: { progressToken: "tok" } },
      { name: "slow__count", arguments: { n: 2 }, _meta: { progressToken: 7 } },
      { name: "slow__count", arguments: { n: 2 } },
      { name: "calc__add" },
    ]) {
      for (const id of [30, "req-30"]) {
        const lean = await send(id, "tools/call", params);
        // A params key the lean path does not know sends the same call through a per-request SDK server.
        const sdk = await send(id, "tools/call", { ...params, "x-unknown": true });
        assert.equal(lean.status, sdk.status, JSON.stringify(params));
        for (const h of ["content-type", "content-length", "mcp-session-id", "cache-control"]) assert.equal(lean.headers[h], sdk.headers[h], `${h} of ${JSON.stringify(params)}`);
        assert.equal(lean.body, sdk.body, JSON.stringify(params));
      }
    }
    const streamed = await send(31, "tools/call", { name: "slow__count", arguments: { n: 3 }, _meta: { progressToken: "p" } });
    assert.equal(streamed.headers["content-type"], "text/event-stream");
    assert.equal(streamed.body.match(/notifications\/progress/g)?.length, 3, streamed.body);
    assert.deepEqual(message(streamed.body).result?.structuredContent, { counted: 3 });
  });

  await t.test("what the lean path does not take is still the SDK's", async () => {
    const noName = await send(40, "tools/call", { arguments: {} });
    assert.equal(message(noName.body).error?.code, -32602, noName.body);
    const badArgs = await send(41, "tools/call", { name: "calc__add", arguments: [1, 2] });
    assert.equal(message(badArgs.body).error?.code, -32602, badArgs.body);
    const unknown = await send(42, "tools/call", { name: "nope__nothing", arguments: {} });
    assert.match(JSON.stringify(message(unknown.body).result), /unknown tool/, unknown.body);
    const badToken = await send(43, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 }, _meta: { progressToken: 1.5 } });
    assert.ok(message(badToken.body).error, badToken.body);
    const batch = await raw(cli.url, { method: "POST", headers, body: JSON.stringify([{ jsonrpc: "2.0", id: 44, method: "tools/call", params: { name: "calc__add", arguments: { a: 1, b: 1 } } }]) });
    assert.match(batch.body, /"text":"2"/, batch.body);
    // The transport's own checks come before any call.
    const notAcceptable = await send(45, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 } }, { accept: "application/json" });
    assert.equal(notAcceptable.status, 406, notAcceptable.body);
    const badVersion = await send(46, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 } }, { "mcp-protocol-version": "1999-01-01" });
    assert.equal(badVersion.status, 400, badVersion.body);
    const noToken = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25" }, body: JSON.stringify({ jsonrpc: "2.0", id: 47, method: "tools/call", params: { name: "calc__add", arguments: { a: 1, b: 2 } } }) });
    assert.equal(noToken.status, 401, noToken.body);
  });

  await t.test("closing the response cancels the call on the mesh", async () => {
    const cancels: string[] = [];
    const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
    t.after(() => sub.unsubscribe());
    await env.node.nc.flush();
    const req = request(cli.url, { method: "POST", headers, agent: false });
    req.on("error", () => {});
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 50, method: "tools/call", params: { name: "slow__wait", arguments: { ms: 60_000 } } }));
    const callId = await env.slowStarted();
    req.destroy();
    await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`, 5000);
    // The server still serves.
    const after = await send(51, "tools/call", { name: "calc__add", arguments: { a: 1, b: 1 } });
    assert.match(after.body, /"text":"2"/, after.body);
  });
});
