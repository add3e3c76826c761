/**
 * The 2026-07-28 face of the server: `createModernServer(bridge)` → a v2 SDK `Server`
 * bound to the modern revision by its serving entry (`createMcpHandler` per HTTP
 * request, `serveStdio` per connection). It serves the same tools, resources and
 * calls as server.ts through the same code (tools.ts, resources.ts, builtins.ts);
 * only how a request arrives and how notifications leave differ, and the transports
 * decide which face a request meets. Cheap to build: a 2026 HTTP request builds one.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, inputRequired, inputResponse, ProtocolError, ProtocolErrorCode, ResourceNotFoundError, Server, type CallToolResult, type CacheHint, type Tool } from "@modelcontextprotocol/server";
import type { Bridge } from "./bridge.js";
import type { MethodEntry } from "../mesh/index.js";
import { methodsFor } from "./authorize.js";
import { builtinsFor, type BuiltinContext } from "./builtins.js";
import { complete, InvalidCursorError, listResources, readResource, ResourceError, TEMPLATES } from "./resources.js";
import { isInside, rootsToDirs } from "./paths.js";
import { fileUri, keyFromUri } from "./results.js";
import { INSTRUCTIONS, SERVER_INFO, SHARED_CAPABILITIES } from "./server.js";
import { callMeshTool, findTool, ToolList, type CallContext } from "./tools.js";
import { discoveryCall, listedMeshTools, listing } from "./discovery.js";
import { taskSupportOf, withTaskSupport } from "./tasks.js";
import { callerName } from "./calls.js";
import { requestSpanOf, traceRequests } from "./otel-requests.js";
import { ANONYMOUS_OWNER, createModernTask, declaresTasks, registerModernTasks, TASKS_EXTENSION_CAPABILITY } from "./tasks-modern.js";
import { EVENTS_EXTENSION_CAPABILITY, eventCaller, registerModernEvents } from "./events.js";
import { startEventDelivery } from "./events-webhooks.js";
import { accessFor, builtinsAllowed, taskOwnerOf } from "./authorize.js";
import type { Access } from "./policy.js";
import { PRINCIPAL_AUTH_KEY, type Principal } from "./principal.js";

/** The authInfo.extra key under which the HTTP edge names a request's task owner. */
export const TASK_OWNER_AUTH_KEY = "meshTaskOwner";

export interface ModernOptions {
  /**
   * Send list_changed / resource updates from this instance (stdio: the serving entry
   * routes them onto the open `subscriptions/listen` streams). Per-request HTTP
   * instances leave this off: the HTTP edge publishes changes once, on its bus.
   */
  pushChanges?: boolean;
  /**
   * Whose tasks this instance serves: the bearer identity over HTTP, the process over
   * stdio, or --task-owner. Without one (HTTP without a token) tasks share an
   * anonymous owner: the unguessable task id is then the only handle.
   */
  taskOwner?: string;
  /** The client shares this machine (stdio): its roots count for uploads (SessionOptions.localClient). */
  localClient?: boolean;
  /** Most bytes one message may carry (stdio: STDIO_MESSAGE_MAX; SessionOptions.messageMax). */
  messageMax?: number;
  /** Who this instance's requests come from when a request names none (stdio: the local or --principal user). */
  principal?: Principal;
}

/** The principal the HTTP edge put on a 2026 request (authInfo.extra), else `fallback`. */
export function principalOfRequest(ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } } }, fallback?: Principal): Principal | undefined {
  const p = ctx.http?.authInfo?.extra?.[PRINCIPAL_AUTH_KEY] as Principal | undefined;
  return p && typeof p === "object" && typeof p.id === "string" ? p : fallback;
}

/** A 2026 answer filtered for one principal must not be reused for another (SEP cache hints). */
function scoped<T extends CacheHint>(hint: T, access: Access): T {
  return access.unrestricted ? hint : { ...hint, cacheScope: "private" };
}

/** The client's name and version from a 2026 request's envelope (audit). */
function clientOf(envelope: unknown): { name?: string; version?: string } | undefined {
  const info = (envelope as Record<string, unknown> | undefined)?.[CLIENT_INFO_META_KEY] as { name?: unknown; version?: unknown } | undefined;
  if (!info || typeof info !== "object") return undefined;
  return { name: typeof info.name === "string" ? info.name : undefined, version: typeof info.version === "string" ? info.version : undefined };
}

/** Fixed surfaces (templates, server/discover) change only with a new mesh-mcp version. */
const STATIC_HINT: CacheHint = { ttlMs: 3_600_000, cacheScope: "public" };
/** The file store changes at any moment (the watch tells listeners): do not reuse. */
const NO_REUSE: CacheHint = { ttlMs: 0, cacheScope: "public" };

const STARTUP_WAIT_MS = 3000;
const UPLOAD_TOOL = "mesh_upload_file";
const ROOTS_KEY = "roots";

/** Who sent a 2026 request: the principal the HTTP edge put in authInfo, else the envelope's clientInfo. */
export function modernCaller(ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } }; mcpReq?: { envelope?: unknown } }): string | undefined {
  const principal = ctx.http?.authInfo?.extra?.[PRINCIPAL_AUTH_KEY] as Principal | undefined;
  const envelope = (ctx.mcpReq?.envelope ?? (ctx.mcpReq as { _meta?: unknown } | undefined)?._meta) as Record<string, unknown> | undefined;
  const client = (envelope?.["io.modelcontextprotocol/clientInfo"] ?? envelope?.clientInfo) as { name?: string; version?: string } | undefined;
  return callerName(principal, client);
}

/** The capabilities the client declared on this request (2026: per request, in the envelope). */
function clientCaps(envelope: unknown): { roots?: unknown } | undefined {
  const e = envelope as Record<string, { roots?: unknown } | undefined> | undefined;
  return e?.[CLIENT_CAPABILITIES_META_KEY] ?? e?.clientCapabilities;
}

/** Whether --allow-dir already covers the file (then the client need not be asked for roots; builtins.ts still checks). */
async function coveredByAllowDirs(bridge: Bridge, path: unknown): Promise<boolean> {
  const dirs = bridge.opts.allowDirs ?? [];
  if (dirs.length === 0 || typeof path !== "string" || !isAbsolute(path)) return false;
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) return false;
  const realDirs = await Promise.all(dirs.map((d) => realpath(resolve(d)).catch(() => resolve(d))));
  return realDirs.some((d) => isInside(real, d));
}

function invalidParams(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, message);
}

function resourceFailure(err: unknown, uri?: string): ProtocolError {
  if (err instanceof InvalidCursorError) return invalidParams(err.message);
  // A read of something that is not there: -32602 on the wire, with the URI in `data` (SEP-2164).
  if (err instanceof ResourceError) return uri === undefined ? new ProtocolError(ProtocolErrorCode.ResourceNotFound, err.message) : new ResourceNotFoundError(uri, err.message);
  return new ProtocolError(ProtocolErrorCode.InternalError, err instanceof Error ? err.message : String(err));
}

/**
 * How long a catalog-derived answer stays true: until the next periodic discovery,
 * when a node that left without a word is noticed (nodes that announce a change are
 * seen at once, and `subscriptions/listen` tells the client). Zero while the mesh is
 * not usable: that answer is provisional.
 */
export function catalogHint(bridge: Bridge): CacheHint {
  if (bridge.unavailableReason() || !bridge.catalog) return { ttlMs: 0, cacheScope: "public" };
  return { ttlMs: Math.max(0, Math.floor(bridge.catalog.nextRefreshInMs())), cacheScope: "public" };
}

/** What the HTTP edge publishes onto its `subscriptions/listen` bus (the SDK's ServerNotifier). */
export interface ChangeNotifier {
  toolsChanged(): void;
  resourcesChanged(): void;
  resourceUpdated(uri: string): void;
}

/**
 * Turns the bridge's changes into listen-stream events, once per process (per-request
 * instances cannot hold a subscription). Returns the function that stops it.
 */
export function publishChanges(bridge: Bridge, notify: ChangeNotifier, access?: Access): () => void {
  // Webhook deliveries of MCP events: once per process, like this publisher.
  startEventDelivery(bridge);
  let listChangedTimer: NodeJS.Timeout | undefined;
  // For one principal (stdio): list_changed only when its view changed, file events only for what it may read.
  const view = () => JSON.stringify(methodsFor(bridge, access!).map((e) => [e.tool, e.method, e.schema, e.stream, e.toolDescription]));
  let seen = access && !access.unrestricted ? view() : undefined;
  const dropTools = bridge.onToolsChanged(() => {
    if (seen !== undefined) {
      const now = view();
      if (now === seen) return;
      seen = now;
    }
    notify.toolsChanged();
  });
  const dropFiles = bridge.onFileEvent((ev) => {
    if (access && !access.can("file.read", ev.key)) return;
    notify.resourceUpdated(fileUri(ev.key));
    clearTimeout(listChangedTimer);
    listChangedTimer = setTimeout(() => notify.resourcesChanged(), 200);
  });
  return () => {
    clearTimeout(listChangedTimer);
    dropTools();
    dropFiles();
  };
}

export function createModernServer(bridge: Bridge, opts: ModernOptions = {}): Server {
  const tasksOn = !bridge.opts.tasks?.disabled;
  const eventsOn = !bridge.opts.events?.disabled;
  // Per request: the HTTP edge may serve many clients from one (pooled) instance, so it names the identity in authInfo.
  const ownerOf = (ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } } }): string => {
    // The edge's owner first; else a known principal owns its tasks by id (they follow it across replicas).
    const fromEdge = ctx.http?.authInfo?.extra?.[TASK_OWNER_AUTH_KEY];
    if (typeof fromEdge === "string") return fromEdge;
    const byPrincipal = taskOwnerOf(principalOfRequest(ctx, opts.principal));
    if (byPrincipal) return byPrincipal;
    return opts.taskOwner ?? bridge.opts.tasks?.owner ?? ANONYMOUS_OWNER;
  };
  const server = new Server(
    { ...SERVER_INFO },
    {
      capabilities: {
        ...SHARED_CAPABILITIES,
        ...(tasksOn ? TASKS_EXTENSION_CAPABILITY : {}),
        ...(eventsOn ? { extensions: { ...(tasksOn ? TASKS_EXTENSION_CAPABILITY.extensions : {}), ...EVENTS_EXTENSION_CAPABILITY.extensions } } : {}),
      },
      instructions: INSTRUCTIONS,
      cacheHints: { "server/discover": STATIC_HINT, "resources/templates/list": STATIC_HINT },
    },
  );
  const tools = new ToolList(bridge, tasksOn ? (tool, entry) => withTaskSupport(tool, taskSupportOf(bridge, entry)) : undefined);
  // Per principal (the task-support decoration depends on its tasks grant).
  const toolsByAccess = new WeakMap<Access, ToolList>();
  const toolsFor = (access: Access): ToolList => {
    if (access.unrestricted) return tools;
    let t = toolsByAccess.get(access);
    if (!t) {
      const support = (entry: MethodEntry) => (access.can("task.create", `${entry.tool}.${entry.method}`) ? taskSupportOf(bridge, entry) : undefined);
      toolsByAccess.set(access, (t = new ToolList(bridge, tasksOn ? (tool, entry) => withTaskSupport(tool, support(entry)) : undefined)));
    }
    return t;
  };
  const accessOfReq = (ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } } }) => accessFor(bridge, principalOfRequest(ctx, opts.principal));
  if (tasksOn) registerModernTasks(server, bridge, ownerOf);
  if (eventsOn) registerModernEvents(server, bridge, (ctx: never) => eventCaller(ctx, ownerOf(ctx)));
  const builtins = builtinsFor(bridge.opts.admin ?? false);
  const settled = async () => {
    if (!bridge.catalog) await bridge.ready(STARTUP_WAIT_MS);
  };

  server.setRequestHandler("tools/list", async (req, ctx) => {
    // We never hand out a tools cursor: any cursor is not one of ours.
    if (req.params?.cursor !== undefined) throw invalidParams(`invalid cursor "${req.params.cursor}": tools/list has one page; list again without a cursor`);
    await settled();
    const access = accessOfReq(ctx);
    return { tools: listing(builtinsAllowed(access, builtins).map((b) => b.tool), listedMeshTools(bridge, toolsFor(access), access)) as Tool[], ...scoped(catalogHint(bridge), access) };
  });

  server.setRequestHandler("tools/call", async (req, ctx) => {
    let { name } = req.params;
    let args = (req.params.arguments ?? {}) as Record<string, unknown>;
    await settled();
    const access = accessOfReq(ctx);
    // Discovery's meta-tools: search/get answer here; a mesh_call_tool goes on as the call it stands for.
    const discovered = discoveryCall(bridge, toolsFor(access), name, args, access);
    if (discovered && "result" in discovered) return discovered.result as CallToolResult;
    if (discovered) ({ name, args } = discovered.call);
    const { builtin, entry, missing } = findTool(bridge, builtinsAllowed(access, builtins), name, access);
    if (missing) return missing as CallToolResult;
    if (builtin) {
      // Roots the 2026 way: no server→client request, but an input-required result the
      // client fulfils and retries with. Asked only when --allow-dir does not cover the file.
      const answer = inputResponse(ctx.mcpReq.inputResponses, ROOTS_KEY);
      const roots = answer.kind === "roots" ? rootsToDirs(answer.roots.map((r) => r.uri)) : [];
      if (opts.localClient && answer.kind !== "roots" && builtin.tool.name === UPLOAD_TOOL && clientCaps(ctx.mcpReq.envelope)?.roots &&
          !(await coveredByAllowDirs(bridge, args.path))) {
        return inputRequired({ inputRequests: { [ROOTS_KEY]: inputRequired.listRoots() } }) as unknown as CallToolResult;
      }
      const builtinCtx: BuiltinContext = { bridge, localClient: opts.localClient === true, roots: async () => roots, access };
      const t0 = performance.now();
      const result = await builtin.run(args, builtinCtx);
      bridge.auditBuiltin(name, !result.isError, performance.now() - t0, { principal: access.principal, roles: access.roles, client: clientOf(ctx.mcpReq.envelope), error: result.isError ? (result.content[0] as { text?: string } | undefined)?.text : undefined });
      return result as CallToolResult;
    }
    const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
    // The server decides: an eligible method becomes a task when this request declares the extension.
    if (tasksOn && taskSupportOf(bridge, entry!) && access.can("task.create", `${entry!.tool}.${entry!.method}`) && declaresTasks(ctx.mcpReq.envelope)) {
      return (await createModernTask(bridge, entry!, args as never, ownerOf(ctx), meta, access)) as unknown as CallToolResult;
    }
    const progressToken = ctx.mcpReq._meta?.progressToken;
    return (await callMeshTool(bridge, entry!, args, {
      signal: ctx.mcpReq.signal,
      access,
      client: clientOf(ctx.mcpReq.envelope),
      caller: callerName(principalOfRequest(ctx, opts.principal), clientOf(ctx.mcpReq.envelope)),
      progressToken,
      meta,
      span: requestSpanOf(ctx),
      sendProgress: (progress, total, message) =>
        progressToken === undefined
          ? Promise.resolve()
          : ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken, progress, total, message } }),
    })) as CallToolResult;
  });

  server.setRequestHandler("resources/list", async (req, ctx) => {
    await settled();
    const access = accessOfReq(ctx);
    try {
      return { ...(await listResources(bridge, req.params?.cursor, access)), ...scoped(NO_REUSE, access) };
    } catch (err) {
      throw resourceFailure(err);
    }
  });
  server.setRequestHandler("resources/templates/list", async () => ({ resourceTemplates: TEMPLATES }));
  server.setRequestHandler("resources/read", async (req, ctx) => {
    await settled();
    const access = accessOfReq(ctx);
    try {
      const result = await readResource(bridge, req.params.uri, access, opts.messageMax);
      // Views of the catalog are as fresh as the catalog; file contents may change at any moment.
      const hint = req.params.uri.startsWith("mesh://files/") ? NO_REUSE : catalogHint(bridge);
      return { ...result, ...scoped(hint, access) };
    } catch (err) {
      throw resourceFailure(err, req.params.uri);
    }
  });
  server.setRequestHandler("completion/complete", async (req, ctx) => {
    const ref = req.params.ref;
    await settled();
    const values = ref.type === "ref/resource" ? await complete(bridge, ref.uri, req.params.argument.name, req.params.argument.value, accessOfReq(ctx)) : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });

  traceRequests(server); // a span per request while tracing (after every setRequestHandler)

  if (opts.pushChanges) {
    // stdio: the serving entry routes these onto the connection's open listen requests.
    const safe = (p: Promise<unknown>) => void p.catch(() => {});
    server.onclose = publishChanges(bridge, {
      toolsChanged: () => safe(server.sendToolListChanged()),
      resourcesChanged: () => safe(server.sendResourceListChanged()),
      resourceUpdated: (uri) => safe(server.sendResourceUpdated({ uri })),
    }, accessFor(bridge, opts.principal));
  }
  return server;
}

// The metrics page reads the events counters (transports know src/mcp only through here).
export { eventStats, eventStreamState } from "./events.js";
// The transports serve task listens beside the SDK's listen router (they know the mesh only through here).
export { ANONYMOUS_OWNER, listenTaskIds, watchTaskIds } from "./tasks-modern.js";
/**
 * Why a 2026 `subscriptions/listen` may not be served to `principal`: a resource
 * subscription outside the file-store prefixes it may read (refused whether or not the
 * file exists). Undefined when it may.
 */
export function listenRefusal(bridge: Bridge, principal: Principal | undefined, params: unknown): string | undefined {
  const uris = (params as { notifications?: { resourceSubscriptions?: unknown } } | undefined)?.notifications?.resourceSubscriptions;
  if (!Array.isArray(uris)) return undefined;
  const access = accessFor(bridge, principal);
  if (access.unrestricted) return undefined;
  for (const uri of uris) {
    const key = typeof uri === "string" ? keyFromUri(uri) : undefined;
    if (key !== undefined && !access.can("file.read", key)) return `cannot subscribe to ${uri}: it is outside the file-store prefixes you may read`;
  }
  return undefined;
}

/** What one principal's listen stream hears of the process-wide change events. */
export interface ListenView {
  /** A tools list_changed: true when this principal's own tools changed since it last heard. */
  toolsChanged(): boolean;
  /** An update of `uri`: false for a file it may not read. */
  mayHear(uri: string): boolean;
}

/**
 * The filter a 2026 HTTP listen stream applies for `principal` when a policy restricts
 * it (list_changed only when *its* view changed; file updates only for what it may
 * read). Undefined when nothing is filtered: the SDK's own router serves the listen.
 */
export function listenView(bridge: Bridge, principal: Principal | undefined): ListenView | undefined {
  const access = accessFor(bridge, principal);
  if (access.unrestricted) return undefined;
  const view = () => JSON.stringify(methodsFor(bridge, access).map((e) => [e.tool, e.method, e.schema, e.stream, e.toolDescription]));
  let seen = view();
  return {
    toolsChanged: () => {
      const now = view();
      if (now === seen) return false;
      seen = now;
      return true;
    },
    mayHear: (uri) => {
      const key = keyFromUri(uri);
      return key === undefined || access.can("file.read", key);
    },
  };
}

/** The task owner of a principal (transports: task listens follow the principal's tasks). */
export { taskOwnerOf as principalTaskOwner } from "./authorize.js";

/** The identity a 2026 result carries in `_meta` (what createModernServer's instances stamp). */
export const MODERN_SERVER_INFO = SERVER_INFO;

let allBuiltins: ReturnType<typeof builtinsFor> | undefined;

/**
 * The HTTP fast path's way into a plain mesh-tool call (the same callMeshTool as the
 * tools/call handler above). Undefined for anything that handler treats specially —
 * built-ins (roots rounds), unknown names, a mesh not ready or unavailable — which
 * then take the full SDK path and get its answer.
 */
export function plainMeshCall(bridge: Bridge, name: string, principal?: Principal): ((args: Record<string, unknown>, ctx: CallContext) => Promise<CallToolResult>) | undefined {
  allBuiltins ??= builtinsFor(true);
  if (!bridge.catalog || bridge.unavailableReason()) return undefined;
  // The same policy check as the tools/call handler: a hidden tool goes to the SDK path and is unknown there.
  const access = accessFor(bridge, principal);
  const { entry } = findTool(bridge, allBuiltins, name, access);
  if (!entry) return undefined;
  return async (args, ctx) => {
    // The fast path's context comes from the transport: the caller is the principal, else the request's clientInfo.
    ctx.caller ??= principal && principal.source !== "anonymous" ? principal.name : modernCaller({ mcpReq: { envelope: ctx.meta } });
    return (await callMeshTool(bridge, entry, args, { access, ...ctx })) as CallToolResult;
  };
}
