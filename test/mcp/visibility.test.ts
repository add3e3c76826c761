/**
 * What an operator and a client see of mesh-mcp's state (issue 9, visibility): over raw
 * stdio, nothing is sent before the client finished initializing, malformed requests
 * get a JSON-RPC error, and stderr carries one JSON object per line (--log-format json)
 * with every call (tool, node, outcome, duration), cancels, disconnects and reconnects.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CLI, ROOT, mcpEnv, registerCalculator, sleep, trackProcess, waitFor, within } from "../helpers/mcp.js";

interface Line {
  id?: number | string | null;
  method?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

test("raw stdio: silence before initialized, errors for malformed requests, JSON log lines for calls and reconnects", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const proc = spawn(process.execPath, [CLI, "--log-level", "debug", "--log-format", "json"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", NATS_URL: env.nats.url },
    stdio: ["pipe", "pipe", "pipe"],
  });
  trackProcess(proc);
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(() => void (proc.exitCode === null && proc.kill("SIGKILL")));
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d) => (stdout += String(d)));
  proc.stderr.on("data", (d) => (stderr += String(d)));
  const send = (line: string) => proc.stdin.write(line + "\n");
  const messages = () => stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);
  const reply = (id: number | null) => waitFor(() => messages().find((m) => m.id === id && (m.result || m.error)), `reply ${id}`);
  const logs = () => stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  // Connected, catalog loaded, a tool added: still nothing on stdout before initialize.
  await waitFor(() => /catalog: /.test(stderr), "the catalog loaded");
  await node.registerTool({ name: "early", methods: { one: { handler: () => 1 } } });
  await sleep(800);
  assert.equal(stdout, "", "no message before initialize");

  send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } }));
  await reply(1);
  // Initialize answered, `initialized` not yet sent: still no notification.
  await node.registerTool({ name: "early2", methods: { two: { handler: () => 2 } } });
  await sleep(800);
  assert.deepEqual(messages().filter((m) => m.method), [], "no notification before notifications/initialized");
  send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  await node.registerTool({ name: "late", methods: { three: { handler: () => 3 } } });
  await waitFor(() => messages().find((m) => m.method === "notifications/tools/list_changed"), "list_changed after initialized");

  // Malformed input: a reply when there is an id (or the line is not JSON), silence for notifications.
  send("this is not json");
  const parse = await reply(null);
  assert.equal(parse.error?.code, -32700);
  send(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: "not an object" }));
  assert.deepEqual((await reply(7)).error, { code: -32600, message: "Invalid Request: params must be an object" });
  send(JSON.stringify({ id: 8, method: "tools/list" }));
  const noVersion = await reply(8);
  assert.equal(noVersion.error?.code, -32600);
  assert.equal(noVersion.error!.message, 'Invalid Request: jsonrpc must be "2.0"');
  send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/whatever", params: 5 }));
  send(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }));
  await reply(9);
  assert.equal(messages().filter((m) => m.error).length, 3, "exactly the three malformed requests were answered with errors");

  // Calls: each one logged with tool, node, outcome, duration.
  send(JSON.stringify({ jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "calculator__add", arguments: { a: 1, b: 2 } } }));
  send(JSON.stringify({ jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "calculator__fail", arguments: {} } }));
  await reply(10);
  await reply(11);
  const calls = await waitFor(() => {
    const c = logs().filter((l) => typeof l.msg === "string" && (l.msg as string).startsWith("call calculator."));
    return c.length >= 2 ? c : undefined;
  }, "two call lines");
  const ok = calls.find((c) => c.tool === "calculator.add")!;
  assert.equal(ok.level, "debug");
  assert.equal(ok.node, "n1");
  assert.equal(ok.outcome, "ok");
  assert.equal(typeof ok.ms, "number");
  assert.equal(calls.find((c) => c.tool === "calculator.fail")!.level, "info", "failures show at info");

  // NATS goes away and comes back: both logged.
  await env.nats.restart();
  await waitFor(() => logs().some((l) => l.level === "warning" && /disconnected from NATS/.test(String(l.msg))), "the disconnect line", { timeoutMs: 15_000 });
  await waitFor(() => logs().some((l) => l.level === "info" && /reconnected to NATS/.test(String(l.msg))), "the reconnect line", { timeoutMs: 15_000 });

  proc.stdin.end();
  await within(exited, 8000, "exit");
  for (const line of stderr.split("\n").filter(Boolean)) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.ok(typeof rec.time === "string" && typeof rec.level === "string" && typeof rec.msg === "string", line);
  }
});
