/**
 * Log notifications over HTTP with several sessions: each client gets the server's
 * general log and its own calls, and never another session's id (one that knows it
 * can act in that session), in any notification or error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Notification } from "@modelcontextprotocol/sdk/types.js";
import { meshWithTools, startCli, waitFor } from "./helpers.js";

interface Observed {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Everything this client received or was told, as text. */
  seen: string[];
  logs: string[];
}

async function observedClient(url: string): Promise<Observed> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: "observer", version: "1" });
  const o: Observed = { client, transport, seen: [], logs: [] };
  client.fallbackNotificationHandler = async (n: Notification) => {
    o.seen.push(JSON.stringify(n));
    if (n.method === "notifications/message") o.logs.push(String((n.params as { data?: unknown }).data));
  };
  client.onerror = (err) => o.seen.push(`error: ${err.message}`);
  await client.connect(transport);
  return o;
}

test("a session's log notifications never carry another session's id", { timeout: 60_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--log-level", "debug"]);
  const b = await observedClient(cli.url);
  t.after(() => b.client.close().catch(() => {}));
  await b.client.setLoggingLevel("debug");
  const a = await observedClient(cli.url);
  await a.client.setLoggingLevel("debug");
  const ids = new Set<string>([a.transport.sessionId!]);

  // A works: calls (ok, failing, invalid), a cancelled call; C comes and goes.
  await a.client.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } });
  await a.client.callTool({ name: "calc__add", arguments: { a: "x" } });
  await a.client.callTool({ name: "nope__nope", arguments: {} });
  const ac = new AbortController();
  const slow = a.client.callTool({ name: "slow__wait", arguments: { ms: 10_000 } }, undefined, { signal: ac.signal }).catch(() => undefined);
  await env.slowStarted();
  ac.abort();
  await slow;
  for (let i = 0; i < 3; i++) {
    const c = await observedClient(cli.url);
    ids.add(c.transport.sessionId!);
    await c.client.setLoggingLevel("debug");
    await c.client.callTool({ name: "calc__add", arguments: { a: i, b: i } });
    await c.transport.terminateSession();
    await c.client.close();
  }
  // B works too, and a tool change gives everyone a general log line.
  await b.client.callTool({ name: "calc__add", arguments: { a: 5, b: 5 } });
  await env.node.registerTool({ name: "late", methods: { arrival: { handler: () => 1 } } });
  await waitFor(() => b.logs.some((l) => /added late\.arrival/.test(l)), "the general log line reaches B");
  await waitFor(() => b.logs.some((l) => /call calc\.add ok in \d+ ms \(node n1\)/.test(l)), "B's own call is logged to B");
  await waitFor(() => a.logs.some((l) => /call slow\.wait cancelled in/.test(l)), "A's cancel is logged to A");
  assert.ok(a.logs.some((l) => /call calc\.add invalid in/.test(l)), a.logs.join("\n"));
  await a.transport.terminateSession();
  await a.client.close();
  await new Promise((r) => setTimeout(r, 300));

  // The operator's stderr has those ids (it is theirs); B's channel has none of them.
  for (const id of ids) assert.ok(cli.stderr().includes(id), "the session lines are on stderr, with their ids");
  const everything = b.seen.join("\n");
  assert.ok(b.seen.length >= 3, `B received log notifications: ${everything}`);
  for (const id of ids) assert.ok(!everything.includes(id), `B saw session id ${id}:\n${b.seen.filter((s) => s.includes(id)).join("\n")}`);
  assert.ok(!b.logs.some((l) => /call slow\.wait|invalid/.test(l)), "B does not see A's calls");
});
