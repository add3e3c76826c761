/**
 * MCP tasks over Streamable HTTP: several mesh-mcp processes on one NATS (as behind a
 * load balancer), the bearer token as the task identity, clients that go away and
 * come back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema, CreateTaskResultSchema, type CallToolResult, type Task } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, natsWithJob, startCli, waitFor } from "./helpers.js";

const TOKEN = "http-task-token-0123456789";

async function startTask(c: Client, args: Record<string, unknown>): Promise<Task> {
  await waitFor(async () => (await c.listTools()).tools.some((x) => x.name === "job__run"), "job__run listed", 8000);
  return (await c.request({ method: "tools/call", params: { name: "job__run", arguments: args, task: {} } }, CreateTaskResultSchema)).task;
}

async function resultText(c: Client, id: string): Promise<string> {
  const r = (await c.experimental.tasks.getTaskResult(id, CallToolResultSchema)) as CallToolResult;
  assert.ok(!r.isError);
  return (r.content as Array<{ text?: string }>).map((x) => x.text ?? "").join("\n");
}

test("behind a load balancer: a task created through one process is polled through another; the client disconnects mid-job and comes back", async (t) => {
  const { nats } = await natsWithJob(t);
  const [p1, p2] = await Promise.all([
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN]),
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN]),
  ]);
  const first = await connectClient(t, p1.url, TOKEN);
  const task = await startTask(first, { n: 20, everyMs: 150 });
  await first.close(); // the client goes away mid-job (its session ends)

  const again = await connectClient(t, p2.url, TOKEN);
  const mid = await again.experimental.tasks.getTask(task.taskId);
  assert.equal(mid.status, "working");
  const end = await waitFor(async () => {
    const s = await again.experimental.tasks.getTask(task.taskId);
    return s.status === "working" ? undefined : s;
  }, "the task to end", 20_000);
  assert.equal(end.status, "completed");
  assert.match(end.statusMessage ?? "", /20 chunks; last: step 20\/20/);
  assert.match(await resultText(again, task.taskId), /"steps": 20/);
  // The process that started it answers too, to a new session with the same token.
  const back = await connectClient(t, p1.url, TOKEN);
  assert.match(await resultText(back, task.taskId), /"steps": 20/);
  assert.deepEqual((await back.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [task.taskId]);
});

test("another token's process and a token-less session cannot see the task; sessions without a token are their own identity", async (t) => {
  const { nats } = await natsWithJob(t);
  const [mine, theirs, open] = await Promise.all([
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN]),
    startCli(t, ["--nats", nats.url, "--auth-token", "another-token-abcdefghij"]),
    startCli(t, ["--nats", nats.url]),
  ]);
  const owner = await connectClient(t, mine.url, TOKEN);
  const task = await startTask(owner, { n: 3, everyMs: 10 });
  const other = await connectClient(t, theirs.url, "another-token-abcdefghij");
  await assert.rejects(other.experimental.tasks.getTask(task.taskId), /not found/i);
  await assert.rejects(other.experimental.tasks.cancelTask(task.taskId), /not found/i);
  assert.deepEqual((await other.experimental.tasks.listTasks()).tasks, []);

  const s1 = await connectClient(t, open.url);
  const own = await startTask(s1, { n: 2, everyMs: 10 });
  const s2 = await connectClient(t, open.url);
  await assert.rejects(s2.experimental.tasks.getTask(own.taskId), /not found/i);
  assert.equal((await s1.experimental.tasks.getTask(own.taskId)).taskId, own.taskId);
});

test("stateless instances behind a load balancer: each request may hit another process, the task is found by its token", async (t) => {
  const { nats } = await natsWithJob(t);
  const [p1, p2] = await Promise.all([
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, "--stateless"]),
    startCli(t, ["--nats", nats.url, "--auth-token", TOKEN, "--stateless"]),
  ]);
  const c1 = await connectClient(t, p1.url, TOKEN);
  const task = await startTask(c1, { n: 5, everyMs: 50 });
  const c2 = await connectClient(t, p2.url, TOKEN);
  const end = await waitFor(async () => {
    const s = await c2.experimental.tasks.getTask(task.taskId);
    return s.status === "working" ? undefined : s;
  }, "the task to end", 15_000);
  assert.equal(end.status, "completed");
  assert.match(await resultText(c1, task.taskId), /"steps": 5/);
});
