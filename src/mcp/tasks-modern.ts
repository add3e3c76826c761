/**
 * The 2026-07-28 Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) over the
 * mesh's durable TaskStore — the same tasks as the 2025 experimental surface
 * (tasks.ts), read in the extension's wire shapes:
 * - `tools/call` of an eligible method (taskSupportOf: the same rule as 2025) from a
 *   request that declares the extension returns a flat CreateTaskResult
 *   (`resultType: "task"`, `taskId`, `ttlMs`, `pollIntervalMs`, no `task` wrapper);
 * - `tasks/get` answers a DetailedTask: a finished task inlines its `result` (a tool
 *   error is `completed` + `result.isError`), a mesh-level failure is `failed` + `error`;
 * - `tasks/cancel` acks with an empty result (idempotent on finished tasks);
 * - the task methods answer -32021 to a request that did not declare the extension.
 * There is no tasks/list in the extension: a task id is the handle.
 */
import { CLIENT_CAPABILITIES_META_KEY, MissingRequiredClientCapabilityError, ProtocolError, ProtocolErrorCode, type Server } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { JsonObject, MethodEntry, TaskStore, TaskView } from "../mesh/index.js";
import type { Bridge } from "./bridge.js";
import type { Access } from "./policy.js";
import { DEFAULT_TASK_POLL_MS, outcomeResult, startToolTask, statusMessageOf } from "./tasks.js";

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

/** The server capability: an extension entry (no v1-style `capabilities.tasks`). */
export const TASKS_EXTENSION_CAPABILITY = { extensions: { [TASKS_EXTENSION]: {} } } as const;

/** Whether this request's envelope declares the tasks extension (2026: capabilities travel per request). */
export function declaresTasks(envelope: unknown): boolean {
  const e = envelope as Record<string, unknown> | undefined;
  const caps = (e?.[CLIENT_CAPABILITIES_META_KEY] ?? e?.clientCapabilities) as { extensions?: Record<string, unknown> } | undefined;
  const ext = caps?.extensions?.[TASKS_EXTENSION];
  return typeof ext === "object" && ext !== null;
}

const STARTUP_WAIT_MS = 3000;

async function storeOf(bridge: Bridge): Promise<TaskStore> {
  if (!bridge.mesh) await bridge.ready(STARTUP_WAIT_MS);
  if (!bridge.mesh) throw new ProtocolError(ProtocolErrorCode.InternalError, bridge.unavailableReason() ?? "the mesh is not connected yet; retry in a moment");
  try {
    return await bridge.mesh.tasks();
  } catch (err) {
    throw new ProtocolError(ProtocolErrorCode.InternalError, (err as Error).message);
  }
}

function pollMsOf(bridge: Bridge): number {
  return bridge.opts.tasks?.pollMs ?? DEFAULT_TASK_POLL_MS;
}

/** The Task base shape of the extension (integer milliseconds, ISO times). */
export function toModernTask(view: TaskView, pollMs: number): JsonObject {
  const message = statusMessageOf(view);
  return {
    taskId: view.id,
    status: view.status,
    ...(message ? { statusMessage: message } : {}),
    createdAt: new Date(view.createdAt).toISOString(),
    lastUpdatedAt: new Date(view.updatedAt).toISOString(),
    ttlMs: Math.round(view.ttlMs),
    pollIntervalMs: Math.round(pollMs),
  };
}

/** Starts `entry` as a durable task owned by `owner`: the flat CreateTaskResult. */
export async function createModernTask(bridge: Bridge, entry: MethodEntry, args: JsonObject, owner: string, meta?: Record<string, unknown>, access?: Access): Promise<JsonObject> {
  let task;
  try {
    ({ task } = await startToolTask(bridge, entry, args, { owner, meta, access }));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ProtocolError(typeof code === "number" ? code : ProtocolErrorCode.InternalError, (err as Error).message);
  }
  const view = await (await storeOf(bridge)).getTask(task.taskId, owner);
  if (!view) throw new ProtocolError(ProtocolErrorCode.InternalError, `task ${task.taskId} vanished right after it was created`);
  return { resultType: "task", ...toModernTask(view, pollMsOf(bridge)) };
}

/**
 * The DetailedTask of `id` for `owner`: a finished task carries its CallToolResult
 * (the node's error reads as `completed` + `isError`, as a plain call would show it);
 * a task the mesh could not finish (node gone, deadline) is `failed` + `error`.
 */
export async function detailedTask(bridge: Bridge, id: string, owner: string): Promise<JsonObject> {
  const store = await storeOf(bridge);
  const got = await store.taskResult(id, owner);
  if (!got) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Task not found: ${id} (task ids are visible only to the identity that created them)`);
  const { view, outcome } = got;
  const base = toModernTask(view, pollMsOf(bridge));
  if (view.status === "working" || view.status === "cancelled") return base;
  const toolError = outcome !== undefined && !outcome.ok && view.message === outcome.error;
  if (view.status === "failed" && !toolError) {
    return { ...base, status: "failed", error: { code: ProtocolErrorCode.InternalError, message: view.message ?? "the task failed" } };
  }
  if (!outcome) return { ...base, status: "failed", error: { code: ProtocolErrorCode.InternalError, message: `task ${id} ended but its result is no longer kept` } };
  const result = await outcomeResult(view, outcome, { files: bridge.mesh?.files, inlineImageMax: bridge.opts.inlineImageMax ?? 1 << 20, resourceLinks: bridge.opts.resourceLinks });
  return { ...base, status: "completed", result: result as unknown as JsonObject };
}

const TaskIdParams = z.looseObject({ taskId: z.string().min(1) });

/** Registers tasks/get, tasks/cancel and tasks/update on a modern server instance; `ownerOf` names each request's identity. */
export function registerModernTasks(server: Server, bridge: Bridge, ownerOf: (ctx: never) => string): void {
  const gate = (envelope: unknown, method: string) => {
    if (!declaresTasks(envelope)) {
      throw new MissingRequiredClientCapabilityError(
        { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } as never },
        `${method} needs the ${TASKS_EXTENSION} extension: declare it in the request's clientCapabilities.extensions`,
      );
    }
  };
  server.setRequestHandler("tasks/get", { params: TaskIdParams }, async (params, ctx) => {
    gate(ctx.mcpReq.envelope, "tasks/get");
    return (await detailedTask(bridge, params.taskId, ownerOf(ctx as never))) as never;
  });
  server.setRequestHandler("tasks/cancel", { params: TaskIdParams }, async (params, ctx) => {
    gate(ctx.mcpReq.envelope, "tasks/cancel");
    // A finished task stays as it ended: the cancel is acknowledged all the same (idempotent).
    const view = await (await storeOf(bridge)).cancelTask(params.taskId, ownerOf(ctx as never));
    if (!view) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Task not found: ${params.taskId}`);
    return {} as never;
  });
  server.setRequestHandler("tasks/update", { params: TaskIdParams }, async (params, ctx) => {
    gate(ctx.mcpReq.envelope, "tasks/update");
    const view = await (await storeOf(bridge)).getTask(params.taskId, ownerOf(ctx as never));
    if (!view) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Task not found: ${params.taskId}`);
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `task ${params.taskId} never asks for input (mesh tasks have no input_required state)`);
  });
}

/** The owner of tasks created where the transport names no identity (HTTP without a token or --task-owner). */
export const ANONYMOUS_OWNER = "anonymous";

/** Task ids one listen stream may follow. */
export const MAX_LISTEN_TASK_IDS = 256;

/** The task ids a `subscriptions/listen` filter asks to follow, when the request declares the extension. */
export function listenTaskIds(params: unknown): string[] | undefined {
  const p = params as { notifications?: { taskIds?: unknown }; _meta?: unknown } | undefined;
  const ids = p?.notifications?.taskIds;
  if (!Array.isArray(ids) || !declaresTasks(p?._meta)) return undefined;
  return [...new Set(ids.filter((x): x is string => typeof x === "string"))].slice(0, MAX_LISTEN_TASK_IDS);
}

/**
 * Follows `ids` of `owner` (status changes written by any process on the mesh: a KV
 * watch) and hands each change to `send` as the params of `notifications/tasks` (a
 * DetailedTask: a finished task carries its result). A task already finished when the
 * watch starts is told at once. Ids of other identities are never told (nor refused:
 * the stream says nothing about them). Returns the function that stops following.
 */
export async function watchTaskIds(bridge: Bridge, owner: string, ids: string[], send: (params: JsonObject) => void): Promise<() => void> {
  const store = await storeOf(bridge);
  const wanted = new Set(ids);
  const told = new Map<string, string>();
  let stopped = false;
  const tell = (id: string, status: string) => {
    if (stopped || told.get(id) === status) return;
    told.set(id, status);
    void detailedTask(bridge, id, owner).then((d) => {
      if (!stopped) send(d);
    }, () => {});
  };
  const stop = await store.watchTasks(owner, (view) => {
    if (wanted.has(view.id)) tell(view.id, view.status);
  });
  for (const id of ids) {
    void store.getTask(id, owner).then((v) => {
      if (v && v.status !== "working") tell(id, v.status);
    }, () => {});
  }
  return () => {
    stopped = true;
    stop();
  };
}
