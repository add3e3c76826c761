/**
 * MCP tasks end to end over stdio: the built CLI, the SDK client, a real nats-server
 * with JetStream, and a mesh node in the test process. The job keeps running on the
 * node while the mesh-mcp processes come and go.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CallToolResultSchema, CreateTaskResultSchema, type CallToolResult, type Task } from "@modelcontextprotocol/sdk/types.js";
import type { Mesh } from "../../src/mesh/index.js";
import { mcpEnv, SubjectLog, sleep, textOf, waitFor, within, type McpClient } from "../helpers/mcp.js";

const OWNER = ["--task-owner", "stdio-owner-secret-1"];

/** job.run: `n` chunks `everyMs` apart, then {sum}; job.add: a plain method (not a task tool). */
async function registerJob(node: Mesh, seen: { cancelled: number } = { cancelled: 0 }): Promise<void> {
  await node.registerTool({
    name: "job",
    methods: {
      run: {
        stream: true,
        schema: { type: "object", properties: { n: { type: "number" }, everyMs: { type: "number" } }, required: ["n"] },
        handler: async (p, ctx) => {
          const n = p.n as number;
          for (let i = 1; i <= n; i++) {
            if (ctx.signal.aborted) {
              seen.cancelled++;
              throw new Error("context canceled");
            }
            ctx.emit({ progress: i, total: n, message: `step ${i}/${n}` });
            await sleep((p.everyMs as number) ?? 100);
          }
          return { sum: (n * (n + 1)) / 2 };
        },
      },
      add: { schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } }, handler: (p) => (p.a as number) + (p.b as number) },
    },
  });
}

async function startTask(c: McpClient, name: string, args: Record<string, unknown>): Promise<Task> {
  const r = await c.client.request({ method: "tools/call", params: { name, arguments: args, task: { ttl: 600_000 } } }, CreateTaskResultSchema);
  return r.task;
}

const getTask = (c: McpClient, id: string) => c.client.experimental.tasks.getTask(id);

async function untilTerminal(c: McpClient, id: string, timeoutMs: number): Promise<Task> {
  return waitFor(async () => {
    const t = await getTask(c, id);
    return t.status === "working" ? undefined : t;
  }, `task ${id} to end`, { timeoutMs, intervalMs: 250 });
}

test("a 6 s streaming task survives SIGKILL of the mesh-mcp that started it: another process returns the full result and final progress", async (t) => {
  const env = await mcpEnv(t);
  await registerJob(await env.node("n1"));
  const a = await env.client({ args: OWNER });
  const tools = await a.waitForTools(["job__run", "job__add"]);
  assert.equal(tools.find((x) => x.name === "job__run")?.execution?.taskSupport, "optional", "streaming methods may run as tasks");
  assert.equal(tools.find((x) => x.name === "job__add")?.execution, undefined, "plain methods stay plain calls");

  const task = await startTask(a, "job__run", { n: 12, everyMs: 500 });
  assert.equal(task.status, "working");
  assert.match(task.taskId, /^[A-Za-z0-9_-]{22}$/);
  assert.ok(task.pollInterval && task.pollInterval > 0);
  const mid = await waitFor(async () => {
    const s = await getTask(a, task.taskId);
    return /step [2-9]\/12/.test(s.statusMessage ?? "") ? s : undefined;
  }, "progress in tasks/get", { timeoutMs: 8000, intervalMs: 200 });
  assert.equal(mid.status, "working");

  a.proc.kill("SIGKILL");
  await within(a.exited, 5000, "the killed process to exit");

  const b = await env.client({ args: OWNER });
  const end = await untilTerminal(b, task.taskId, 20_000);
  assert.equal(end.status, "completed");
  assert.match(end.statusMessage ?? "", /12 chunks/);
  assert.match(end.statusMessage ?? "", /step 12\/12/);
  const result = (await b.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)) as CallToolResult;
  assert.ok(!result.isError, textOf(result));
  assert.match(textOf(result), /"sum": 78/);
  assert.match(textOf(result), /\(12 progress chunks\)/);

  // Another identity on the same NATS: the id is refused, and its list is empty.
  const c = await env.client({ args: ["--task-owner", "someone-else-entirely"] });
  await assert.rejects(getTask(c, task.taskId), /not found/i);
  await assert.rejects(c.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema), /not found/i);
  assert.deepEqual((await c.client.experimental.tasks.listTasks()).tasks, []);
  // Without --task-owner, a stdio process has its own identity too.
  const d = await env.client();
  await assert.rejects(getTask(d, task.taskId), /not found/i);
});

test("two processes: create on one, list, poll and cancel on the other; the cancel reaches the node as cancel.<call_id>", async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const seen = { cancelled: 0 };
  await registerJob(node, seen);
  const cancels = await SubjectLog.open(node.nc, "cancel.*");
  const [a, b] = await Promise.all([env.client({ args: OWNER }), env.client({ args: OWNER })]);
  await Promise.all([a.waitForTools(["job__run"]), b.waitForTools(["job__run"])]);

  const task = await startTask(a, "job__run", { n: 200, everyMs: 50 });
  const listed = await b.client.experimental.tasks.listTasks();
  assert.deepEqual(listed.tasks.map((x) => x.taskId), [task.taskId]);
  await waitFor(async () => /step \d+\/200/.test((await getTask(b, task.taskId)).statusMessage ?? ""), "b to see progress", { timeoutMs: 8000, intervalMs: 200 });

  const cancelled = await b.client.experimental.tasks.cancelTask(task.taskId);
  assert.equal(cancelled.status, "cancelled");
  await waitFor(() => cancels.messages.length > 0, "a cancel on the mesh");
  assert.match(cancels.subjects[0]!, /^cancel\.[A-Za-z0-9]+$/);
  await waitFor(() => seen.cancelled === 1, "the node's handler to stop");
  assert.equal((await getTask(a, task.taskId)).status, "cancelled", "the starting process agrees");
  const r = (await a.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)) as CallToolResult;
  assert.equal(r.isError, true);
  assert.match(textOf(r), /cancelled/);
  await assert.rejects(b.client.experimental.tasks.cancelTask(task.taskId), /terminal/i, "a finished task cannot be cancelled again");
});

test("clients without tasks keep plain calls with progress; a task for a plain method is refused with what to do", async (t) => {
  const env = await mcpEnv(t);
  await registerJob(await env.node("n1"));
  const a = await env.client({ args: OWNER });
  await a.waitForTools(["job__run", "job__add"]);
  const { result, progress } = await a.callWithProgress("job__run", { n: 5, everyMs: 20 });
  assert.ok(!result.isError, textOf(result));
  assert.match(textOf(result), /"sum": 15/);
  assert.ok(progress.length >= 1);
  await assert.rejects(startTask(a, "job__add", { a: 1, b: 2 }), /does not run as a task.*call it without "task"/);
  await assert.rejects(startTask(a, "job__run", { n: "x" }), /invalid arguments/);
});

test("the client that started a task gets its chunks as progress on the call's token while the starting process lives", async (t) => {
  const env = await mcpEnv(t);
  await registerJob(await env.node("n1"));
  const a = await env.client({ args: OWNER });
  await a.waitForTools(["job__run"]);
  const progress: Array<{ progress: number; message?: string }> = [];
  const { task } = await a.client.request(
    { method: "tools/call", params: { name: "job__run", arguments: { n: 5, everyMs: 100 }, task: {} } },
    CreateTaskResultSchema,
    { onprogress: (p) => progress.push(p) },
  );
  await untilTerminal(a, task.taskId, 10_000);
  await waitFor(() => progress.length >= 3, "progress notifications for the task", { timeoutMs: 5000 });
  assert.ok(progress.some((p) => /step \d\/5/.test(p.message ?? "")), JSON.stringify(progress));
  progress.slice(1).forEach((p, i) => assert.ok(p.progress > progress[i]!.progress, "progress increases"));
});

test("--task-tools makes a plain method a task; the task starter also gets progress and a status notification while it lives", async (t) => {
  const env = await mcpEnv(t);
  await registerJob(await env.node("n1"));
  const a = await env.client({ args: [...OWNER, "--task-tools", "job.add"] });
  const tools = await a.waitForTools(["job__add"]);
  assert.equal(tools.find((x) => x.name === "job__add")?.execution?.taskSupport, "optional");
  const task = await startTask(a, "job__add", { a: 2, b: 40 });
  const end = await untilTerminal(a, task.taskId, 10_000);
  assert.equal(end.status, "completed");
  const r = (await a.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)) as CallToolResult;
  assert.equal(textOf(r), "42");
  await a.waitForNotification("notifications/tasks/status", { match: (n) => n.params?.taskId === task.taskId && n.params?.status === "completed" });
});

test("without JetStream a task request says what to fix, and plain calls still work", async (t) => {
  const env = await mcpEnv(t, { jetstream: false });
  await registerJob(await env.node("n1"));
  const a = await env.client({ args: OWNER });
  await a.waitForTools(["job__run"]);
  await assert.rejects(startTask(a, "job__run", { n: 2, everyMs: 5 }), /durable tasks need JetStream.*-js/);
  const r = await a.call("job__run", { n: 2, everyMs: 5 });
  assert.ok(!r.isError, textOf(r));
});
