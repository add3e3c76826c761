/**
 * Tasks follow the signed-in principal, not the access token: behind a load balancer
 * (two mesh-mcp processes, one NATS, one issuer, one public URL), a task created with
 * one access token is found through the other process with a new token of the same
 * principal (as after a refresh), and not by another principal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema, CreateTaskResultSchema, type CallToolResult, type Task } from "@modelcontextprotocol/sdk/types.js";
import { freePort } from "../helpers/nats-server.js";
import { SCOPE, startIssuer } from "../helpers/oidc.js";
import { connectClient, natsWithJob, startCli, waitFor } from "./helpers.js";

async function startTask(c: Client, args: Record<string, unknown>): Promise<Task> {
  await waitFor(async () => (await c.listTools()).tools.some((x) => x.name === "job__run"), "job__run listed", 8000);
  return (await c.request({ method: "tools/call", params: { name: "job__run", arguments: args, task: {} } }, CreateTaskResultSchema)).task;
}

test("OAuth replicas: a task follows its principal across processes and token refreshes; another principal cannot see it", async (t) => {
  const { nats } = await natsWithJob(t);
  const iss = await startIssuer();
  t.after(() => iss.close());
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const common = ["--nats", nats.url, "--oauth-issuer", iss.issuer, "--public-url", resource, "--oauth-scopes", SCOPE];
  const [a, b] = await Promise.all([startCli(t, [...common, "--port", String(port)]), startCli(t, common)]);

  const first = await iss.clientToken(resource);
  const refreshed = await iss.clientToken(resource);
  assert.notEqual(first, refreshed, "two different access tokens of the same client");
  const owner = await connectClient(t, a.url, first);
  const task = await startTask(owner, { n: 10, everyMs: 100 });
  await owner.close();

  const again = await connectClient(t, b.url, refreshed);
  const end = await waitFor(async () => {
    const s = await again.experimental.tasks.getTask(task.taskId);
    return s.status === "working" ? undefined : s;
  }, "the task to end", 20_000);
  assert.equal(end.status, "completed");
  const r = (await again.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)) as CallToolResult;
  assert.match((r.content as Array<{ text?: string }>).map((x) => x.text ?? "").join("\n"), /"steps": 10/);
  assert.deepEqual((await again.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [task.taskId]);

  const mallory = await connectClient(t, b.url, await iss.sign({ aud: resource, sub: "mallory" }));
  await assert.rejects(mallory.experimental.tasks.getTask(task.taskId), /not found/i);
  await assert.rejects(mallory.experimental.tasks.cancelTask(task.taskId), /not found/i);
  assert.deepEqual((await mallory.experimental.tasks.listTasks()).tasks, []);
});
