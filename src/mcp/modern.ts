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
import { CLIENT_CAPABILITIES_META_KEY, inputRequired, inputResponse, ProtocolError, ProtocolErrorCode, ResourceNotFoundError, Server, type CallToolResult, type CacheHint, type Tool } from "@modelcontextprotocol/server";
import type { Bridge } from "./bridge.js";
import { builtinsFor, type BuiltinContext } from "./builtins.js";
import { complete, InvalidCursorError, listResources, readResource, ResourceError, TEMPLATES } from "./resources.js";
import { isInside, rootsToDirs } from "./paths.js";
import { fileUri } from "./results.js";
import { INSTRUCTIONS, SERVER_INFO, SHARED_CAPABILITIES } from "./server.js";
import { callMeshTool, findTool, ToolList, type CallContext } from "./tools.js";
import { discoveryCall, listedMeshTools, listing } from "./discovery.js";
import { PRINCIPAL_AUTH_KEY, type Principal } from "./principal.js";
import { taskSupportOf, withTaskSupport } from "./tasks.js";
import { ANONYMOUS_OWNER, createModernTask, declaresTasks, registerModernTasks, TASKS_EXTENSION_CAPABILITY } from "./tasks-modern.js";
import { EVENTS_EXTENSION_CAPABILITY, eventCaller, registerModernEvents } from "./events.js";
import { startEventDelivery } from "./events-webhooks.js";

/** The caller of a 2026 request, as the HTTP edge put it in authInfo (undefined over stdio). */
const principalOf = (ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } } }): Principal | undefined =>
  ctx.http?.authInfo?.extra?.[PRINCIPAL_AUTH_KEY] as Principal | undefined;

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
}

/** Fixed surfaces (templates, server/discover) change only with a new mesh-mcp version. */
const STATIC_HINT: CacheHint = { ttlMs: 3_600_000, cacheScope: "public" };
/** The file store changes at any moment (the watch tells listeners): do not reuse. */
const NO_REUSE: CacheHint = { ttlMs: 0, cacheScope: "public" };

const STARTUP_WAIT_MS = 3000;
const UPLOAD_TOOL = "mesh_upload_file";
const ROOTS_KEY = "roots";

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
export function publishChanges(bridge: Bridge, notify: ChangeNotifier): () => void {
  // Webhook deliveries of MCP events: once per process, like this publisher.
  startEventDelivery(bridge);
  let listChangedTimer: NodeJS.Timeout | undefined;
  const dropTools = bridge.onToolsChanged(() => notify.toolsChanged());
  const dropFiles = bridge.onFileEvent((ev) => {
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
    const fromEdge = ctx.http?.authInfo?.extra?.[TASK_OWNER_AUTH_KEY];
    return typeof fromEdge === "string" ? fromEdge : opts.taskOwner ?? bridge.opts.tasks?.owner ?? ANONYMOUS_OWNER;
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
    return { tools: listing(builtins.map((b) => b.tool), listedMeshTools(bridge, tools, principalOf(ctx))) as Tool[], ...catalogHint(bridge) };
  });

  server.setRequestHandler("tools/call", async (req, ctx) => {
    let { name } = req.params;
    let args = (req.params.arguments ?? {}) as Record<string, unknown>;
    await settled();
    // Discovery's meta-tools: search/get answer here; a mesh_call_tool goes on as the call it stands for.
    const discovered = discoveryCall(bridge, tools, name, args, principalOf(ctx));
    if (discovered && "result" in discovered) return discovered.result as CallToolResult;
    if (discovered) ({ name, args } = discovered.call);
    const { builtin, entry, missing } = findTool(bridge, builtins, name);
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
      const builtinCtx: BuiltinContext = { bridge, localClient: opts.localClient === true, roots: async () => roots };
      return (await builtin.run(args, builtinCtx)) as CallToolResult;
    }
    const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
    // The server decides: an eligible method becomes a task when this request declares the extension.
    if (tasksOn && taskSupportOf(bridge, entry!) && declaresTasks(ctx.mcpReq.envelope)) {
      return (await createModernTask(bridge, entry!, args as never, ownerOf(ctx), meta)) as unknown as CallToolResult;
    }
    const progressToken = ctx.mcpReq._meta?.progressToken;
    return (await callMeshTool(bridge, entry!, args, {
      signal: ctx.mcpReq.signal,
      progressToken,
      meta,
      sendProgress: (progress, total, message) =>
        progressToken === undefined
          ? Promise.resolve()
          : ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken, progress, total, message } }),
    })) as CallToolResult;
  });

  server.setRequestHandler("resources/list", async (req) => {
    await settled();
    try {
      return { ...(await listResources(bridge, req.params?.cursor)), ...NO_REUSE };
    } catch (err) {
      throw resourceFailure(err);
    }
  });
  server.setRequestHandler("resources/templates/list", async () => ({ resourceTemplates: TEMPLATES }));
  server.setRequestHandler("resources/read", async (req) => {
    await settled();
    try {
      const result = await readResource(bridge, req.params.uri, opts.messageMax);
      // Views of the catalog are as fresh as the catalog; file contents may change at any moment.
      const hint = req.params.uri.startsWith("mesh://files/") ? NO_REUSE : catalogHint(bridge);
      return { ...result, ...hint };
    } catch (err) {
      throw resourceFailure(err, req.params.uri);
    }
  });
  server.setRequestHandler("completion/complete", async (req) => {
    const ref = req.params.ref;
    await settled();
    const values = ref.type === "ref/resource" ? await complete(bridge, ref.uri, req.params.argument.name, req.params.argument.value) : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });

  if (opts.pushChanges) {
    // stdio: the serving entry routes these onto the connection's open listen requests.
    const safe = (p: Promise<unknown>) => void p.catch(() => {});
    server.onclose = publishChanges(bridge, {
      toolsChanged: () => safe(server.sendToolListChanged()),
      resourcesChanged: () => safe(server.sendResourceListChanged()),
      resourceUpdated: (uri) => safe(server.sendResourceUpdated({ uri })),
    });
  }
  return server;
}

// The metrics page reads the events counters (transports know src/mcp only through here).
export { eventStats, eventStreamState } from "./events.js";
// The transports serve task listens beside the SDK's listen router (they know the mesh only through here).
export { ANONYMOUS_OWNER, listenTaskIds, watchTaskIds } from "./tasks-modern.js";

/** The identity a 2026 result carries in `_meta` (what createModernServer's instances stamp). */
export const MODERN_SERVER_INFO = SERVER_INFO;

let allBuiltins: ReturnType<typeof builtinsFor> | undefined;

/**
 * The HTTP fast path's way into a plain mesh-tool call (the same callMeshTool as the
 * tools/call handler above). Undefined for anything that handler treats specially —
 * built-ins (roots rounds), unknown names, a mesh not ready or unavailable — which
 * then take the full SDK path and get its answer.
 */
export function plainMeshCall(bridge: Bridge, name: string): ((args: Record<string, unknown>, ctx: CallContext) => Promise<CallToolResult>) | undefined {
  allBuiltins ??= builtinsFor(true);
  if (!bridge.catalog || bridge.unavailableReason()) return undefined;
  const { entry } = findTool(bridge, allBuiltins, name);
  if (!entry) return undefined;
  return async (args, ctx) => (await callMeshTool(bridge, entry, args, ctx)) as CallToolResult;
}
