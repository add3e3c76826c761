/**
 * The 2026-07-28 leg of the HTTP endpoint: sessionless requests, each answered by
 * its own server instance from the v2 SDK's `createMcpHandler` (strict: `legacy:
 * 'reject'`, because 2025 traffic never gets here — http.ts keeps its own session
 * path for it, with the GET stream, cancellation and server→client requests the
 * SDK's stateless fallback would drop).
 *
 * http.ts has already done access control, limits and body parsing; this file only
 * serves the request, and turns mesh changes into `subscriptions/listen` events.
 * Closing a request's response stream aborts its handler (→ cancel.<call_id>).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { classifyInboundRequest, createMcpHandler, PROTOCOL_VERSION_META_KEY, SUBSCRIPTION_ID_META_KEY, type McpHttpHandler, type Server, type ServerEvent } from "@modelcontextprotocol/server";
import type { Bridge } from "../mcp/bridge.js";
import type { Logger } from "../mcp/log.js";
import { PRINCIPAL_AUTH_KEY, type Principal } from "../mcp/principal.js";
import { sendJson, sendRpcError } from "./http-io.js";
import { ANONYMOUS_OWNER, createModernServer, listenRefusal, listenTaskIds, listenView, type ListenView, principalTaskOwner, publishChanges, TASK_OWNER_AUTH_KEY, watchTaskIds } from "../mcp/modern.js";
import { leanToolCall } from "./http-modern-lean.js";

/** Headers a bodyless Request must not carry (the parsed body travels beside it). */
const BODY_HEADERS = new Set(["content-length", "transfer-encoding", "content-encoding"]);

/**
 * The web Request the SDK handler reads headers, URL and abort signal from. Unlike
 * the SDK's toWebRequest it carries no body: http.ts has parsed it once already and
 * hands it over as `parsedBody`, which the modern path reads instead (toWebRequest
 * would JSON.stringify it again and measure it, on every call).
 */
function leanWebRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!BODY_HEADERS.has(name) && !name.startsWith(":")) headers.append(name, raw[i + 1]!);
  }
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, { method: req.method ?? "POST", headers, signal });
}

/**
 * Idle per-request server instances, reused: the SDK needs one instance per request in
 * flight (it refuses one still serving), not a new one per request. An instance comes
 * back when its exchange closes; what the previous client declared is wiped first.
 */
class ServerPool {
  private readonly idle: Server[] = [];
  constructor(private readonly make: () => Server, private readonly max: number) {}

  take(): Server {
    const reused = this.idle.pop();
    if (reused) return reused;
    const server = this.make();
    server.onclose = () => {
      const s = server as unknown as { _clientCapabilities?: unknown; _clientVersion?: unknown };
      s._clientCapabilities = undefined;
      s._clientVersion = undefined;
      if (this.idle.length < this.max) this.idle.push(server);
    };
    return server;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const FIRST_MODERN = "2026-07-28";
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The two everyday shapes, decided without the SDK's full classifier (which the 2026
 * leg runs again anyway, and which validates the whole message: ~4% of a call's CPU).
 * A message whose `_meta` claims a protocol version is never legacy (the classifier
 * answers modern or a rejection, both the 2026 leg's to give), `initialize` aside;
 * a well-formed message with no claim and no modern version header is always legacy.
 * Anything else: undefined, and the classifier decides.
 */
function obviousEra(req: IncomingMessage, body: unknown): "modern" | "legacy" | undefined {
  if (!isObject(body) || typeof body.method !== "string" || "result" in body || "error" in body) return undefined;
  const params = body.params;
  if (params !== undefined && !isObject(params)) return undefined;
  const meta = params?._meta;
  if (meta !== undefined && !isObject(meta)) return undefined;
  if (meta && PROTOCOL_VERSION_META_KEY in meta) return body.method === "initialize" ? undefined : "modern";
  const version = header(req, "mcp-protocol-version")?.trim();
  if (version !== undefined && version >= FIRST_MODERN) return undefined;
  if (body.jsonrpc !== "2.0" || !(body.id === undefined || typeof body.id === "string" || typeof body.id === "number")) return undefined;
  return "legacy";
}

/**
 * True when this POST belongs to the 2026 leg: it claims the per-request envelope
 * (or is malformed in a way only that leg answers: header/body mismatches, a modern
 * version header without an envelope). Everything else is 2025 traffic.
 */
function isModernPost(req: IncomingMessage, body: unknown): boolean {
  const quick = obviousEra(req, body);
  if (quick !== undefined) return quick === "modern";
  return classify(req, body) !== "legacy";
}

function classify(req: IncomingMessage, body: unknown): string {
  const outcome = classifyInboundRequest({
    httpMethod: "POST",
    protocolVersionHeader: header(req, "mcp-protocol-version"),
    mcpMethodHeader: header(req, "mcp-method"),
    mcpNameHeader: header(req, "mcp-name"),
    body,
  });
  return outcome.kind;
}

export interface ModernHttpOptions {
  responseMode: "auto" | "sse" | "json";
  maxBody: number;
  /**
   * Open 2026 requests (calls, listen streams) per client address, and in all. With no
   * sessions to cap, these bound what one client, and everyone, can hold open: the same
   * totals a 2025 client reaches with its sessions (--max-inflight × the session caps).
   */
  maxPerClient: number;
  maxTotal: number;
  /** Whose tasks a request sees (the bearer identity, else --task-owner; undefined: anonymous). */
  taskOwnerOf?: (req: IncomingMessage) => string | undefined;
  /**
   * Who a request comes from, as the HTTP edge authenticated it: handed to src/mcp (the
   * policy) on both the SDK path (authInfo.extra) and the lean path, so neither skips it.
   */
  principalOf?: (req: IncomingMessage) => Principal | undefined;
}



const RETRY_AFTER_S = "5";
const KEEPALIVE_MS = 15_000;

type Filter = { toolsListChanged?: boolean; resourcesListChanged?: boolean; resourceSubscriptions?: string[] };

/** What our capabilities let a listen filter have (as the SDK's router narrows it; no prompts here). */
function honored(f: Filter): Filter {
  const out: Filter = {};
  if (f.toolsListChanged === true) out.toolsListChanged = true;
  if (f.resourcesListChanged === true) out.resourcesListChanged = true;
  if (Array.isArray(f.resourceSubscriptions) && f.resourceSubscriptions.length > 0) out.resourceSubscriptions = f.resourceSubscriptions.filter((u) => typeof u === "string");
  return out;
}

function eventNote(f: Filter, ev: ServerEvent): { method: string; params: Record<string, unknown> } | undefined {
  switch (ev.kind) {
    case "tools_list_changed": return f.toolsListChanged ? { method: "notifications/tools/list_changed", params: {} } : undefined;
    case "resources_list_changed": return f.resourcesListChanged ? { method: "notifications/resources/list_changed", params: {} } : undefined;
    case "resource_updated": return f.resourceSubscriptions?.includes(ev.uri) ? { method: "notifications/resources/updated", params: { uri: ev.uri } } : undefined;
    default: return undefined;
  }
}

export class ModernHttp {
  private readonly handler: McpHttpHandler;
  private readonly onerror: (err: Error) => void;
  private readonly stopPublishing: () => void;
  private open = 0;
  private openAll = 0;
  private readonly byClient = new Map<string, number>();
  private readonly limits: Pick<ModernHttpOptions, "maxPerClient" | "maxTotal">;
  private readonly taskOwnerOf?: (req: IncomingMessage) => string | undefined;
  private readonly principalOf?: (req: IncomingMessage) => Principal | undefined;
  /** Listen streams that follow tasks (served here: the SDK's router knows only its four change kinds). */
  private readonly taskListens = new Set<() => void>();

  private readonly responseMode: ModernHttpOptions["responseMode"];
  /** Aborts the lean path's calls still running at close(), as handler.close() does the SDK's. */
  private readonly shutdown = new AbortController();

  constructor(private readonly bridge: Bridge, opts: ModernHttpOptions, log: Logger) {
    this.responseMode = opts.responseMode;
    const onerror = (err: Error) => log.debug(`MCP HTTP (2026-07-28): ${err.message}`);
    const pool = new ServerPool(() => createModernServer(bridge), 256);
    this.handler = createMcpHandler(() => pool.take(), {
      legacy: "reject",
      responseMode: opts.responseMode,
      maxRequestBodySize: opts.maxBody,
      onerror,
    });
    this.limits = { maxPerClient: opts.maxPerClient, maxTotal: opts.maxTotal };
    this.onerror = onerror;
    this.taskOwnerOf = opts.taskOwnerOf;
    this.principalOf = opts.principalOf;
    // One process-wide publisher: every open subscriptions/listen stream of this process hears it.
    this.stopPublishing = publishChanges(bridge, this.handler.notify);
  }

  /** The SDK's own era decision for a POST (see isModernPost). */
  isModernPost(req: IncomingMessage, body: unknown): boolean {
    return isModernPost(req, body);
  }

  /** Requests (tool calls, listen streams) being answered right now. */
  inflight(): number {
    return this.open;
  }

  async serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const client = req.socket.remoteAddress ?? "";
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= this.limits.maxPerClient) {
      return sendRpcError(res, 429, -32000, `Too many open requests from this client (${mine}; --max-inflight × --max-sessions-per-client): wait for some to finish or close unused subscriptions`, { "retry-after": RETRY_AFTER_S });
    }
    if (this.openAll >= this.limits.maxTotal) {
      return sendRpcError(res, 503, -32000, `mesh-mcp has too many open requests (${this.openAll}; --max-inflight × --max-sessions); retry later`, { "retry-after": RETRY_AFTER_S });
    }
    this.byClient.set(client, mine + 1);
    this.openAll++;
    // A listen stream stays open until the client leaves: shutdown must not wait for it.
    const method = (body as { method?: unknown } | null)?.method;
    const counted = method !== "subscriptions/listen" && method !== "events/stream";
    if (counted) this.open++;
    try {
      const m = body as { id?: unknown; method?: unknown; params?: unknown } | null;
      // The policy (src/mcp) decides which files a listen may follow; refused before the SDK's router serves it.
      const refused = m?.method === "subscriptions/listen" ? listenRefusal(this.bridge, this.principalOf?.(req), m.params) : undefined;
      if (refused) return sendJson(res, 200, { jsonrpc: "2.0", id: m!.id ?? null, error: { code: -32602, message: refused } });
      // A well-formed modern listen only: malformed ones get the SDK's answer (400, -32020, …).
      const listen = m?.method === "subscriptions/listen" && classify(req, body) === "modern";
      const taskIds = listen ? listenTaskIds(m!.params) : undefined;
      // Under a policy, this caller hears only changes of its own view (served here, not by the SDK's shared router).
      const notifications = (m?.params as { notifications?: unknown } | undefined)?.notifications;
      const view = listen && typeof notifications === "object" && notifications !== null ? listenView(this.bridge, this.principalOf?.(req)) : undefined;
      if (taskIds || view) await this.listenWithTasks(req, res, m!.id, notifications as Filter, taskIds, view);
      else {
        // A plain call of a mesh tool skips the SDK's per-request machinery (http-modern-lean.ts).
        const lean = leanToolCall(this.bridge, req, body, this.responseMode, this.principalOf?.(req));
        await (lean ? lean(res, this.shutdown.signal) : this.exchange(req, res, body));
      }
    } finally {
      if (counted) this.open--;
      this.openAll--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left > 0) this.byClient.set(client, left);
      else this.byClient.delete(client);
    }
  }

  /**
   * One request through the SDK handler's fetch face. Like the SDK's toNodeHandler,
   * but a JSON answer leaves in one write with a Content-Length (toNodeHandler streams
   * every body chunked, costing a syscall and a chunk frame more per call); SSE
   * answers stream. The client closing the connection aborts the request.
   */
  private async exchange(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const abort = new AbortController();
    let finished = false;
    res.once("close", () => {
      if (!finished) abort.abort();
    });
    let response: Response;
    try {
      // The request's task owner rides in authInfo.extra (modern.ts reads it per request).
      // So does its principal (never the token itself).
      const owner = this.taskOwnerOf?.(req);
      const principal = this.principalOf?.(req);
      const extra: Record<string, unknown> = {};
      if (owner !== undefined) extra[TASK_OWNER_AUTH_KEY] = owner;
      if (principal !== undefined) extra[PRINCIPAL_AUTH_KEY] = principal;
      const authInfo = owner === undefined && principal === undefined ? undefined : {
        token: "", clientId: owner ?? principal!.id, scopes: [...(principal?.scopes ?? [])],
        ...(principal?.expiresAt ? { expiresAt: Math.floor(principal.expiresAt / 1000) } : {}), extra,
      };
      response = await this.handler.fetch(leanWebRequest(req, abort.signal), { parsedBody: body, authInfo });
    } catch (err) {
      this.onerror(err instanceof Error ? err : new Error(String(err)));
      finished = true;
      if (!res.headersSent) sendRpcError(res, 500, -32603, "Internal error");
      return;
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    if (response.body === null || !headers["content-type"]?.startsWith("text/event-stream")) {
      const bytes = response.body === null ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
      finished = true;
      res.writeHead(response.status, { ...headers, "content-length": String(bytes.length) });
      res.end(bytes);
      return;
    }
    res.writeHead(response.status, headers);
    const closed = new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve(), { once: true }));
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || abort.signal.aborted) break;
        if (!res.write(value)) await Promise.race([new Promise<void>((resolve) => res.once("drain", () => resolve())), closed]);
      }
    } catch {
      // the stream ended with the request (client gone, handler closed): nothing more to send
    }
    finished = true;
    res.end();
  }

  /**
   * A `subscriptions/listen` whose filter names `taskIds` (the Tasks extension): the
   * same stream as the SDK's (ack first, stamped notifications, keep-alives, a final
   * result when the server ends it), carrying `notifications/tasks` for those tasks —
   * status changes written by any mesh-mcp process — beside the change events asked for.
   */
  private async listenWithTasks(req: IncomingMessage, res: ServerResponse, id: unknown, filter: Filter, taskIds: string[] | undefined, view?: ListenView): Promise<void> {
    const stamp = (params: Record<string, unknown>) => ({ ...params, _meta: { ...(params._meta as object | undefined), [SUBSCRIPTION_ID_META_KEY]: id } });
    const write = (message: Record<string, unknown>) => {
      if (!res.writableEnded) res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", ...message })}\n\n`);
    };
    const wanted = honored(filter);
    let stopTasks: () => void = () => {};
    try {
      if (taskIds) stopTasks = await watchTaskIds(this.bridge, this.taskOwnerOf?.(req) ?? principalTaskOwner(this.principalOf?.(req)) ?? this.bridge.opts.tasks?.owner ?? ANONYMOUS_OWNER, taskIds, (task) =>
        write({ method: "notifications/tasks", params: stamp(task) }));
    } catch (err) {
      return sendRpcError(res, 200, -32603, (err as Error).message);
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" });
    write({ method: "notifications/subscriptions/acknowledged", params: stamp({ notifications: { ...wanted, ...(taskIds ? { taskIds } : {}) } }) });
    const unsubscribe = this.handler.bus.subscribe((ev) => {
      if (view && ev.kind === "tools_list_changed" && !view.toolsChanged()) return;
      if (view && ev.kind === "resource_updated" && !view.mayHear(ev.uri)) return;
      const note = eventNote(wanted, ev);
      if (note) write({ method: note.method, params: stamp(note.params) });
    });
    const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    await new Promise<void>((resolve) => {
      let ended = false;
      const end = (graceful: boolean) => {
        if (ended) return;
        ended = true;
        this.taskListens.delete(closeByServer);
        clearInterval(keepalive);
        unsubscribe();
        stopTasks();
        if (graceful) write({ id, result: { resultType: "complete", _meta: { [SUBSCRIPTION_ID_META_KEY]: id } } });
        if (!res.writableEnded) res.end();
        resolve();
      };
      const closeByServer = () => end(true);
      this.taskListens.add(closeByServer);
      res.once("close", () => end(false));
    });
  }

  /** Aborts what is still running (each abort publishes its cancel) and drops the listeners. */
  async close(): Promise<void> {
    this.stopPublishing();
    for (const end of [...this.taskListens]) end();
    this.shutdown.abort();
    await this.handler.close();
  }
}
