/**
 * The 2026-07-28 Tasks extension (io.modelcontextprotocol/tasks) as a 2026 client sees
 * it on the wire, over HTTP and stdio: a task created through one mesh-mcp process is
 * polled and cancelled through another (state is in NATS), the cancel reaches the node,
 * another identity is refused, and requests without the extension get plain calls.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { CLI, MCP_HEADERS, natsWithJob, raw, startCli, waitFor } from "../http/helpers.js";

const T = { timeout: 90_000 };
const V = "2026-07-28";
const EXT = "io.modelcontextprotocol/tasks";
type Msg = { result?: Record<string, any>; error?: { code: number; message: string } };

function envelope(tasks: boolean) {
  return {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientInfo": { name: "tasks-2026", version: "1" },
    "io.modelcontextprotocol/clientCapabilities": tasks ? { extensions: { [EXT]: {} } } : {},
  };
}

function body(id: number, method: string, params: Record<string, unknown>, tasks: boolean) {
  return { jsonrpc: "2.0", id, method, params: { ...params, _meta: envelope(tasks) } };
}

function parse(text: string): Msg {
  if (text.startsWith("{")) return JSON.parse(text);
  const data = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).filter(Boolean);
  return JSON.parse(data[data.length - 1]!);
}

type Send = ((method: string, params: Record<string, unknown>, tasks?: boolean) => Promise<Msg>) & { listen?: Listen };
type Note = { method: string; params: Record<string, any> };
/** Opens a subscriptions/listen for `filter`; `notes` fills as notifications arrive. */
type Listen = (filter: Record<string, unknown>) => Promise<{ notes: Note[]; close(): void }>;

function httpSender(url: string, token?: string): Send {
  let id = 0;
  const send: Send = async (method, params, tasks = true) => {
    const name = method === "tools/call" ? (params.name as string) : method.startsWith("tasks/") ? (params.taskId as string) : undefined;
    const r = await raw(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        "mcp-protocol-version": V,
        "mcp-method": method,
        ...(name ? { "mcp-name": name } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body(++id, method, params, tasks)),
    });
    return parse(r.body);
  };
  send.listen = async (filter) => {
    const abort = new AbortController();
    const res = await fetch(url, {
      method: "POST",
      signal: abort.signal,
      headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": "subscriptions/listen", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body(++id, "subscriptions/listen", { notifications: filter }, true)),
    });
    const notes: Note[] = [];
    void (async () => {
      let buf = "";
      for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString();
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const data = buf.slice(0, at).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
          buf = buf.slice(at + 2);
          if (data) notes.push(JSON.parse(data));
        }
      }
    })().catch(() => {});
    return { notes, close: () => abort.abort() };
  };
  return send;
}

async function stdioSender(t: TestContext, args: string[]): Promise<Send> {
  const proc = spawn(process.execPath, [CLI, "--transport", "stdio", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  proc.stderr!.resume();
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(async () => {
    proc.stdin!.end();
    proc.kill("SIGKILL");
    await exited;
  });
  const waiting = new Map<number, (m: Msg) => void>();
  const notes: Note[] = [];
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const m = JSON.parse(line) as Msg & { id?: number; method?: string };
    if (typeof m.id === "number") waiting.get(m.id)?.(m);
    else if (m.method) notes.push(m as Note);
  });
  let id = 0;
  const send: Send = (method, params, tasks = true) => {
    const n = ++id;
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method} within 20 s`)), 20_000);
      waiting.set(n, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      proc.stdin!.write(JSON.stringify(body(n, method, params, tasks)) + "\n");
    });
  };
  send.listen = async (filter) => {
    const n = ++id;
    proc.stdin!.write(JSON.stringify(body(n, "subscriptions/listen", { notifications: filter }, true)) + "\n");
    const mine: Note[] = [];
    const timer = setInterval(() => {
      for (const x of notes.splice(0)) if (x.params?._meta?.["io.modelcontextprotocol/subscriptionId"] === n) mine.push(x);
    }, 20);
    return {
      notes: mine,
      close: () => {
        clearInterval(timer);
        proc.stdin!.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: n } }) + "\n");
      },
    };
  };
  return send;
}

async function untilTerminal(send: Send, taskId: string): Promise<Record<string, any>> {
  return waitFor(async () => {
    const r = (await send("tasks/get", { taskId })).result;
    return r && ["completed", "failed", "cancelled"].includes(r.status) ? r : undefined;
  }, `task ${taskId} finished`, 30_000);
}

async function lifecycle(t: TestContext, one: Send, other: Send, stranger: Send, cancelled: Set<string>): Promise<void> {
  await waitFor(async () => ((await one("tools/list", {})).result?.tools as Array<{ name: string }> | undefined)?.some((x) => x.name === "job__run"), "job__run listed", 10_000);

  // Without the extension: a plain call, and the task methods are refused with -32021.
  const plain = (await one("tools/call", { name: "job__run", arguments: { n: 2, label: "plain" } }, false)).result!;
  assert.equal(plain.resultType, "complete");
  assert.equal(plain.taskId, undefined);
  assert.match(JSON.stringify(plain.content), /steps/);
  const gated = await one("tasks/get", { taskId: "x" }, false);
  assert.equal(gated.error?.code, -32021, JSON.stringify(gated));

  // Created on one process, polled to its inlined result on the other.
  let at = performance.now();
  const created = (await one("tools/call", { name: "job__run", arguments: { n: 5, label: "done" } })).result!;
  const createMs = performance.now() - at;
  assert.equal(created.resultType, "task", JSON.stringify(created));
  assert.equal(created.task, undefined, "flat CreateTaskResult");
  assert.ok(Number.isInteger(created.ttlMs) && created.ttlMs > 0);
  assert.ok(Number.isInteger(created.pollIntervalMs) && created.pollIntervalMs > 0);
  assert.ok(!("ttl" in created) && !("pollInterval" in created), "no 2025 field names");
  at = performance.now();
  await other("tasks/get", { taskId: created.taskId });
  const getMs = performance.now() - at;
  const done = await untilTerminal(other, created.taskId);
  assert.equal(done.status, "completed");
  assert.match(JSON.stringify(done.result.content), /"steps\\?":\s*5|steps/);

  // Another identity does not see it.
  const refused = await stranger("tasks/get", { taskId: created.taskId });
  assert.equal(refused.error?.code, -32602, JSON.stringify(refused));

  // Cancelled through the other process: the ack is empty, the node hears cancel.<call_id>.
  const long = (await one("tools/call", { name: "job__run", arguments: { n: 300, label: "long" } })).result!;
  assert.equal(long.status, "working");
  // The other process's listen stream follows it (and the finished one, told at once).
  const listen = await other.listen!({ toolsListChanged: true, taskIds: [long.taskId, created.taskId] });
  t.after(() => listen.close());
  const spy = await stranger.listen!({ taskIds: [long.taskId, created.taskId] });
  t.after(() => spy.close());
  const ackd = await waitFor(() => listen.notes.find((n) => n.method === "notifications/subscriptions/acknowledged"), "listen ack", 10_000);
  assert.deepEqual(ackd.params.notifications, { toolsListChanged: true, taskIds: [long.taskId, created.taskId] });
  const early = await waitFor(() => listen.notes.find((n) => n.method === "notifications/tasks" && n.params.taskId === created.taskId), "finished task told at once", 10_000);
  assert.equal(early.params.status, "completed");
  assert.ok(early.params.result, "a finished task's notification carries its result");
  at = performance.now();
  const ack = await other("tasks/cancel", { taskId: long.taskId });
  assert.deepEqual(Object.keys(ack.result ?? {}).filter((k) => k !== "_meta" && k !== "resultType"), [], JSON.stringify(ack));
  const after = await untilTerminal(one, long.taskId);
  assert.equal(after.status, "cancelled");
  await waitFor(() => cancelled.has("long"), "the node saw the cancel", 10_000);
  const told = await waitFor(() => listen.notes.find((n) => n.method === "notifications/tasks" && n.params.taskId === long.taskId), "the listen stream carried the cancel", 10_000);
  assert.equal(told.params.status, "cancelled");
  t.diagnostic(`create ${createMs.toFixed(1)} ms, tasks/get on the other process ${getMs.toFixed(1)} ms, cancel → notifications/tasks on the listen stream ≤ ${(performance.now() - at).toFixed(0)} ms`);
  listen.close();
  // Another identity's listen (task ids only) is acknowledged and told nothing of them.
  assert.ok(spy.notes.some((n) => n.method === "notifications/subscriptions/acknowledged"), "the stranger's listen is acknowledged");
  assert.deepEqual(spy.notes.filter((n) => n.method === "notifications/tasks"), [], "nothing of another identity's tasks");
  spy.close();
  // Idempotent on a finished task.
  assert.ok((await other("tasks/cancel", { taskId: created.taskId })).result, "cancel of a finished task is acknowledged");
}

test("2026 tasks over HTTP: two processes, one bearer identity", T, async (t) => {
  const { nats, cancelled } = await natsWithJob(t);
  const token = "tasks-2026-token-0123456789";
  const [p1, p2] = await Promise.all([
    startCli(t, ["--nats", nats.url], { MESH_MCP_AUTH_TOKEN: token }),
    startCli(t, ["--nats", nats.url], { MESH_MCP_AUTH_TOKEN: token }),
  ]);
  // Same endpoint, but a different owner: --task-owner-less anonymous is another identity than the token.
  const p3 = await startCli(t, ["--nats", nats.url]);
  await lifecycle(t, httpSender(p1.url, token), httpSender(p2.url, token), httpSender(p3.url), cancelled);
});

test("2026 tasks over stdio: two processes sharing --task-owner; a third process is another identity", T, async (t) => {
  const { nats, cancelled } = await natsWithJob(t);
  const [one, other, stranger] = await Promise.all([
    stdioSender(t, ["--nats", nats.url, "--task-owner", "team-a-secret"]),
    stdioSender(t, ["--nats", nats.url, "--task-owner", "team-a-secret"]),
    stdioSender(t, ["--nats", nats.url]),
  ]);
  await lifecycle(t, one, other, stranger, cancelled);
});
