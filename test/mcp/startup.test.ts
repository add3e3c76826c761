/**
 * Start-up without NATS: the MCP handshake does not wait for the mesh, calls say
 * what is wrong and what to do, and the tools show up (with tools/list_changed)
 * once nats-server and a node come up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mcpEnv, registerCalculator, textOf, waitFor } from "../helpers/mcp.js";

test("initialize answers at once with NATS unreachable; tools appear with list_changed once NATS and a node come up", { timeout: 30_000 }, async (t) => {
  const env = await mcpEnv(t);
  await env.nats.kill(); // the port is closed now; restart() reopens the same one

  const client = await env.client();
  assert.ok(client.connectMs < 2000, `spawn + initialize took ${client.connectMs.toFixed(0)} ms with NATS down (want < 2 s)`);
  assert.equal(client.client.getServerVersion()?.name, "mesh-mcp");
  assert.ok(client.client.getServerCapabilities()?.tools?.listChanged, "tools.listChanged advertised");

  // A call meanwhile is a tool error that says what is wrong and what to do, not a protocol error.
  const r = await client.call("calculator__add", { a: 1, b: 2 });
  assert.equal(r.isError, true);
  const text = textOf(r);
  assert.match(text, /not connected to NATS/i);
  assert.match(text, /start nats-server|NATS_URL|--nats/);

  // Only the built-in tools while disconnected.
  const before = await client.listTools();
  assert.ok(!before.some((tl) => tl.name === "calculator__add"));

  // NATS comes up on the same port, then a node with a tool.
  const since = performance.now();
  await env.nats.restart();
  const node = await env.node("n1");
  await registerCalculator(node);

  await waitFor(
    async () =>
      client.received("notifications/tools/list_changed", since).length > 0 &&
      (await client.listTools()).some((tl) => tl.name === "calculator__add"),
    "tools/list_changed and calculator__add in tools/list",
    { timeoutMs: 8000, intervalMs: 100 },
  );
  const ok = await client.call("calculator__add", { a: 1, b: 2 });
  assert.equal(ok.isError, undefined);
  assert.equal(textOf(ok), "3");
});

test("NATS restarting under a connected server: calls meanwhile say it is reconnecting; afterwards they work again", { timeout: 30_000 }, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const client = await env.client();
  assert.equal(textOf(await client.call("calculator__add", { a: 1, b: 1 })), "2");

  await env.nats.kill();
  // Wait until the server has noticed (reading mesh://nodes sends nothing over NATS). A call made in
  // the very instant the connection dies can lose its request in the dead socket; see the report.
  await waitFor(
    () => client.client.readResource({ uri: "mesh://nodes" }).then(() => false, (e: Error) => /reconnecting/.test(e.message)),
    "the server to notice the dropped connection",
  );
  const during = await client.call("calculator__add", { a: 1, b: 1 }, { timeout: 5000 });
  assert.equal(during.isError, true);
  assert.match(textOf(during), /NATS connection dropped and is reconnecting; call again in a few seconds/);

  await env.nats.restart();
  const r = await waitFor(async () => {
    const res = await client.call("calculator__add", { a: 2, b: 2 }, { timeout: 5000 });
    return res.isError ? undefined : res;
  }, "a successful call after NATS came back", { timeoutMs: 15_000, intervalMs: 250 });
  assert.equal(textOf(r), "4");
  assert.ok((await client.listTools()).some((x) => x.name === "calculator__add"));
});
