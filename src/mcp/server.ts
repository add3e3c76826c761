/**
 * One MCP server session over the shared bridge: `createServer(bridge)` →
 * `{ server, close }`. Called once for stdio, once per session over HTTP.
 * Uses the SDK's low-level Server so raw JSON Schema passes through untouched.
 */
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv-provider.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  EmptyResultSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type CreateTaskResult,
  type LoggingLevel,
  type ServerNotification,
} from "@modelcontextprotocol/sdk/types.js";
import type { MethodEntry } from "../mesh/index.js";
import type { Bridge } from "./bridge.js";
import { builtinsFor, type BuiltinContext } from "./builtins.js";
import type { Level } from "./log.js";
import { rootsToDirs } from "./paths.js";
import { complete, InvalidCursorError, listResources, readResource, ResourceError, TEMPLATES } from "./resources.js";
import { errorResult, fileUri, keyFromUri } from "./results.js";
import { answerBadParamsAsInvalidParams } from "./rpc-errors.js";
import { callMeshTool, findTool, progressOf, ToolList } from "./tools.js";
import { discoveryCall, listedMeshTools, listing } from "./discovery.js";
import { DEFAULT_TASK_POLL_MS, SessionTaskStore, startToolTask, taskSupportOf, TASKS_CAPABILITY, toMcpTask, withTaskSupport } from "./tasks.js";
import type { Principal } from "./principal.js";
import { callerName } from "./calls.js";
import { tracer, type RequestSpan } from "./otel.js";
import { requestSpanOf, traceRequests } from "./otel-requests.js";
import { RunningTasks } from "./task-caps.js";
import { cancelAcrossReplicas, cancelIdentity, remotelyCancellable } from "./request-cancel.js";
import { accessFor, builtinsAllowed, canReadFile, taskOwnerOf } from "./authorize.js";

// Transports write messages with it (cached tools/list JSON); they reach src/mcp through this file.
export { stringifyMessage, stringifyMessageParts } from "./serialized.js";
/** The task owner of a principal (transports: task listens follow the principal's tasks). */
export { taskOwnerOf as principalTaskOwner } from "./authorize.js";

export const SERVER_NAME = "mesh-mcp";
export const SERVER_VERSION = "0.1.0";
/** What both revisions' servers call themselves, and the capabilities they share. */
export const SERVER_INFO = { name: SERVER_NAME, version: SERVER_VERSION, title: "jb-mesh tools" } as const;
export const SHARED_CAPABILITIES = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
} as const;
export const INSTRUCTIONS =
  "Tools named <tool>__<method> are methods of a jb-mesh tool mesh. " +
  "Pass files to tools as file-store keys: upload local files with mesh_upload_file, read results via mesh://files/<key> resources. " +
  "Read mesh://nodes to see which node offers what; to pin a call to one node pass _meta \"mesh-mcp/node\" (or the _node argument). " +
  "When the list shows mesh_search_tools instead of the methods, find methods with it, read one with mesh_get_tool and run it with mesh_call_tool.";

// For the transports (they reach src/mcp through this module): writing deferred blobs.
export { deferredParts, partsByteLength, partsText } from "./deferred-blobs.js";

export interface SessionOptions {
  /** Concurrent tool calls this session may run (HTTP); more get an isError result. */
  maxInflight?: number;
  /**
   * Before the result of a call that streamed progress, ping the client so that the
   * result cannot overtake the progress (see CallContext.flushProgress). Only for
   * transports where the client's answer reaches this server (stdio, stateful HTTP);
   * not stateless HTTP, where the ping would go unanswered until its timeout.
   */
  progressBarrier?: boolean;
  /**
   * Whose tasks this session sees (stored hashed in NATS): the bearer token over
   * HTTP, else the configured owner, else something unique to this session.
   */
  taskOwner?: string;
  /**
   * Who this session's requests come from, as the transport authenticated them (one
   * principal per 2025 session; stateless HTTP builds a session per request). Undefined:
   * the transport knows no identity.
   */
  principal?: Principal;
  /**
   * The client shares this machine (stdio): its MCP roots may widen what the upload
   * tool reads. Off (HTTP) only --allow-dir counts (builtins.ts).
   */
  localClient?: boolean;
  /**
   * Each request meets its own server (stateless HTTP, maybe on another replica): a
   * client's `notifications/cancelled` travels over the mesh to the call (request-cancel.ts).
   */
  stateless?: boolean;
  /** Most bytes one message to this client may carry (stdio: STDIO_MESSAGE_MAX); bigger resource reads are refused, saying how to get the file. */
  messageMax?: number;
  /** Large resource blobs as stand-ins the transport encodes while writing (deferred-blobs.ts; HTTP). */
  deferLargeBlobs?: boolean;
}

export { STDIO_MESSAGE_MAX } from "./message-max.js";

const PROGRESS_BARRIER_TIMEOUT_MS = 2000;

/**
 * While tracing, a call without `_meta.traceparent` is parented on the HTTP request's
 * `traceparent` header (read only then: building requestInfo costs a little).
 */
function withHeaderTrace(meta: Record<string, unknown> | undefined, headers: (() => unknown) | Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!tracer || typeof meta?.traceparent === "string" || !headers) return meta;
  const h = (typeof headers === "function" ? headers() : headers) as Record<string, unknown> | undefined;
  const parent = h?.traceparent;
  if (typeof parent !== "string") return meta;
  return { ...meta, traceparent: parent, ...(typeof h?.tracestate === "string" ? { tracestate: h.tracestate } : {}) };
}

export interface Session {
  server: Server;
  /** Number of tool calls in flight in this session. */
  inflight(): number;
  /**
   * The stdio fast path: a plain `tools/call` of a mesh tool (its `params`), run for this
   * session without the SDK's request dispatch and zod passes; the caller answers with
   * what it resolves to, exactly as the SDK would. Undefined for anything the SDK handler
   * treats otherwise — built-ins, tasks, unknown names, a mesh not ready, any params
   * shape it should check — which then goes to the SDK.
   */
  plainCall(params: unknown, abort: AbortController, notify: (n: ServerNotification) => Promise<void>, requestId?: string | number): Promise<CallToolResult> | undefined;
  close(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const PLAIN_CALL_KEYS = new Set(["name", "arguments", "_meta"]);

/**
 * Params the SDK's CallToolRequestSchema takes as they are (nothing stripped or
 * coerced) and our handler answers as a plain call: no `task`, no related-task
 * `_meta`, a progress token of the schema's types.
 */
function isPlainCall(p: unknown): p is { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> } {
  if (!isObject(p) || typeof p.name !== "string") return false;
  for (const key in p) if (!PLAIN_CALL_KEYS.has(key)) return false;
  if (p.arguments !== undefined && !isObject(p.arguments)) return false;
  const meta = p._meta;
  if (meta === undefined) return true;
  if (!isObject(meta) || "io.modelcontextprotocol/related-task" in meta) return false;
  return meta.progressToken === undefined || typeof meta.progressToken === "string" || Number.isSafeInteger(meta.progressToken);
}

/** A tool list's identity for "did this principal's view change": names and schemas. */
function toolKeys(list: readonly { name: string; inputSchema: unknown }[]): string {
  return JSON.stringify(list.map((t) => [t.name, t.inputSchema]));
}

const MCP_LEVELS: LoggingLevel[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

function rank(l: LoggingLevel | Level): number {
  return MCP_LEVELS.indexOf(l as LoggingLevel);
}

function resourceError(err: unknown): Error {
  // A plain Error with a numeric code reaches the client as that JSON-RPC error, without double prefixes.
  const e = new Error(err instanceof Error ? err.message : String(err)) as Error & { code: number };
  e.code = err instanceof InvalidCursorError ? -32602 : err instanceof ResourceError ? -32002 : -32603;
  return e;
}

/** The SDK's default validator, built on this session's first use (as the SDK would, one per Server). */
function lazyValidator(): jsonSchemaValidator {
  let v: AjvJsonSchemaValidator | undefined;
  return { getValidator: (schema) => (v ??= new AjvJsonSchemaValidator()).getValidator(schema) };
}

export function createServer(bridge: Bridge, opts: SessionOptions = {}): Session {
  const tasksOn = !bridge.opts.tasks?.disabled;
  // The policy's view of this session's principal: decided once, at the shared paths below.
  const access = accessFor(bridge, opts.principal);
  // The edge's owner first (it may keep a legacy one), else a known principal owns its tasks
  // by id (they follow it to other replicas and sessions).
  const taskOwner = opts.taskOwner ?? taskOwnerOf(opts.principal) ?? bridge.opts.tasks?.owner ?? `session:${randomUUID()}`;
  const taskSupport = (entry: MethodEntry) => (access.can("task.create", `${entry.tool}.${entry.method}`) ? taskSupportOf(bridge, entry) : undefined);
  const server = new Server(
    { ...SERVER_INFO },
    {
      capabilities: {
        ...SHARED_CAPABILITIES,
        logging: {},
        ...(tasksOn ? { tasks: TASKS_CAPABILITY } : {}),
      },
      ...(tasksOn ? { taskStore: new SessionTaskStore(bridge, taskOwner), defaultTaskPollInterval: bridge.opts.tasks?.pollMs ?? DEFAULT_TASK_POLL_MS } : {}),
      instructions: INSTRUCTIONS,
      // The SDK builds an Ajv (with every format) per Server for elicitation answers; most sessions never elicit.
      jsonSchemaValidator: lazyValidator(),
    },
  );
  const tools = new ToolList(bridge, tasksOn ? (tool, entry) => withTaskSupport(tool, taskSupport(entry)) : undefined);
  const builtins = builtinsAllowed(access, builtinsFor(bridge.opts.admin ?? false));
  const subscriptions = new Set<string>();
  let inflight = 0;
  const sessionTasks = new RunningTasks(taskOwner);
  let logLevel: LoggingLevel | undefined;
  let roots: string[] | undefined;
  let listChangedTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // Nothing is sent before the client finished initializing (spec: after `initialized`).
  let initialized = false;
  server.oninitialized = () => {
    initialized = true;
  };
  const quiet = () => closed || !initialized;
  // Which log records concern this session: its HTTP session id, else an id of its own.
  const ownId = randomUUID();
  const sessionId = () => server.transport?.sessionId ?? ownId;

  const safe = (p: Promise<unknown>) => void p.catch(() => {});

  // ---- tools ----
  // Right after start-up the mesh may still be connecting: wait a little for the first
  // catalog rather than answer with no tools (clients that ignore list_changed would keep that).
  const STARTUP_WAIT_MS = 3000;
  const settled = async () => {
    if (!bridge.catalog) await bridge.ready(STARTUP_WAIT_MS);
  };
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    await settled();
    return { tools: listing(builtins.map((b) => b.tool), listedMeshTools(bridge, tools, access)) };
  });

  const builtinCtx: BuiltinContext = {
    bridge,
    localClient: opts.localClient === true,
    access,
    roots: async () => {
      if (roots) return roots;
      if (!server.getClientCapabilities()?.roots) return [];
      try {
        roots = rootsToDirs((await server.listRoots(undefined, { timeout: 5000 })).roots.map((r) => r.uri));
        return roots;
      } catch {
        return []; // not cached: ask again on the next upload
      }
    },
  };

  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult | CreateTaskResult> => {
    let { name } = req.params;
    let args = (req.params.arguments ?? {}) as Record<string, unknown>;
    await settled();
    // Discovery's meta-tools: search/get answer here; a mesh_call_tool goes on as the call it stands for.
    const discovered = discoveryCall(bridge, tools, name, args, access);
    if (discovered && "result" in discovered) return discovered.result;
    if (discovered) ({ name, args } = discovered.call);
    const { builtin, entry, missing } = findTool(bridge, builtins, name, access);
    if (missing) return missing;
    if (req.params.task) {
      // A task-augmented call: the job runs durably on the mesh; this returns its handle at once.
      if (!tasksOn || !entry || !taskSupport(entry)) {
        throw Object.assign(new Error(`${name} does not run as a task (its execution.taskSupport is forbidden); call it without "task"`), { code: -32601 });
      }
      const progressToken = req.params._meta?.progressToken;
      let last = 0;
      return startToolTask(bridge, entry, args, {
        owner: taskOwner,
        access,
        meta: req.params._meta as Record<string, unknown> | undefined,
        // A running task is a call of this session: it counts against --max-inflight.
        limits: opts.maxInflight === undefined ? [] : [{
          running: sessionTasks, max: opts.maxInflight, others: () => inflight,
          refusal: `${name}: this session has ${opts.maxInflight} calls and tasks running (--max-inflight ${opts.maxInflight}); wait for one to end or cancel a task (tasks/cancel), then retry`,
        }],
        onChunk: progressToken === undefined ? undefined : (chunk, count) => {
          if (closed) return;
          const p = progressOf(chunk);
          // progress must increase: the chunk's own figure when it does, else the chunk count.
          last = p.progress !== undefined && p.progress > last ? p.progress : Math.max(count, last + 1);
          safe(extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: last, total: p.total, message: p.message } }));
        },
        onEnd: (view) => {
          if (!closed) safe(server.notification({ method: "notifications/tasks/status", params: toMcpTask(view, bridge.opts.tasks?.pollMs ?? DEFAULT_TASK_POLL_MS) }));
        },
      });
    }
    if (opts.maxInflight !== undefined && inflight + sessionTasks.size >= opts.maxInflight) {
      // Running tasks count too; one that ended unseen frees its place on a re-check.
      if (sessionTasks.size > 0 && bridge.mesh) await sessionTasks.recount(await bridge.mesh.tasks()).catch(() => 0);
      if (inflight + sessionTasks.size >= opts.maxInflight) {
        return errorResult(`too many concurrent calls and tasks in this session (limit ${opts.maxInflight}, --max-inflight); wait for one to finish and retry.`);
      }
    }
    inflight++;
    try {
      if (builtin) {
        const t0 = performance.now();
        const result = await builtin.run(args, builtinCtx);
        const ms = Math.round(performance.now() - t0);
        bridge.auditBuiltin(name, !result.isError, ms, { principal: access.principal, roles: access.roles, client: server.getClientVersion(), error: result.isError ? (result.content[0] as { text?: string } | undefined)?.text : undefined });
        bridge.log.log(result.isError ? "info" : "debug", `call ${name}: ${result.isError ? "error" : "ok"} in ${ms} ms`, {
          session: sessionId(), tool: name, outcome: result.isError ? "error" : "ok", ms,
        });
        return result;
      }
      const remote = opts.stateless ? remotelyCancellable(bridge, cancelId, extra.requestId, extra.signal) : undefined;
      try {
        return await meshCall(entry!, args, withHeaderTrace(req.params._meta, extra.requestInfo?.headers), remote?.abort ?? extra.signal, (n) => extra.sendNotification(n), () => extra.sendRequest({ method: "ping" }, EmptyResultSchema, { timeout: PROGRESS_BARRIER_TIMEOUT_MS }), requestSpanOf(extra));
      } finally {
        remote?.done();
      }
    } finally {
      inflight--;
    }
  });

  /** A mesh method called for this session: progress as notifications, the barrier ping when asked. */
  const meshCall = (
    // `cancel`: the SDK's signal, or the fast path's own controller (then no second one is made).
    entry: MethodEntry, args: Record<string, unknown>, meta: Record<string, unknown> | undefined, cancel: AbortSignal | AbortController,
    notify: (n: ServerNotification) => Promise<void>, ping: () => Promise<unknown>, span?: RequestSpan,
  ): Promise<CallToolResult> => {
    const progressToken = meta?.progressToken as string | number | undefined;
    return callMeshTool(bridge, entry, args, {
      session: sessionId(),
      access,
      client: server.getClientVersion(),
      caller: callerName(opts.principal, server.getClientVersion()),
      ...(cancel instanceof AbortController ? { signal: cancel.signal, abort: (reason) => cancel.abort(reason) } : { signal: cancel }),
      progressToken,
      meta,
      span,
      sendProgress: (progress, total, message) =>
        progressToken === undefined ? Promise.resolve() : notify({ method: "notifications/progress", params: { progressToken, progress, total, message } }),
      flushProgress: opts.progressBarrier ? () => ping().then(() => undefined, () => undefined) : undefined,
    });
  };

  // ---- resources (like tools, they wait a little for the mesh right after start-up) ----
  server.setRequestHandler(ListResourcesRequestSchema, async (req) => {
    await settled();
    try {
      return await listResources(bridge, req.params?.cursor, access);
    } catch (err) {
      throw resourceError(err);
    }
  });
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: TEMPLATES }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    await settled();
    try {
      return await readResource(bridge, req.params.uri, access, opts.messageMax, opts.deferLargeBlobs);
    } catch (err) {
      throw resourceError(err);
    }
  });
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const key = keyFromUri(req.params.uri);
    if (key !== undefined && !canReadFile(access, key)) {
      throw Object.assign(new Error(`cannot subscribe to ${req.params.uri}: it is outside the file-store prefixes you may read`), { code: -32602 });
    }
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });
  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const ref = req.params.ref;
    await settled();
    const values = ref.type === "ref/resource" ? await complete(bridge, ref.uri, req.params.argument.name, req.params.argument.value, access) : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });

  // ---- logging: forwarded only once the client chose a level ----
  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    logLevel = req.params.level;
    return {};
  });
  const wantsLevel = (level: Level) => !quiet() && logLevel !== undefined && rank(level) >= rank(logLevel);
  const dropSink = bridge.log.addSink((level, message, fields) => {
    // Another session's record (its calls, its id) never reaches this client.
    if (fields.session !== undefined && fields.session !== sessionId()) return;
    safe(server.sendLoggingMessage({ level, logger: SERVER_NAME, data: message }));
  }, wantsLevel);

  server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
    roots = undefined;
  });
  answerBadParamsAsInvalidParams(server);
  traceRequests(server); // a span per request while tracing (after every setRequestHandler)
  const cancelId = cancelIdentity(bridge, opts.principal, opts.taskOwner);
  if (opts.stateless) cancelAcrossReplicas(server, bridge, cancelId);

  // ---- change notifications from the shared bridge ----
  // list_changed only when this principal's view changed (a policy hides what it may not call).
  let seenTools = access.unrestricted ? undefined : toolKeys(tools.meshTools(access));
  const dropTools = bridge.onToolsChanged(() => {
    if (!access.unrestricted) {
      const now = toolKeys(tools.meshTools(access));
      if (now === seenTools) return;
      seenTools = now;
    }
    if (!quiet()) safe(server.sendToolListChanged());
  });
  const dropFiles = bridge.onFileEvent((ev) => {
    if (quiet() || !canReadFile(access, ev.key)) return;
    const uri = fileUri(ev.key);
    if (subscriptions.has(uri)) safe(server.sendResourceUpdated({ uri }));
    clearTimeout(listChangedTimer);
    listChangedTimer = setTimeout(() => safe(server.sendResourceListChanged()), 200);
  });

  return {
    server,
    inflight: () => inflight,
    plainCall(params, abort, notify, requestId) {
      if (!isPlainCall(params) || opts.maxInflight !== undefined || !bridge.catalog) return undefined;
      const { name, arguments: args, _meta: meta } = params;
      const { entry } = findTool(bridge, builtins, name, access);
      if (!entry) return undefined;
      inflight++;
      // Stateless (the HTTP lean path): a cancel arriving at any replica reaches this call, as on the SDK path.
      const remote = opts.stateless && requestId !== undefined ? remotelyCancellable(bridge, cancelId, requestId, abort.signal) : undefined;
      return meshCall(entry, args ?? {}, meta, remote?.abort ?? abort, notify, () => server.request({ method: "ping" }, EmptyResultSchema, { timeout: PROGRESS_BARRIER_TIMEOUT_MS }))
        .finally(() => {
          remote?.done();
          inflight--;
        });
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(listChangedTimer);
      dropSink();
      dropTools();
      dropFiles();
      await server.close().catch(() => {});
    },
  };
}
