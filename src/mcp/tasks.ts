/**
 * MCP tasks (2025-11-25 experimental shapes) over the mesh's durable TaskStore.
 *
 * Thin on purpose: which calls may become tasks, how a TaskView reads as an MCP
 * `Task`, and how a finished task's outcome reads as a `CallToolResult`. The state
 * lives in NATS (mesh/tasks.ts); an MCP session only binds an owner identity to it.
 * The SDK's Protocol serves tasks/get, tasks/result, tasks/list and tasks/cancel
 * through `SessionTaskStore` (its TaskStore interface); tools/call creates the task.
 */
import type { CallToolResult, Request, RequestId, Result, Task, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { CreateTaskOptions, TaskStore as SdkTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import type { JsonObject, MethodEntry, TaskOutcome, TaskStore, TaskView } from "../mesh/index.js";
import { isFileKeyParam } from "../mesh/params.js";
import { globToRegExp, type Bridge } from "./bridge.js";
import { errorResult, nodeErrorResult, okResult, textOf, type ResultOptions } from "./results.js";
import { callHeaders, prepareCall } from "./tools.js";
import { admitTask, forgetIdle, MAX_TASKS_PER_IDENTITY, tasksOfIdentity, type TaskLimit } from "./task-caps.js";
import type { Access } from "./policy.js";

export const DEFAULT_TASK_POLL_MS = 1000;
/** Tasks per tasks/list page. */
const LIST_PAGE = 50;

/** The tasks capability a server declares when tasks are on. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } } as const;

/** An error the SDK sends as that JSON-RPC error (a plain Error with a code avoids double prefixes). */
function rpcError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The server-side rule: streaming methods, and methods matching `--task-tools`, may
 * run as tasks (`execution.taskSupport: "optional"`); every other tool stays a plain call.
 */
export function taskSupportOf(bridge: Bridge, entry: MethodEntry): "optional" | undefined {
  if (bridge.opts.tasks?.disabled) return undefined;
  if (entry.stream) return "optional";
  const key = `${entry.tool}.${entry.method}`;
  return (bridge.opts.tasks?.tools ?? []).some((g) => globToRegExp(g).test(key)) ? "optional" : undefined;
}

/** Progress text of a task: what its latest chunk says, else a count. */
export function statusMessageOf(view: TaskView): string | undefined {
  if (view.status === "failed" || view.status === "cancelled") return view.message;
  const c = view.lastChunk;
  const said = typeof c === "string" ? c : typeof c === "object" && c !== null && typeof (c as { message?: unknown }).message === "string" ? (c as { message: string }).message : undefined;
  const count = view.stream ? `${view.chunks} chunk${view.chunks === 1 ? "" : "s"}` : undefined;
  if (view.status === "completed") return [`completed on node ${view.node}`, count, said && `last: ${said}`].filter(Boolean).join("; ");
  return [said ?? (view.stream ? undefined : `running on node ${view.node}`), count].filter(Boolean).join(" · ") || `running on node ${view.node}`;
}

export function toMcpTask(view: TaskView, pollMs: number): Task {
  return {
    taskId: view.id,
    status: view.status,
    ttl: view.ttlMs,
    createdAt: new Date(view.createdAt).toISOString(),
    lastUpdatedAt: new Date(view.updatedAt).toISOString(),
    pollInterval: pollMs,
    statusMessage: statusMessageOf(view),
  };
}

/** A finished task's CallToolResult: the same reading as a plain call of the method. */
export async function outcomeResult(view: TaskView, outcome: TaskOutcome, opts: ResultOptions): Promise<CallToolResult> {
  const key = `${view.tool}.${view.method}`;
  if (view.status === "cancelled") return errorResult(`${key}: the task was cancelled`);
  if (!outcome.ok) {
    return view.status === "failed" && view.message !== outcome.error ? errorResult(`${key}: ${view.message}`) : nodeErrorResult(outcome.error, outcome.node, key);
  }
  if (outcome.result === undefined || outcome.result === null) {
    return view.stream ? okResult({ chunks: outcome.chunks }, opts) : okResult(outcome.result ?? null, opts);
  }
  const out = await okResult(outcome.result, opts);
  if (outcome.chunks.length > 0) {
    const kept = outcome.chunks;
    out.content.push({ type: "text", text: `(${kept.length} progress chunks)\n${textOf(kept.length > 20 ? [...kept.slice(0, 20), `… ${kept.length - 20} more`] : kept)}` });
  }
  return out;
}

export interface TaskCallContext {
  owner: string;
  meta?: Record<string, unknown>;
  /** Forwards a chunk's progress to the client while this session lives. */
  onChunk?: (chunk: unknown, count: number) => void;
  /** Told once when the task ends while this session lives. */
  onEnd?: (view: TaskView) => void;
  /** Bounds besides the identity's (the session's --max-inflight, task-caps.ts). */
  limits?: TaskLimit[];
  /** The caller under the policy: its identity goes with the task's request as headers. */
  access?: Access;
}

/** Starts `entry` as a durable task; throws a JSON-RPC error for bad input or a mesh without JetStream. */
export async function startToolTask(bridge: Bridge, entry: MethodEntry, args: JsonObject, ctx: TaskCallContext): Promise<{ task: Task }> {
  const key = `${entry.tool}.${entry.method}`;
  const why = bridge.unavailableReason();
  if (why) throw rpcError(-32603, `${key}: ${why}`);
  const prepared = prepareCall(bridge, entry, args, ctx.meta, true);
  if ("problem" in prepared) throw rpcError(-32602, prepared.problem);
  const store = await tasksOf(bridge);
  // As for plain calls: Go nodes resolve file-store keys for request/reply only, so a
  // streaming method given file inputs runs as request/reply (no chunks then).
  const params = prepared.params;
  const stream = entry.stream && !Object.keys(params).some((k) => isFileKeyParam(k, params[k]));
  const max = bridge.opts.tasks?.maxPerIdentity ?? MAX_TASKS_PER_IDENTITY;
  const mine = tasksOfIdentity(ctx.owner);
  const limits: TaskLimit[] = [
    { running: mine, max, refusal: `${key}: ${max} tasks of this identity are running (--max-tasks-per-identity ${max}); wait for one to end (tasks/get, tasks/result) or cancel one (tasks/cancel), then retry` },
    ...(ctx.limits ?? []),
  ];
  await admitTask(store, limits);
  let view: TaskView;
  try {
    view = await store.startTask({
      tool: entry.tool, method: entry.method, params, node: prepared.node ?? "",
      stream, owner: ctx.owner, maxRunMs: bridge.opts.callTimeoutMs ?? 3_600_000,
      headers: callHeaders({ meta: ctx.meta, access: ctx.access }),
    });
  } catch (err) {
    for (const l of limits) l.running.settle(undefined);
    throw err;
  }
  for (const l of limits) l.running.settle(view.id);
  // Followed to its end here (whoever else watches): its places are given back then.
  let count = 0;
  const drop = store.onChange((id, chunk) => {
    if (id !== view.id) return;
    if (chunk !== undefined) return ctx.onChunk?.(chunk, ++count);
    void store.getTask(id, ctx.owner).then((v) => {
      if (v && v.status !== "working") {
        drop();
        for (const l of limits) l.running.delete(id);
        forgetIdle(ctx.owner);
        ctx.onEnd?.(v);
      }
    }, () => {});
  });
  return { task: toMcpTask(view, pollMsOf(bridge)) };
}

function pollMsOf(bridge: Bridge): number {
  return bridge.opts.tasks?.pollMs ?? DEFAULT_TASK_POLL_MS;
}

/** Right after start-up the mesh may still be connecting: tasks/get waits a little, like tools/list. */
const STARTUP_WAIT_MS = 3000;

async function tasksOf(bridge: Bridge): Promise<TaskStore> {
  if (!bridge.mesh) await bridge.ready(STARTUP_WAIT_MS);
  if (!bridge.mesh) throw rpcError(-32603, bridge.unavailableReason() ?? "the mesh is not connected yet; retry in a moment");
  try {
    return await bridge.mesh.tasks();
  } catch (err) {
    throw rpcError(-32603, (err as Error).message);
  }
}

/**
 * The SDK's TaskStore for one MCP session, bound to its owner identity (the SDK's
 * sessionId argument is ignored: identity decides, so a client that reconnects, or
 * comes through another mesh-mcp process, finds its tasks again).
 */
export class SessionTaskStore implements SdkTaskStore {
  constructor(private readonly bridge: Bridge, private readonly owner: string) {}

  async createTask(_p: CreateTaskOptions, _id: RequestId, request: Request): Promise<Task> {
    throw rpcError(-32601, `${request.method} cannot run as a task here; only tools/call can`);
  }

  async getTask(taskId: string): Promise<Task | null> {
    const view = await (await tasksOf(this.bridge)).getTask(taskId, this.owner);
    return view ? toMcpTask(view, pollMsOf(this.bridge)) : null;
  }

  async storeTaskResult(): Promise<void> {
    // Results are the mesh's captured replies; nothing is stored from here.
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const r = await (await tasksOf(this.bridge)).taskResult(taskId, this.owner);
    if (!r) throw rpcError(-32602, `Task not found: ${taskId}`);
    if (!r.outcome) throw rpcError(-32603, `task ${taskId} is still ${r.view.status}`);
    return outcomeResult(r.view, r.outcome, { files: this.bridge.mesh?.files, inlineImageMax: this.bridge.opts.inlineImageMax ?? 1 << 20, resourceLinks: this.bridge.opts.resourceLinks });
  }

  async updateTaskStatus(taskId: string, status: Task["status"]): Promise<void> {
    if (status !== "cancelled") return;
    const v = await (await tasksOf(this.bridge)).cancelTask(taskId, this.owner);
    if (!v) throw rpcError(-32602, `Task not found: ${taskId}`);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const offset = cursor === undefined ? 0 : Number.parseInt(Buffer.from(cursor, "base64url").toString(), 10);
    if (!Number.isSafeInteger(offset) || offset < 0) throw rpcError(-32602, "invalid cursor: pass the nextCursor of the previous tasks/list, or none");
    const page = await (await tasksOf(this.bridge)).listTasks(this.owner, { offset, limit: LIST_PAGE });
    return {
      tasks: page.tasks.map((v) => toMcpTask(v, pollMsOf(this.bridge))),
      nextCursor: page.next === undefined ? undefined : Buffer.from(String(page.next)).toString("base64url"),
    };
  }
}

/** Adds `execution.taskSupport` to a tool the rule selects. */
export function withTaskSupport(tool: Tool, support: "optional" | undefined): Tool {
  return support ? { ...tool, execution: { ...(tool.execution ?? {}), taskSupport: support } } : tool;
}
