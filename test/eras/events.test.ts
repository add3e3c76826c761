/**
 * MCP events beyond plain HTTP: over stdio on 2026-07-28 (list, poll, a stream whose
 * notifications are routed by subscription id and that ends with notifications/cancelled),
 * and the task events: a task's end is told to its owner and to nobody else.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../helpers/nats-server.js";
import { CLI, MCP_HEADERS, natsWithJob, raw, startCli, waitFor } from "../http/helpers.js";
import { EVENTS_EXT, rpc, V } from "../http/events-kit.js";

const T = { timeout: 90_000 };
type Msg = { id?: number; method?: string; result?: Record<string, any>; error?: { code: number; message: string }; params?: Record<string, any> };

function stdio(t: TestContext, args: string[]) {
  const proc = spawn(process.execPath, [CLI, "--transport", "stdio", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  proc.stderr!.resume();
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(async () => {
    proc.stdin!.end();
    proc.kill("SIGKILL");
    await exited;
  });
  const waiting = new Map<number, (m: Msg) => void>();
  const notes: Msg[] = [];
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const m = JSON.parse(line) as Msg;
    if (typeof m.id === "number" && !m.method) waiting.get(m.id)?.(m);
    else if (m.method) notes.push(m);
  });
  let id = 0;
  const meta = { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "ev", version: "1" }, "io.modelcontextprotocol/clientCapabilities": { extensions: { [EVENTS_EXT]: {} } } };
  const write = (n: number, method: string, params: Record<string, unknown>) => proc.stdin!.write(JSON.stringify({ jsonrpc: "2.0", id: n, method, params: { ...params, _meta: meta } }) + "\n");
  return {
    notes,
    send(method: string, params: Record<string, unknown>): Promise<Msg> {
      const n = ++id;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method}`)), 20_000);
        waiting.set(n, (m) => (clearTimeout(timer), resolve(m)));
        write(n, method, params);
      });
    },
    /** Opens an events/stream; returns its request id (notifications carry it) and the final answer, if any. */
    stream(params: Record<string, unknown>): { id: number; answer: Promise<Msg> } {
      const n = ++id;
      const answer = new Promise<Msg>((resolve) => waiting.set(n, resolve));
      write(n, "events/stream", params);
      return { id: n, answer };
    },
    cancel(requestId: number) {
      proc.stdin!.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId } }) + "\n");
    },
  };
}

test("stdio, 2026-07-28: events/list, poll and a push stream routed by subscription id, ended by notifications/cancelled", T, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const c = stdio(t, ["--nats", nats.url]);
  const disc = await c.send("server/discover", {});
  assert.deepEqual(disc.result?.capabilities?.extensions?.[EVENTS_EXT], {});
  const list = await c.send("events/list", {});
  assert.ok((list.result!.events as Array<{ name: string }>).some((e) => e.name === "mesh.tool.started"));
  const start = await c.send("events/poll", { name: "mesh.tool.started", cursor: null });
  const s1 = c.stream({ name: "mesh.tool.started", arguments: { tool: "render" }, cursor: start.result!.cursor });
  const s2 = c.stream({ name: "mesh.tool.started", arguments: { tool: "other" }, cursor: start.result!.cursor });
  const of = (id: number, m: string) => c.notes.filter((n) => n.method === m && n.params?._meta?.["io.modelcontextprotocol/subscriptionId"] === id);
  await waitFor(() => of(s1.id, "notifications/events/active").length && of(s2.id, "notifications/events/active").length, "both streams active");
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  nc.publish("events.tool.started", JSON.stringify({ type: "tool.started", node: "n1", data: { tool: "render" } }));
  await waitFor(() => of(s1.id, "notifications/events/event").length === 1, "the event on the render stream");
  assert.equal(of(s1.id, "notifications/events/event")[0]!.params!.data.tool, "render");
  assert.equal(of(s2.id, "notifications/events/event").length, 0, "not on the other stream");
  c.cancel(s1.id);
  await new Promise((r) => setTimeout(r, 300));
  nc.publish("events.tool.started", JSON.stringify({ type: "tool.started", node: "n2", data: { tool: "render" } }));
  const polled = await waitFor(async () => {
    const r = await c.send("events/poll", { name: "mesh.tool.started", arguments: { tool: "render" }, cursor: start.result!.cursor });
    return r.result!.events.length === 2 ? r : undefined;
  }, "both by poll");
  assert.deepEqual(polled.result!.events.map((e: any) => e.data.node), ["n1", "n2"]);
  assert.equal(of(s1.id, "notifications/events/event").length, 1, "a cancelled stream says nothing more");
});

test("mesh.task.completed: a task's end is told to its owner (the bearer identity) and to no other", T, async (t) => {
  const { nats } = await natsWithJob(t);
  const [mine, theirs] = ["events-task-owner-0123456789", "someone-else-abcdefghijk"];
  const p = await startCli(t, ["--nats", nats.url, "--auth-token", mine]);
  const q = await startCli(t, ["--nats", nats.url, "--auth-token", theirs]);
  const from = await rpc(p.url, "events/poll", { name: "mesh.task.completed", cursor: null }, mine);
  const fromOther = await rpc(q.url, "events/poll", { name: "mesh.task.completed", cursor: null }, theirs);
  // Start a task the 2026 way (the tasks extension declared on the request).
  await waitFor(async () => ((await rpc(p.url, "tools/list", {}, mine)).result?.tools as Array<{ name: string }> | undefined)?.some((x) => x.name === "job__run"), "job__run", 10_000);
  const r = await raw(p.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": "tools/call", "mcp-name": "job__run", authorization: `Bearer ${mine}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "job__run", arguments: { n: 2, everyMs: 10 }, _meta: {
      "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": { extensions: { "io.modelcontextprotocol/tasks": {} } } } } }),
  });
  const taskId = (JSON.parse(r.body.startsWith("{") ? r.body : r.body.split("data:").pop()!).result as { taskId: string }).taskId;
  assert.ok(taskId);
  const done = await waitFor(async () => {
    const x = await rpc(p.url, "events/poll", { name: "mesh.task.completed", cursor: from.result!.cursor }, mine);
    return x.result!.events.length ? x : undefined;
  }, "the task's end", 20_000);
  assert.deepEqual(done.result!.events.map((e: any) => [e.data.taskId, e.data.status, e.data.tool]), [[taskId, "completed", "job"]]);
  const other = await rpc(q.url, "events/poll", { name: "mesh.task.completed", cursor: fromOther.result!.cursor }, theirs);
  assert.deepEqual(other.result!.events, [], "another identity hears nothing of it");
});
