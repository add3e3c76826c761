/**
 * MCP over Streamable HTTP at `/mcp`, plus `/healthz`, `/readyz` and `/metrics`.
 * 2025-11-25 / 2025-06-18: one MCP server per session (`Mcp-Session-Id`) over the one
 * shared Bridge; with --stateless, one per request. 2026-07-28 requests go, after the
 * same access checks and limits, to http-modern.ts (sessionless). Knows nothing of tools.
 *
 * http-transport.ts does the protocol (our node:http Streamable HTTP transport, JSON
 * or SSE per request); this file routes sessions (unknown or ended → 404, so clients
 * start over), enforces access (http-security.ts) and limits.
 */
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as NodeServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { ConfigError, type Config } from "../config.js";
import type { Bridge } from "../mcp/bridge.js";
import { addSecret, type Logger } from "../mcp/log.js";
import { createServer, type Session } from "../mcp/server.js";
import { OriginPolicy, isOAuthProbe, startupProblem } from "./http-security.js";
import { EdgeAuth, edgeAuth, type EdgeAuthConfig, principalOf, sendResourceMetadata, taskOwnerOfRequest } from "./auth.js";
import type { Principal } from "../mcp/principal.js";
import { readBody, sendJson, sendRpcError } from "./http-io.js";
// Types only: the v2 SDK behind the 2026 leg (~100 ms to load) comes after listening.
import type { ModernHttp } from "./http-modern.js";
import { StreamableHttpTransport } from "./http-transport.js";
import { isSingleToolsCall, serveStatelessCall } from "./http-stateless-lean.js";
import { sessionStart, type Start } from "./stdio-lean.js";
import { HttpMetrics } from "./metrics.js";
import { sendStatusJson, sendStatusPage, STATUS_JSON_PATH, STATUS_PATH } from "./status-page.js";

export const MCP_PATH = "/mcp";

/**
 * How a POST is answered. `auto` (default): JSON when the response is the only
 * message, SSE as soon as there is anything else (progress, keep-alive). `sse`
 * and `json` force one format for every answer (`json` loses per-request progress).
 */
export type ResponseMode = "auto" | "sse" | "json";

export interface HttpTuning {
  responseMode?: ResponseMode;
}

export interface HttpTransport {
  /** The URL of the MCP endpoint, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

type HttpConfig = Pick<
  Config,
  "host" | "port" | "authToken" | "insecureNoAuth" | "allowedOrigin" | "allowedHost" | "stateless" | "sessionIdleTimeout" | "maxBody" | "maxInflight"
> & Partial<Pick<Config, "maxSessions" | "maxSessionsPerClient">> & EdgeAuthConfig;

/** One MCP session: its server, its transport, and how many HTTP exchanges it has open. */
interface HttpSession {
  id?: string;
  mcp: Session;
  transport: StreamableHttpTransport;
  open: number;
  idle?: NodeJS.Timeout;
  closed: boolean;
  /** Who opened it (the remote address): the per-client cap counts by it. */
  client: string;
  /** When its last HTTP exchange ended (ms): the least recently used idle one goes first. */
  lastUsed: number;
  /** When it opened (ms): the status page's session age. */
  opened?: number;
  /** Who opened it: every later request of the session must come from the same principal. */
  principal?: Principal;
}

/** Defaults of --max-sessions and --max-sessions-per-client. */
const MAX_SESSIONS = 1000;
const MAX_SESSIONS_PER_CLIENT = 100;

const RETRY_AFTER_S = "5";
/** Lean --stateless sessions kept (distinct callers); past this the least recently used idle one is closed. */
const LEAN_SESSIONS_MAX = 256;

/** How long after listening prom-client is loaded (see metrics.ts). */
const METRICS_LOAD_DELAY_MS = 1000;
const CORS_ALLOW_HEADERS = "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
const CORS_EXPOSE_HEADERS = "Mcp-Session-Id, WWW-Authenticate";

export async function serveHttp(bridge: Bridge, config: HttpConfig, log: Logger, onClosed: () => void, tuning: HttpTuning = {}): Promise<HttpTransport> {
  const edge = await edgeAuth(config, log);
  const problem = startupProblem(config.host, edge.required, config.insecureNoAuth);
  if (problem) throw new ConfigError(problem);
  const server = new McpHttpServer(bridge, config, log, tuning.responseMode ?? responseModeFromEnv(), edge);
  const url = await server.listen();
  log.info(`serving MCP over Streamable HTTP at ${url}${config.stateless ? " (stateless)" : ""}; ` +
    `${edge.required ? edge.describe() : "no auth"}; probes /healthz /readyz, metrics /metrics`);
  // The issuer's metadata is loaded now, in the background: listening does not wait for the issuer.
  void edge.oauth?.start();
  server.onUnexpectedClose = onClosed;
  return { url, close: () => server.close() };
}

class McpHttpServer {
  onUnexpectedClose?: () => void;
  private readonly http: NodeServer;
  private readonly sessions = new Map<string, HttpSession>();
  /** Sessions not (yet) in the table: initializing ones and stateless requests. */
  private readonly loose = new Set<HttpSession>();
  /** Open and opening sessions by client address (stateful mode). */
  private readonly byClient = new Map<string, Set<HttpSession>>();
  private readonly metrics: HttpMetrics;
  /** 2026-07-28 requests: sessionless, one server instance each (http-modern.ts), loaded on demand. */
  private modernLoad?: Promise<ModernHttp>;
  private modern?: ModernHttp;
  /**
   * --stateless: long-lived sessions whose plainCall answers plain 2025 calls
   * (http-stateless-lean.ts), one per distinct caller (principal and task owner, compared
   * whole), least recently used first.
   */
  private readonly lean = new Map<string, { session: Session; start: Start }>();
  private policy!: OriginPolicy;
  private metricsTimer?: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly bridge: Bridge,
    private readonly config: HttpConfig,
    private readonly log: Logger,
    private readonly mode: ResponseMode,
    private readonly auth: EdgeAuth,
  ) {
    if (config.authToken) addSecret(config.authToken);
    this.metrics = new HttpMetrics(bridge, { sessions: () => this.sessions.size });
    this.http = createHttpServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.warn(`HTTP ${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) sendRpcError(res, 500, -32603, "Internal error");
        else res.destroy();
      });
    });
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error & { code?: string }) => {
        const hint = err.code === "EADDRINUSE" ? `; another process uses port ${this.config.port}: choose another with --port, or --port 0 for any free port (the URL is logged)` : "";
        reject(new Error(`cannot listen on ${this.config.host}:${this.config.port}: ${err.message}${hint}`));
      };
      this.http.once("error", failed);
      this.http.listen(this.config.port, this.config.host, () => {
        this.http.off("error", failed);
        this.http.on("error", (err) => this.log.error(`HTTP server: ${err.message}`));
        this.http.once("close", () => {
          if (!this.closing) this.onUnexpectedClose?.();
        });
        const addr = this.http.address() as AddressInfo;
        this.policy = new OriginPolicy({
          listenHost: this.config.host,
          port: addr.port,
          // The host of --public-url is ours by definition: clients reach us by that name.
          allowedHosts: [...this.config.allowedHost, ...(this.config.publicUrl && this.auth.oauth ? [new URL(this.config.publicUrl).host] : [])],
          allowedOrigins: this.config.allowedOrigin,
        });
        // prom-client (40–60 ms to load) comes once start-up traffic is over; a scrape before loads it at once.
        this.metricsTimer = setTimeout(() => void this.metrics.load().catch((err: Error) => this.log.warn(`metrics: ${err.message}`)), METRICS_LOAD_DELAY_MS);
        this.metricsTimer.unref();
        setTimeout(() => void this.modernHttp().catch((err: Error) => this.log.warn(`MCP 2026-07-28 leg: ${err.message}`)), METRICS_LOAD_DELAY_MS).unref();
        const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
        resolve(`http://${host}:${addr.port}${MCP_PATH}`);
      });
    });
  }

  // ---------------- routing ----------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0];
    // Probes come from orchestrators that use the pod address as Host: no Host/auth checks; they reveal only status.
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") return this.ready(res);
    const oauth = this.auth.oauth;
    // RFC 9728 metadata is public (clients read it before they have a token), also to browser-based clients.
    if (oauth && path.startsWith("/.well-known/oauth-protected-resource")) return sendResourceMetadata(req, res, oauth.resourceMetadata());
    if (isOAuthProbe(path)) {
      return sendJson(res, 404, { error: "not_found", error_description: oauth ? `mesh-mcp is an OAuth resource server; its authorization server is ${oauth.issuer} (see ${oauth.metadataUrl})` : this.auth.noOAuthText(req) });
    }
    if (path === "/" && req.method === "GET") return void res.writeHead(302, { location: STATUS_PATH }).end();
    if (path !== MCP_PATH && path !== "/metrics" && path !== STATUS_PATH && path !== STATUS_JSON_PATH) {
      return sendJson(res, 404, { error: `not found; MCP is served at ${MCP_PATH}, the status page at ${STATUS_PATH}` });
    }

    if (path === MCP_PATH) res.once("finish", () => this.metrics.request(req.method ?? "?", res.statusCode));
    if (this.closing || this.bridge.closing) {
      return sendRpcError(res, 503, -32000, "mesh-mcp is shutting down; retry shortly", { "retry-after": RETRY_AFTER_S, connection: "close" });
    }
    if (!this.policy.hostAllowed(req.headers.host)) {
      return sendRpcError(res, 403, -32000, `Forbidden: Host "${req.headers.host ?? ""}" is not allowed (see --allowed-host)`);
    }
    const origin = req.headers.origin;
    if (!this.policy.originAllowed(origin)) {
      return sendRpcError(res, 403, -32000, `Forbidden: Origin "${origin}" is not allowed (see --allowed-origin)`);
    }
    if (origin !== undefined) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", CORS_EXPOSE_HEADERS);
    }
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
        "access-control-allow-headers": CORS_ALLOW_HEADERS,
        "access-control-max-age": "600",
      });
      return void res.end();
    }
    // The page itself holds no data (like a login form): it asks for the token and sends it with status.json.
    if (path === STATUS_PATH) return sendStatusPage(req, res);
    // Authentication, once, before any dispatch: the principal rides on the request (auth.ts principalOf).
    const verdict = await this.auth.authenticate(req);
    if (!verdict.ok) return sendRpcError(res, verdict.status, -32001, verdict.message, verdict.headers);
    if (path === "/metrics") return this.metricsPage(req, res);
    if (path === STATUS_JSON_PATH) return sendStatusJson(req, res, this.bridge, () => this.statusSessions());

    switch (req.method) {
      case "POST":
        return this.post(req, res);
      case "GET":
      case "DELETE":
        return this.getOrDelete(req, res);
      default:
        return sendRpcError(res, 405, -32000, "Method not allowed.", { allow: "GET, POST, DELETE" });
    }
  }

  private ready(res: ServerResponse): void {
    const why = this.closing ? "mesh-mcp is shutting down." : this.bridge.unavailableReason() ?? (this.bridge.catalog ? undefined : "the mesh catalog is not loaded yet.");
    if (why) return sendJson(res, 503, { status: "unavailable", reason: why });
    sendJson(res, 200, { status: "ready", methods: this.bridge.methods().length, sessions: this.sessions.size });
  }

  /** Sessions for the status page: who (the client's name/version), since when, calls running; never their ids. */
  private statusSessions() {
    const now = Date.now();
    const list = [...this.sessions.values()].map((s) => {
      // The principal's name (never its id or claims), else the client's name/version.
      const client = s.mcp.server.getClientVersion();
      const caller = s.principal && s.principal.source !== "anonymous" ? s.principal.name : client ? `${client.name}/${client.version}` : "?";
      return { caller, ageMs: now - (s.opened ?? now), inflight: s.mcp.inflight() };
    });
    const modern = this.modern?.inflight() ?? 0;
    if (modern > 0) list.push({ caller: "2026-07-28 requests (sessionless)", ageMs: 0, inflight: modern });
    return { transport: this.config.stateless ? "http (stateless)" : "http", open: this.sessions.size, list };
  }

  private async metricsPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET") return sendJson(res, 405, { error: "GET only" }, { allow: "GET" });
    const { contentType, body } = await this.metrics.render();
    res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  private async post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.config.maxBody);
    if (body.tooLarge) {
      return sendRpcError(res, 413, -32000, `Payload Too Large: the body exceeds ${this.config.maxBody} bytes (--max-body)`, { connection: "close" });
    }
    let message: unknown;
    try {
      message = JSON.parse(body.text);
    } catch {
      return sendRpcError(res, 400, -32700, "Parse error: Invalid JSON");
    }
    // The revision is decided here, once per request: 2026-07-28 requests carry it in `_meta`.
    if (mayBeModern(req, message)) {
      const modern = await this.modernHttp();
      if (modern.isModernPost(req, message)) return modern.serve(req, res, message);
    }
    if (this.config.stateless) return this.stateless(req, res, message);

    const id = sessionIdOf(req);
    if (id !== undefined) {
      const session = this.sessions.get(id);
      if (!session) return notFound(res);
      if (!samePrincipal(session, req)) return foreignSession(res);
      return this.exchange(session, req, res, message);
    }
    const initialize = Array.isArray(message) ? message.some(isInitializeRequest) : isInitializeRequest(message);
    if (!initialize) return sendRpcError(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
    const client = clientOf(req);
    if (!this.makeRoom(client, res)) return;
    const session = await this.open(this.sessionTransport(), req, client);
    try {
      await this.exchange(session, req, res, message);
    } finally {
      // A refused initialize never got an id: nothing can reach this session again.
      if (session.id === undefined) void this.dispose(session);
    }
  }

  private async getOrDelete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.config.stateless) {
      return sendRpcError(res, 405, -32000, "Method not allowed: stateless server (no sessions, no GET stream)", { allow: "POST" });
    }
    const id = sessionIdOf(req);
    if (id === undefined) return sendRpcError(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
    const session = this.sessions.get(id);
    if (!session) return notFound(res);
    if (!samePrincipal(session, req)) return foreignSession(res);
    // DELETE: the transport answers 200 and closes itself, and its onclose disposes the session.
    return this.exchange(session, req, res, undefined);
  }

  /** The 2026 leg, loaded once (after listening, or by the first request that needs it). */
  private modernHttp(): Promise<ModernHttp> {
    this.modernLoad ??= import("./http-modern.js").then(({ ModernHttp }) => {
      this.modern = new ModernHttp(this.bridge, {
        responseMode: this.mode,
        maxBody: this.config.maxBody,
        maxPerClient: this.config.maxInflight * (this.config.maxSessionsPerClient ?? MAX_SESSIONS_PER_CLIENT),
        maxTotal: this.config.maxInflight * (this.config.maxSessions ?? MAX_SESSIONS),
        taskOwnerOf: (req) => this.taskOwnerOf(req) ?? this.bridge.opts.tasks?.owner,
        principalOf,
      }, this.log);
      return this.modern;
    });
    return this.modernLoad;
  }

  // ---------------- sessions ----------------

  private sessionTransport(): StreamableHttpTransport {
    return new StreamableHttpTransport({
      sessionIdGenerator: this.config.stateless ? undefined : () => randomUUID(),
      mode: this.mode,
    });
  }

  /**
   * Whose tasks a session sees: the bearer token (checked above) when there is one;
   * else --task-owner; else the session alone (createServer's default).
   */
  private taskOwnerOf(req: IncomingMessage): string | undefined {
    return taskOwnerOfRequest(req);
  }

  /**
   * Room for one more session of `client`, or the refusal sent. Past the per-client cap
   * the client's least recently used idle session is closed (a client that forgets its
   * sessions reclaims its own, never another client's); with none idle, 429. Past the
   * total cap, 503. Both carry Retry-After, and SDK clients show the message.
   */
  private makeRoom(client: string, res: ServerResponse): boolean {
    // Refusals are logged to stderr only: other clients have no business knowing this address.
    const perClient = this.config.maxSessionsPerClient ?? MAX_SESSIONS_PER_CLIENT;
    const total = this.config.maxSessions ?? MAX_SESSIONS;
    const mine = this.byClient.get(client);
    if (mine && mine.size >= perClient) {
      let lru: HttpSession | undefined;
      for (const s of mine) if (s.open === 0 && s.id !== undefined && (!lru || s.lastUsed < lru.lastUsed)) lru = s;
      if (!lru) {
        this.log.local("warning", `MCP HTTP: refused a new session from ${client}: ${mine.size} sessions open, all busy (--max-sessions-per-client ${perClient})`);
        sendRpcError(res, 429, -32000, `Too many sessions from this client (${perClient}, all busy; --max-sessions-per-client): end unused sessions (HTTP DELETE) or retry later`, { "retry-after": RETRY_AFTER_S });
        return false;
      }
      this.log.info(`MCP HTTP: closed session ${lru.id}, the least recently used idle session of ${client}, to open a new one (--max-sessions-per-client ${perClient})`, { session: lru.id });
      void this.dispose(lru);
    }
    if (this.sessions.size + this.loose.size >= total) {
      this.log.local("warning", `MCP HTTP: refused a new session from ${client}: ${this.sessions.size} sessions open (--max-sessions ${total})`);
      sendRpcError(res, 503, -32000, `mesh-mcp has too many open sessions (${total}; --max-sessions); retry later`, { "retry-after": RETRY_AFTER_S });
      return false;
    }
    return true;
  }

  private async open(transport: StreamableHttpTransport, req: IncomingMessage, client = ""): Promise<HttpSession> {
    const principal = principalOf(req);
    const mcp = createServer(this.bridge, { maxInflight: this.config.maxInflight, progressBarrier: !this.config.stateless, taskOwner: this.taskOwnerOf(req), principal, stateless: this.config.stateless, deferLargeBlobs: true });
    const session: HttpSession = { mcp, transport, open: 0, closed: false, client, lastUsed: Date.now(), opened: Date.now(), principal };
    this.loose.add(session);
    if (!this.config.stateless) {
      let mine = this.byClient.get(client);
      if (!mine) this.byClient.set(client, (mine = new Set()));
      mine.add(session);
    }
    transport.onclose = () => void this.dispose(session);
    transport.onerror = (err) => this.log.debug(`MCP HTTP${session.id ? ` session ${session.id}` : ""}: ${err.message}`, { session: session.id });
    await session.mcp.server.connect(transport);
    return session;
  }

  /** One HTTP request/response on a session; the session's idle clock runs only while none is open. */
  private async exchange(session: HttpSession, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    session.open++;
    clearTimeout(session.idle);
    res.once("close", () => {
      session.lastUsed = Date.now();
      if (--session.open === 0) this.armIdle(session);
    });
    session.transport.handleRequest(req, res, body);
    if (session.id === undefined && session.transport.sessionId !== undefined) {
      session.id = session.transport.sessionId;
      this.loose.delete(session);
      this.sessions.set(session.id, session);
      this.log.debug(`MCP HTTP session ${session.id} opened (${this.sessions.size} open)`, { session: session.id });
    }
  }

  private armIdle(session: HttpSession): void {
    const ms = this.config.sessionIdleTimeout * 1000;
    if (session.closed || session.id === undefined || ms <= 0) return;
    clearTimeout(session.idle);
    session.idle = setTimeout(() => {
      this.log.info(`MCP HTTP session ${session.id} idle for ${this.config.sessionIdleTimeout} s: closed`, { session: session.id });
      void this.dispose(session);
    }, ms);
    session.idle.unref();
  }

  private async dispose(session: HttpSession): Promise<void> {
    if (session.closed) return;
    session.closed = true;
    clearTimeout(session.idle);
    this.loose.delete(session);
    const mine = this.byClient.get(session.client);
    if (mine?.delete(session) && mine.size === 0) this.byClient.delete(session.client);
    if (session.id !== undefined && this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.log.debug(`MCP HTTP session ${session.id} closed (${this.sessions.size} open)`, { session: session.id });
    }
    await session.mcp.close();
  }

  /** --stateless: a fresh server and transport for this one request, gone when it is answered. */
  private async stateless(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const lean = isSingleToolsCall(body) ? this.leanFor(req) : undefined;
    if (lean) {
      let gone = false;
      res.once("close", () => (gone = true));
      return serveStatelessCall(this.sessionTransport(), req, res, body, lean.start, async (transport) => {
        const session = await this.open(transport, req);
        if (gone) void this.dispose(session);
        else res.once("close", () => void this.dispose(session));
      }, this.log);
    }
    const session = await this.open(this.sessionTransport(), req);
    res.once("close", () => void this.dispose(session));
    session.transport.handleRequest(req, res, body);
  }

  /**
   * The lean session for this request's caller: the same options a per-request session
   * would get (its principal and task owner), minus --max-inflight (one call per request
   * cannot reach it). Undefined when the table is full of busy sessions: the SDK's path then.
   */
  private leanFor(req: IncomingMessage): { session: Session; start: Start } | undefined {
    const principal = principalOf(req);
    const taskOwner = this.taskOwnerOf(req);
    const key = JSON.stringify([principal ?? null, taskOwner ?? null]);
    let lean = this.lean.get(key);
    if (lean) {
      this.lean.delete(key);
      this.lean.set(key, lean);
      return lean;
    }
    if (this.lean.size >= LEAN_SESSIONS_MAX) {
      const [oldKey, oldest] = this.lean.entries().next().value!;
      if (oldest.session.inflight() > 0) return undefined;
      this.lean.delete(oldKey);
      void oldest.session.close();
    }
    const session = createServer(this.bridge, { progressBarrier: false, taskOwner, principal, stateless: true, deferLargeBlobs: true });
    lean = { session, start: sessionStart(session) };
    this.lean.set(key, lean);
    return lean;
  }

  // ---------------- shutdown ----------------

  /**
   * Stops accepting (503 from now on), lets in-flight calls deliver their answers
   * (bridge.shutdown() has cancelled them on the mesh already; if it has not, closing
   * the sessions aborts them, which publishes their cancels), then closes every
   * session, stream and connection.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const all = () => [...this.sessions.values(), ...this.loose];
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    await waitUntil(() => (this.modern?.inflight() ?? 0) === 0 && [...this.lean.values()].every((l) => l.session.inflight() === 0) && all().every((s) => s.mcp.inflight() === 0), 2000);
    const modern = this.modernLoad?.then((m) => m.close(), () => {});
    await Promise.all([modern, ...all().map((s) => this.dispose(s)), ...[...this.lean.values()].map((l) => l.session.close())]);
    this.http.closeIdleConnections();
    await Promise.race([stopped, delay(1000)]);
    this.http.closeAllConnections();
    clearTimeout(this.metricsTimer);
    this.metrics.close();
  }
}

/** MESH_MCP_HTTP_RESPONSE=sse|json|auto: a troubleshooting and benchmarking knob, not a flag. */
function responseModeFromEnv(): ResponseMode {
  const v = process.env.MESH_MCP_HTTP_RESPONSE;
  return v === "sse" || v === "json" ? v : "auto";
}

/**
 * The client a session counts against: its remote address. (One bearer token is
 * shared by every client, so it tells no one apart; behind a reverse proxy every
 * client is the proxy, and --max-sessions-per-client should be raised to the total.)
 */
function clientOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "";
}

/** Revisions that negotiate with `initialize` (their requests carry no envelope). */
const LEGACY_VERSIONS = new Set(["2024-10-07", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]);

/**
 * A cheap first look (no SDK): could this POST be for the 2026 leg? True when a message
 * claims the per-request envelope or the version header names a newer revision. The
 * SDK's classifier then decides (http-modern.ts); everything else is 2025 traffic.
 */
function mayBeModern(req: IncomingMessage, body: unknown): boolean {
  const version = req.headers["mcp-protocol-version"];
  if (typeof version === "string" && !LEGACY_VERSIONS.has(version)) return true;
  const claims = (m: unknown) => {
    const meta = (m as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta;
    return typeof meta === "object" && meta !== null && "io.modelcontextprotocol/protocolVersion" in meta;
  };
  return Array.isArray(body) ? body.some(claims) : claims(body);
}

/** One principal per session: a request of the session with another's credentials is refused. */
function samePrincipal(session: HttpSession, req: IncomingMessage): boolean {
  return session.principal === undefined || principalOf(req)?.id === session.principal.id;
}

function foreignSession(res: ServerResponse): void {
  sendRpcError(res, 403, -32001, "Forbidden: this session was opened by another principal; initialize a new session with your own credentials");
}

function sessionIdOf(req: IncomingMessage): string | undefined {
  const v = req.headers["mcp-session-id"];
  return Array.isArray(v) ? v[0] : v;
}

/** 404 tells a client its session is gone and that it must initialize again (a 400 would not). */
function notFound(res: ServerResponse): void {
  sendRpcError(res, 404, -32001, "Session not found: it ended or expired; initialize a new session");
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await delay(20);
}
