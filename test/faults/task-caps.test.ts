/**
 * Tasks no longer escape the caps. A running task counts against its session's
 * --max-inflight (tasks and plain calls together), and an identity runs at most
 * --max-tasks-per-identity tasks at once, over all its sessions. Past either, a new task
 * gets a JSON-RPC error naming the limit and what to do; a task that ends (or is
 * cancelled) frees its place. One session used to start 100 concurrent jobs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CreateTaskResultSchema, type CallToolResult, type Task } from "@modelcontextprotocol/sdk/types.js";
import { textOf } from "../helpers/mcp.js";
import { connectClient, natsWithJob, startCli, waitFor } from "../http/helpers.js";

const TOKEN = "task-caps-token-0123456789";
const LONG = { n: 300, everyMs: 100 }; // 30 s: longer than the test, short enough not to outlive a failed one by much

async function startTask(c: Client, args: Record<string, unknown> = LONG): Promise<Task> {
  return (await c.request({ method: "tools/call", params: { name: "job__run", arguments: args, task: {} } }, CreateTaskResultSchema)).task;
}

/** The refusal of a task start: its JSON-RPC code and message. */
async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: number }).code, message: (err as Error).message };
  }
  return assert.fail("the task was started; it should have been refused");
}

test("one session: running tasks count against --max-inflight; ending one frees its place", { timeout: 60_000 }, async (t) => {
  const { nats } = await natsWithJob(t);
  const cli = await startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, "--max-inflight", "3"]);
  const c = await connectClient(t, cli.url, TOKEN);
  await waitFor(async () => (await c.listTools()).tools.some((x) => x.name === "job__run"), "job__run listed", 8000);

  const started: Task[] = [];
  for (let i = 0; i < 3; i++) started.push(await startTask(c));
  // Concurrent attempts cannot all slip through between check and start.
  const extra = await Promise.all([0, 1, 2, 3, 4].map(() => refusal(startTask(c))));
  for (const r of extra) {
    assert.equal(r.code, -32000, r.message);
    assert.match(r.message, /--max-inflight 3/);
  }
  const plain = (await c.callTool({ name: "job__run", arguments: { n: 1, everyMs: 1 } })) as CallToolResult;
  assert.equal(plain.isError, true, "a plain call is refused too while tasks fill the session");
  assert.match(textOf(plain), /--max-inflight/);

  await c.experimental.tasks.cancelTask(started[0]!.taskId);
  const next = await waitFor(() => startTask(c).catch(() => undefined), "a place freed by the cancel", 10_000);
  assert.equal(next.status, "working");
  for (const task of [...started.slice(1), next]) await c.experimental.tasks.cancelTask(task.taskId).catch(() => {});
});

test("one identity over several sessions: at most --max-tasks-per-identity tasks run", { timeout: 60_000 }, async (t) => {
  const { nats } = await natsWithJob(t);
  const cli = await startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, "--max-tasks-per-identity", "4", "--max-inflight", "100"]);
  const sessions = await Promise.all([0, 1, 2].map(() => connectClient(t, cli.url, TOKEN)));
  await waitFor(async () => (await sessions[0]!.listTools()).tools.some((x) => x.name === "job__run"), "job__run listed", 8000);

  const attempts = await Promise.all(Array.from({ length: 12 }, (_, i) => startTask(sessions[i % 3]!).then((task) => ({ task }), (err: Error & { code: number }) => ({ err }))));
  const ok = attempts.flatMap((a) => ("task" in a ? [a.task] : []));
  const refused = attempts.flatMap((a) => ("err" in a ? [a.err] : []));
  t.diagnostic(`12 concurrent task starts over 3 sessions of one identity: ${ok.length} started, ${refused.length} refused`);
  assert.equal(ok.length, 4, "exactly the cap started");
  for (const err of refused) {
    assert.equal(err.code, -32000, err.message);
    assert.match(err.message, /--max-tasks-per-identity 4/);
  }
  // A short task that ends by itself gives its place back.
  await sessions[0]!.experimental.tasks.cancelTask(ok[0]!.taskId);
  const short = await waitFor(() => startTask(sessions[1]!, { n: 2, everyMs: 10 }).catch(() => undefined), "a place freed", 10_000);
  await waitFor(async () => (await sessions[1]!.experimental.tasks.getTask(short.taskId)).status === "completed", "the short task to complete", 10_000);
  const again = await waitFor(() => startTask(sessions[2]!).catch(() => undefined), "the completed task's place", 10_000);
  for (const task of [...ok.slice(1), again]) await sessions[0]!.experimental.tasks.cancelTask(task.taskId).catch(() => {});
});
