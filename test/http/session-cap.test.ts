/**
 * Session caps over HTTP, as a client sees them: past --max-sessions-per-client the
 * client's least recently used idle session makes room (404 afterwards, as for any
 * ended session); with all of them busy, 429 + Retry-After; past --max-sessions, 503 +
 * Retry-After; and an SDK client reports the server's reason.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { INITIALIZE, MCP_HEADERS, meshWithTools, raw, startCli, type RawResponse } from "./helpers.js";

type Reply = RawResponse;

/** A raw request from a chosen loopback address (127.0.0.2 is another client to the server). */
function from(localAddress: string, url: string, opts: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return raw(url, { method: "POST", ...opts, localAddress });
}

async function initialize(localAddress: string, url: string): Promise<Reply & { id?: string }> {
  const r = await from(localAddress, url, { headers: MCP_HEADERS, body: INITIALIZE });
  return { ...r, id: typeof r.headers["mcp-session-id"] === "string" ? r.headers["mcp-session-id"] : undefined };
}

const TOOLS_LIST = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
const inSession = (id: string) => ({ ...MCP_HEADERS, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" });

/** Holds a session's GET stream open (the session is busy while it is). */
function holdStream(localAddress: string, url: string, id: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers: { ...inSession(id), accept: "text/event-stream" }, agent: false, localAddress }, (res) => {
      assert.equal(res.statusCode, 200);
      resolve(() => req.destroy());
    });
    req.on("error", (e) => (e.message === "socket hang up" ? undefined : reject(e)));
    req.end();
  });
}

test("per client: the least recently used idle session makes room; all busy → 429; in all → 503", { timeout: 60_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-sessions", "5", "--max-sessions-per-client", "3"]);
  const A = "127.0.0.1";
  const B = "127.0.0.2";

  const first = await initialize(A, cli.url);
  const second = await initialize(A, cli.url);
  const third = await initialize(A, cli.url);
  for (const r of [first, second, third]) assert.equal(r.status, 200, r.body);
  // `second` used recently: `first` is now the least recently used.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await from(A, cli.url, { headers: inSession(second.id!), body: TOOLS_LIST })).status, 200);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await from(A, cli.url, { headers: inSession(third.id!), body: TOOLS_LIST })).status, 200);

  const fourth = await initialize(A, cli.url);
  assert.equal(fourth.status, 200, "a fourth session from the same client is opened");
  assert.equal((await from(A, cli.url, { headers: inSession(first.id!), body: TOOLS_LIST })).status, 404, "the LRU idle session was closed");
  assert.equal((await from(A, cli.url, { headers: inSession(second.id!), body: TOOLS_LIST })).status, 200, "the others live on");
  assert.match(cli.stderr(), new RegExp(`closed session ${first.id}, the least recently used idle session of 127\\.0\\.0\\.1`));

  // All three busy (a GET stream open on each): a fifth is refused with 429.
  const release = await Promise.all([second, third, fourth].map((s) => holdStream(A, cli.url, s.id!)));
  const busy = await initialize(A, cli.url);
  assert.equal(busy.status, 429, busy.body);
  assert.equal(busy.headers["retry-after"], "5");
  assert.match(JSON.parse(busy.body).error.message, /Too many sessions from this client \(3, all busy; --max-sessions-per-client\)/);

  // Another client still gets in, up to the total of 5 (3 + 2), then 503.
  assert.equal((await initialize(B, cli.url)).status, 200);
  assert.equal((await initialize(B, cli.url)).status, 200);
  const full = await initialize(B, cli.url);
  assert.equal(full.status, 503, full.body);
  assert.equal(full.headers["retry-after"], "5");
  assert.match(JSON.parse(full.body).error.message, /too many open sessions \(5; --max-sessions\); retry later/);

  // What an SDK client (from 127.0.0.1, whose sessions are all busy) reports when it cannot get a session.
  const client = new Client({ name: "late", version: "1" });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(cli.url))), /Error POSTing to endpoint: .*Too many sessions from this client \(3, all busy/);
  for (const r of release) r();
});

test("a flood of 2,000 initialize requests from one client keeps at most the per-client cap open", { timeout: 120_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-sessions-per-client", "50"]);
  let ok = 0;
  for (let i = 0; i < 2000; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => initialize("127.0.0.1", cli.url)));
    ok += batch.filter((r) => r.status === 200).length;
  }
  assert.ok(ok >= 1950, `initialize answered 200 (${ok}/2000): old sessions make room`);
  const ready = JSON.parse((await from("127.0.0.1", cli.url.replace(/\/mcp$/, "/readyz"), { method: "GET" })).body) as { sessions: number };
  assert.ok(ready.sessions <= 50, `at most 50 sessions open (${ready.sessions})`);
  // A well-behaved client still works afterwards.
  const client = new Client({ name: "after", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(cli.url)));
  assert.ok((await client.listTools()).tools.length > 0);
  await client.close();
});
