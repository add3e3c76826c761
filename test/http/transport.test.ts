/**
 * src/transports/http-transport.ts on its own: a node:http server with one SDK
 * `Server` per session behind our transport, driven with raw HTTP. Checks the JSON
 * vs SSE choice, 202s, the GET stream, DELETE, batches, and that every refusal
 * (status, JSON-RPC code and message) is the same as the SDK's own Streamable HTTP
 * server transport gives for the same request.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { StreamableHttpTransport, type AnswerMode } from "../../src/transports/http-transport.js";
import { INITIALIZE, MCP_HEADERS, raw } from "./helpers.js";

type Kind = "ours" | "sdk";

/** A tool server: `echo` answers at once, `progress` sends N progress notifications first, `big` answers 2 MB, `wait` answers after ms. */
function mcpServer(): Server {
  const server = new Server({ name: "t", version: "1" }, { capabilities: { tools: {}, logging: {} } });
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = (req.params.arguments ?? {}) as { n?: number; ms?: number };
    const token = req.params._meta?.progressToken;
    if (req.params.name === "progress" && token !== undefined) {
      for (let i = 1; i <= (args.n ?? 2); i++) await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: i } });
    }
    if (req.params.name === "wait") await new Promise((r) => setTimeout(r, args.ms ?? 50));
    const text = req.params.name === "big" ? "x".repeat(2 << 20) : `${req.params.name} done`;
    return { content: [{ type: "text", text }] };
  });
  return server;
}

interface Served {
  url: string;
  /** Our transports, by session id (for server-initiated messages). */
  servers: Map<string, Server>;
}

/** One session per initialize, like http.ts (simplified: no security, no limits). */
async function serve(t: TestContext, kind: Kind, opts: { mode?: AnswerMode; keepAliveMs?: number; stateless?: boolean } = {}): Promise<Served> {
  const sessions = new Map<string, { transport: StreamableHttpTransport | StreamableHTTPServerTransport; server: Server }>();
  const servers = new Map<string, Server>();
  const make = async () => {
    const sessionIdGenerator = opts.stateless ? undefined : () => randomUUID();
    const transport =
      kind === "ours"
        ? new StreamableHttpTransport({ sessionIdGenerator, mode: opts.mode, keepAliveMs: opts.keepAliveMs })
        : new StreamableHTTPServerTransport({ sessionIdGenerator, enableJsonResponse: opts.mode === "json" });
    const server = mcpServer();
    await server.connect(transport);
    return { transport, server };
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const sid = req.headers["mcp-session-id"] as string | undefined;
    let s = sid === undefined || opts.stateless ? undefined : sessions.get(sid);
    if (!s) s = await make();
    if (s.transport instanceof StreamableHttpTransport) s.transport.handleRequest(req, res, body);
    else await s.transport.handleRequest(req, res, body);
    const id = s.transport.sessionId;
    if (id !== undefined && !sessions.has(id)) {
      sessions.set(id, s);
      servers.set(id, s.server);
    }
  };
  const http = createHttpServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      handle(req, res, body).catch((err: Error) => {
        res.writeHead(500);
        res.end(err.message);
      });
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const s of sessions.values()) await s.server.close().catch(() => {});
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, servers };
}

const V = "2025-06-18";

async function session(url: string): Promise<{ id: string; h: Record<string, string> }> {
  const r = await raw(url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
  assert.equal(r.status, 200, r.body);
  const id = r.headers["mcp-session-id"] as string;
  const h = { ...MCP_HEADERS, "mcp-session-id": id, "mcp-protocol-version": V };
  const n = await raw(url, { method: "POST", headers: h, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  assert.equal(n.status, 202);
  return { id, h };
}

const call = (id: number, name: string, args: object = {}, meta?: object) =>
  ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } });

/** The SSE events of a body, parsed. */
function events(body: string): Array<Record<string, unknown>> {
  return body
    .split("\n\n")
    .filter((e) => e.includes("data: "))
    .map((e) => JSON.parse(e.slice(e.indexOf("data: ") + 6)) as Record<string, unknown>);
}

test("auto answers: JSON for a lone response, SSE when anything comes first, SSE over 1 MiB", async (t) => {
  const { url } = await serve(t, "ours");
  const { id, h } = await session(url);

  const plain = await raw(url, { method: "POST", headers: h, body: JSON.stringify(call(2, "echo")) });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers["content-type"], "application/json");
  assert.equal(plain.headers["mcp-session-id"], id);
  assert.equal(Number(plain.headers["content-length"]), Buffer.byteLength(plain.body));
  assert.deepEqual(JSON.parse(plain.body), { jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "echo done" }] } });

  const streamed = await raw(url, { method: "POST", headers: h, body: JSON.stringify(call(3, "progress", { n: 3 }, { progressToken: "p" })) });
  assert.equal(streamed.headers["content-type"], "text/event-stream");
  assert.equal(streamed.headers["cache-control"], "no-cache, no-transform");
  assert.equal(streamed.headers["mcp-session-id"], id);
  assert.match(streamed.body, /^event: message\ndata: /);
  const evs = events(streamed.body);
  assert.deepEqual(evs.map((e) => (e.method ? (e.params as { progress: number }).progress : "result")), [1, 2, 3, "result"]);
  assert.equal(evs[3]!.id, 3);

  const big = await raw(url, { method: "POST", headers: h, body: JSON.stringify(call(4, "big")) });
  assert.equal(big.headers["content-type"], "text/event-stream");
  assert.equal(((events(big.body)[0]!.result as { content: Array<{ text: string }> }).content[0]!.text).length, 2 << 20);
});

test("a keep-alive before the response turns the answer into SSE", async (t) => {
  const { url } = await serve(t, "ours", { keepAliveMs: 20 });
  const { h } = await session(url);
  const r = await raw(url, { method: "POST", headers: h, body: JSON.stringify(call(2, "wait", { ms: 120 })) });
  assert.equal(r.headers["content-type"], "text/event-stream");
  assert.match(r.body, /^: keepalive\n\n/);
  assert.equal(events(r.body)[0]!.id, 2);
});

test("batches: SSE with every response (auto), one JSON array (json mode); 202 for notifications and responses only", async (t) => {
  const { url } = await serve(t, "ours");
  const { h } = await session(url);
  const batch = await raw(url, { method: "POST", headers: h, body: JSON.stringify([call(5, "wait", { ms: 30 }), call(6, "echo")]) });
  assert.equal(batch.headers["content-type"], "text/event-stream");
  assert.deepEqual(events(batch.body).map((e) => e.id).sort(), [5, 6]);

  const notes = await raw(url, {
    method: "POST", headers: h,
    body: JSON.stringify([{ jsonrpc: "2.0", method: "notifications/roots/list_changed" }, { jsonrpc: "2.0", id: "x", result: {} }]),
  });
  assert.equal(notes.status, 202);
  assert.equal(notes.body, "");

  const json = await serve(t, "ours", { mode: "json" });
  const s = await session(json.url);
  const one = await raw(json.url, { method: "POST", headers: s.h, body: JSON.stringify(call(2, "progress", {}, { progressToken: "p" })) });
  assert.equal(one.headers["content-type"], "application/json");
  assert.equal(JSON.parse(one.body).id, 2);
  const arr = await raw(json.url, { method: "POST", headers: s.h, body: JSON.stringify([call(7, "wait", { ms: 30 }), call(8, "echo")]) });
  assert.deepEqual((JSON.parse(arr.body) as Array<{ id: number }>).map((m) => m.id), [7, 8]);

  const sse = await serve(t, "ours", { mode: "sse" });
  const s2 = await session(sse.url);
  const ev = await raw(sse.url, { method: "POST", headers: s2.h, body: JSON.stringify(call(2, "echo")) });
  assert.equal(ev.headers["content-type"], "text/event-stream");
  assert.equal(events(ev.body)[0]!.id, 2);
});

test("GET stream carries server-initiated messages; one per session; DELETE ends the session and its streams", async (t) => {
  const { url, servers } = await serve(t, "ours");
  const { id, h } = await session(url);
  const got = new Promise<string>((resolve, reject) => {
    void import("node:http").then(({ request }) => {
      const req = request(url, { method: "GET", headers: { ...h, accept: "text/event-stream" }, agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers["content-type"], "text/event-stream");
        assert.equal(res.headers["mcp-session-id"], id);
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
          // Headers arrive before any event: send one now.
          if (body === "") return;
        });
        res.on("end", () => resolve(body));
        void servers.get(id)!.sendLoggingMessage({ level: "info", data: "hello" });
      });
      req.on("error", reject);
      req.end();
    });
  });
  // While the GET stream is open, a second one is refused.
  await new Promise((r) => setTimeout(r, 100));
  const second = await raw(url, { method: "GET", headers: { ...h, accept: "text/event-stream" } });
  assert.equal(second.status, 409);
  const del = await raw(url, { method: "DELETE", headers: h });
  assert.equal(del.status, 200);
  const body = await got;
  assert.equal(events(body)[0]!.method, "notifications/message");
  const after = await raw(url, { method: "POST", headers: h, body: JSON.stringify(call(9, "echo")) });
  assert.equal(after.status, 404);
});

test("stateless: no session id, no session checks", async (t) => {
  const { url } = await serve(t, "ours", { stateless: true });
  const init = await raw(url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
  assert.equal(init.status, 200);
  assert.equal(init.headers["mcp-session-id"], undefined);
  const r = await raw(url, { method: "POST", headers: MCP_HEADERS, body: JSON.stringify(call(2, "echo")) });
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(JSON.parse(r.body).id, 2);
});

test("every refusal matches the SDK's transport: status, JSON-RPC code and message", async (t) => {
  const ours = await serve(t, "ours");
  const sdk = await serve(t, "sdk");
  const o = await session(ours.url);
  const s = await session(sdk.url);
  type Case = { name: string; method?: string; headers: (h: Record<string, string>) => Record<string, string>; body?: string };
  const body = JSON.stringify(call(2, "echo"));
  const cases: Case[] = [
    { name: "Accept without text/event-stream", headers: (h) => ({ ...h, accept: "application/json" }), body },
    { name: "Accept without application/json", headers: (h) => ({ ...h, accept: "text/event-stream" }), body },
    { name: "Content-Type text/plain", headers: (h) => ({ ...h, "content-type": "text/plain" }), body },
    { name: "Content-Type with charset", headers: (h) => ({ ...h, "content-type": "application/json; charset=utf-8" }), body },
    { name: "not JSON-RPC", headers: (h) => h, body: JSON.stringify({ hello: 1 }) },
    { name: "batch over 100", headers: (h) => h, body: JSON.stringify(Array.from({ length: 101 }, (_, i) => call(i + 10, "echo"))) },
    { name: "initialize again", headers: (h) => h, body: INITIALIZE },
    { name: "no session id", headers: ({ "mcp-session-id": _, ...h }) => h, body },
    { name: "wrong session id", headers: (h) => ({ ...h, "mcp-session-id": "nope" }), body },
    { name: "unsupported protocol version", headers: (h) => ({ ...h, "mcp-protocol-version": "1999-01-01" }), body },
    { name: "no protocol version", headers: ({ "mcp-protocol-version": _, ...h }) => h, body },
    { name: "GET without text/event-stream", method: "GET", headers: (h) => ({ ...h, accept: "application/json" }) },
    { name: "GET wrong session", method: "GET", headers: (h) => ({ ...h, accept: "text/event-stream", "mcp-session-id": "nope" }) },
    { name: "DELETE bad version", method: "DELETE", headers: (h) => ({ ...h, "mcp-protocol-version": "x" }) },
    { name: "PUT", method: "PUT", headers: (h) => h, body },
  ];
  const strip = (r: { status: number; body: string; headers: Record<string, unknown> }) => {
    let parsed: unknown = r.body;
    try {
      parsed = JSON.parse(r.body);
    } catch {
      // SSE or empty
    }
    return { status: r.status, body: typeof parsed === "object" && parsed && "error" in parsed ? parsed : r.status, allow: r.headers["allow"] };
  };
  for (const c of cases) {
    const a = await raw(ours.url, { method: c.method ?? "POST", headers: c.headers(o.h), body: c.body });
    const b = await raw(sdk.url, { method: c.method ?? "POST", headers: c.headers(s.h), body: c.body });
    assert.deepEqual(strip(a), strip(b), c.name);
  }
  // A fresh transport: anything but initialize is refused as not initialized.
  const fresh = await raw(ours.url.replace(/$/, ""), { method: "POST", headers: MCP_HEADERS, body: JSON.stringify([call(1, "echo"), JSON.parse(INITIALIZE)]) });
  const freshSdk = await raw(sdk.url, { method: "POST", headers: MCP_HEADERS, body: JSON.stringify([call(1, "echo"), JSON.parse(INITIALIZE)]) });
  assert.deepEqual(strip(fresh), strip(freshSdk), "initialize inside a batch");
});
