/**
 * stdout belongs to JSON-RPC alone (logs go to stderr), and a client that set a
 * log level gets the server's log as notifications/message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CLI, ROOT, mcpEnv, registerCalculator, trackProcess, waitFor, within } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

test("stdout carries only JSON-RPC messages, even with debug logging and tool changes (raw stdio, by hand)", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);

  const proc = spawn(process.execPath, [CLI, "--log-level", "debug"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", NATS_URL: env.nats.url },
    stdio: ["pipe", "pipe", "pipe"],
  });
  trackProcess(proc);
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  t.after(() => void (proc.exitCode === null && proc.kill("SIGKILL")));
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d) => (stdout += String(d)));
  proc.stderr.on("data", (d) => (stderr += String(d)));
  const send = (msg: object) => proc.stdin.write(JSON.stringify(msg) + "\n");
  const lines = () => stdout.split("\n").filter((l) => l.length > 0);
  const messages = () => lines().map((l) => JSON.parse(l) as { id?: number; method?: string; result?: unknown });
  const response = (id: number) => waitFor(() => messages().find((m) => m.id === id), `response ${id}`);

  send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
  const init = (await response(1)) as { result: { serverInfo: { name: string }; protocolVersion: string } };
  assert.equal(init.result.serverInfo.name, "mesh-mcp");
  assert.equal(init.result.protocolVersion, "2025-06-18");
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
  send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
  await response(2);
  send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "calculator__add", arguments: { a: 20, b: 22 } } });
  const sum = (await response(3)) as { result: { content: Array<{ text: string }> } };
  assert.equal(sum.result.content[0]!.text, "42");
  send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "nope__nope", arguments: {} } });
  send({ jsonrpc: "2.0", id: 5, method: "resources/read", params: { uri: "mesh://files/missing/file" } });
  await response(5);
  // A tool change: logged (stderr) and announced (stdout).
  await node.registerTool({ name: "late", methods: { arrival: { handler: () => 1 } } });
  await waitFor(() => messages().find((m) => m.method === "notifications/tools/list_changed"), "tools/list_changed on stdout");
  await waitFor(() => /mesh: added late\.arrival/.test(stderr), "the log line on stderr");

  proc.stdin.end();
  assert.equal(await within(exited, 8000, "exit after stdin closed"), 0);
  assert.ok(stdout.endsWith("\n"));
  for (const line of lines()) {
    let msg: { jsonrpc?: string };
    assert.doesNotThrow(() => (msg = JSON.parse(line)), `stdout line is JSON: ${line.slice(0, 120)}`);
    assert.equal(msg!.jsonrpc, "2.0", `stdout line is JSON-RPC: ${line.slice(0, 120)}`);
  }
  assert.match(stderr, /DEBUG|INFO/, "the logs went to stderr");
});

test("after logging/setLevel the client receives the server's log as notifications/message", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const client = await env.client();
  assert.ok(client.client.getServerCapabilities()?.logging);
  await client.listTools();
  assert.deepEqual(client.received("notifications/message"), [], "nothing before the client chose a level");

  await client.client.setLoggingLevel("info");
  await node.registerTool({ name: "late", methods: { arrival: { handler: () => 1 } } });
  const msg = await client.waitForNotification("notifications/message", { match: (n) => /added late\.arrival/.test(String(n.params?.data)) });
  assert.equal(msg.params?.level, "info");
  assert.equal(msg.params?.logger, "mesh-mcp");

  // A higher level filters the info lines out.
  await client.client.setLoggingLevel("error");
  const since = performance.now();
  await node.unregisterTool("late");
  await client.waitForNotification("notifications/tools/list_changed", { since });
  assert.deepEqual(client.received("notifications/message", since), []);
});
