/**
 * The server side of MCP Streamable HTTP on node:http, in place of the SDK's
 * WebStandardStreamableHTTPServerTransport (1.32.2) behind a node ⇄ web-standard
 * adapter. The benchmark (BENCHMARKS.md) found that adapter path to cost most of the
 * server's ~1.5 ms CPU per call: a web Request built from every node request, a web
 * ReadableStream and Response per POST, every message encoded to bytes, read back,
 * decoded and (for a JSON answer) parsed a second time, and several zod parses per
 * message just to tell requests from notifications. This transport writes to the node
 * response directly and keeps what a client can see of the SDK's:
 *
 *  - POST: 406 unless Accept lists application/json and text/event-stream; 415 unless
 *    the Content-Type is application/json; batches of up to 100 messages (400 above),
 *    each validated as a JSON-RPC message (400 Parse error otherwise); initialize opens
 *    the session (a second one → 400, initialize inside a batch → 400); every other
 *    POST needs the session id (400 missing, 404 other) and a supported
 *    MCP-Protocol-Version when one is sent (400 otherwise). Only notifications or
 *    responses → 202. Requests → a stream that ends once all of them are answered.
 *  - Answers: `auto` (the default, for a single message) waits for the first thing to
 *    send: the response alone goes out as application/json (up to 1 MiB), anything
 *    else first (progress, a ping, the 15 s keep-alive) turns the answer into
 *    text/event-stream on the spot. `sse`: always SSE (headers flushed at once).
 *    `json`: one JSON body (an array for batches) when all responses are ready.
 *  - GET: the session's stream for server-initiated messages (406 without
 *    text/event-stream in Accept, 409 if one is open already); DELETE: 200, then closes.
 *  - SSE framing (`event: message`, keep-alive comments every 15 s), headers
 *    (Mcp-Session-Id, Cache-Control, X-Accel-Buffering) and error texts as the SDK's.
 *
 * No resumability (event store) and no DNS-rebinding checks: http.ts uses neither
 * (it checks Host/Origin itself, before the transport).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js";
import { DEFAULT_SSE_KEEP_ALIVE_MS } from "@modelcontextprotocol/sdk/server/sseKeepAlive.js";
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  isInitializeRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
  type RequestInfo,
} from "@modelcontextprotocol/sdk/types.js";
import { deferredParts, partsByteLength, partsText } from "../mcp/server.js";
import { sendRpcError } from "./http-io.js";
import { parseMessage } from "./jsonrpc-shape.js";

/** `auto`: JSON when the response is the first and only message, else SSE (see above). */
export type AnswerMode = "auto" | "sse" | "json";

export interface StreamableHttpOptions {
  /** Makes the session id at initialize; undefined: stateless (one transport per request). */
  sessionIdGenerator?: () => string;
  mode?: AnswerMode;
  /** SSE keep-alive comment interval (ms). */
  keepAliveMs?: number;
}

/** Answers up to this size may become JSON; bigger ones stream as SSE. */
const JSON_ANSWER_MAX = 1 << 20;

/** A message written whole (a batch's early answer): deferred blobs encoded in place. */
function expandDeferred(json: string): string {
  const parts = deferredParts(json);
  return parts ? [...partsText(parts)].join("") : json;
}
const SSE_PREFIX = "event: message\ndata: ";
const KEEPALIVE = ": keepalive\n\n";

/** One HTTP response carrying messages: a POST's answer or the session's GET stream. */
interface Stream {
  res: ServerResponse;
  /** `pending`: auto mode, nothing written yet; `sse`: an event stream; `json`: json mode, one body at the end. */
  kind: "pending" | "sse" | "json";
  /** The requests this POST carried (empty for the GET stream). */
  ids: RequestId[];
  keepAlive?: NodeJS.Timeout;
  /** False once the client went away or the stream ended: nothing more is written. */
  live: boolean;
}

function isResponse(m: JSONRPCMessage): boolean {
  return "result" in m || "error" in m;
}

/** After JSONRPCMessageSchema.parse: a request has a method and an id (the strict schemas allow nothing else). */
function isRequest(m: JSONRPCMessage): boolean {
  return "method" in m && "id" in m;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

/** requestInfo for the handlers, built only if one reads it (none of ours do). */
function lazyRequestInfo(req: IncomingMessage): RequestInfo {
  let url: URL | undefined;
  return {
    headers: req.headers,
    get url() {
      if (!url) {
        try {
          url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
        } catch {
          url = new URL(req.url ?? "/", "http://localhost");
        }
      }
      return url;
    },
  };
}

export class StreamableHttpTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  sessionId?: string;

  private readonly generateId?: () => string;
  private readonly mode: AnswerMode;
  private readonly keepAliveMs: number;
  private started = false;
  private handledOne = false;
  private initialized = false;
  private closed = false;
  /** Request id → the stream its response goes to. */
  private readonly routes = new Map<RequestId, Stream>();
  /** Responses held until every request of their stream is answered. */
  private readonly answered = new Map<RequestId, JSONRPCMessage>();
  /** Open streams (ended by close()). */
  private readonly streams = new Set<Stream>();
  private standalone?: Stream;

  constructor(opts: StreamableHttpOptions = {}) {
    this.generateId = opts.sessionIdGenerator;
    this.mode = opts.mode ?? "auto";
    this.keepAliveMs = opts.keepAliveMs ?? DEFAULT_SSE_KEEP_ALIVE_MS;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("Transport already started");
    this.started = true;
  }

  /**
   * Answers one HTTP request for this session. `body` is the parsed POST body;
   * `single` says it was one message, not a batch (only then may `auto` answer JSON).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): void {
    if (this.closed) return sendRpcError(res, 404, -32001, "Session not found");
    if (!this.generateId && this.handledOne) {
      throw new Error("Stateless transport cannot be reused across requests. Create a new transport per request.");
    }
    this.handledOne = true;
    switch (req.method) {
      case "POST":
        return this.post(req, res, body);
      case "GET":
        return this.get(req, res);
      case "DELETE":
        return this.delete(req, res);
      default:
        this.onerror?.(new Error("Method not allowed."));
        return sendRpcError(res, 405, -32000, "Method not allowed.", { allow: "GET, POST, DELETE" });
    }
  }

  private reject(res: ServerResponse, status: number, code: number, message: string): void {
    this.onerror?.(new Error(message));
    sendRpcError(res, status, code, message);
  }

  private post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = headerOf(req, "accept");
    if (!accept?.includes("application/json") || !accept.includes("text/event-stream")) {
      return this.reject(res, 406, -32000, "Not Acceptable: Client must accept both application/json and text/event-stream");
    }
    if (!isJsonContentType(req.headers["content-type"])) {
      return this.reject(res, 415, -32000, "Unsupported Media Type: Content-Type must be application/json");
    }
    if (Array.isArray(body) && body.length > MAX_BATCH_SIZE) {
      return this.reject(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
    }
    let messages: JSONRPCMessage[];
    try {
      messages = Array.isArray(body) ? body.map((m) => parseMessage(m)) : [parseMessage(body)];
    } catch {
      return this.reject(res, 400, -32700, "Parse error: Invalid JSON-RPC message");
    }
    if (this.closed) return sendRpcError(res, 404, -32001, "Session not found");

    const init = messages.find((m) => (m as { method?: unknown }).method === "initialize" && isInitializeRequest(m));
    if (init) {
      if (this.initialized && this.sessionId !== undefined) return this.reject(res, 400, -32600, "Invalid Request: Server already initialized");
      if (messages.length > 1) return this.reject(res, 400, -32600, "Invalid Request: Only one initialization request is allowed");
      this.sessionId = this.generateId?.();
      this.initialized = true;
    } else if (!this.sessionOk(req, res) || !this.versionOk(req, res)) {
      return;
    }

    const extra: MessageExtraInfo = { requestInfo: lazyRequestInfo(req) };
    if (!messages.some(isRequest)) {
      for (const m of messages) this.onmessage?.(m, extra);
      res.writeHead(202);
      res.end();
      return;
    }

    const kind = this.mode === "json" ? "json" : this.mode === "auto" && !Array.isArray(body) ? "pending" : "sse";
    const stream: Stream = { res, kind, ids: [], live: true };
    for (const m of messages) {
      if (!isRequest(m)) continue;
      const id = (m as { id: RequestId }).id;
      stream.ids.push(id);
      this.routes.set(id, stream);
    }
    this.streams.add(stream);
    res.once("close", () => this.drop(stream));
    try {
      for (const m of messages) this.onmessage?.(m, extra);
    } catch (error) {
      this.drop(stream);
      for (const id of stream.ids) this.routes.delete(id);
      this.onerror?.(error as Error);
      return sendRpcError(res, 400, -32700, "Parse error", {}, String(error));
    }
    if (!stream.live) return; // already answered (or gone)
    if (stream.kind === "sse") this.openSse(stream, true);
    if (stream.kind !== "json") this.armKeepAlive(stream);
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!headerOf(req, "accept")?.includes("text/event-stream")) {
      return this.reject(res, 406, -32000, "Not Acceptable: Client must accept text/event-stream");
    }
    if (!this.sessionOk(req, res) || !this.versionOk(req, res)) return;
    if (this.standalone) return this.reject(res, 409, -32000, "Conflict: Only one SSE stream is allowed per session");
    const stream: Stream = { res, kind: "sse", ids: [], live: true };
    this.standalone = stream;
    this.streams.add(stream);
    res.once("close", () => this.drop(stream));
    // Headers now, so the client's stream is open before the first event.
    this.openSse(stream, true);
    this.armKeepAlive(stream);
  }

  private delete(req: IncomingMessage, res: ServerResponse): void {
    if (!this.sessionOk(req, res) || !this.versionOk(req, res)) return;
    void this.close().finally(() => {
      res.writeHead(200);
      res.end();
    });
  }

  /** Stateful: initialized, and the request names this session. */
  private sessionOk(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.generateId === undefined) return true;
    if (!this.initialized) {
      this.reject(res, 400, -32000, "Bad Request: Server not initialized");
      return false;
    }
    const id = headerOf(req, "mcp-session-id");
    if (!id) {
      this.reject(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
      return false;
    }
    if (id !== this.sessionId) {
      this.reject(res, 404, -32001, "Session not found");
      return false;
    }
    return true;
  }

  /** An MCP-Protocol-Version header, when sent, must be one the SDK supports. */
  private versionOk(req: IncomingMessage, res: ServerResponse): boolean {
    const v = headerOf(req, "mcp-protocol-version");
    if (v === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(v)) return true;
    this.reject(
      res,
      400,
      -32000,
      `Bad Request: Unsupported protocol version: ${v} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
    );
    return false;
  }

  // ---------------- streams ----------------

  private sseHeaders(): Record<string, string> {
    const h: Record<string, string> = {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    };
    if (this.sessionId !== undefined) h["mcp-session-id"] = this.sessionId;
    return h;
  }

  /** Makes the stream an event stream: headers written (and flushed when nothing follows yet). */
  private openSse(stream: Stream, flush: boolean): void {
    stream.kind = "sse";
    if (stream.res.headersSent) return;
    stream.res.writeHead(200, this.sseHeaders());
    if (flush) stream.res.flushHeaders();
  }

  private armKeepAlive(stream: Stream): void {
    if (this.closed || !Number.isFinite(this.keepAliveMs) || this.keepAliveMs < 1) return;
    stream.keepAlive = setInterval(() => this.write(stream, KEEPALIVE), Math.min(this.keepAliveMs, 2 ** 31 - 1));
    stream.keepAlive.unref();
  }

  /** Writes SSE text; a pending auto answer becomes an event stream here. */
  private write(stream: Stream, text: string): void {
    if (!stream.live) return;
    const res = stream.res;
    if (res.writableEnded || res.destroyed) return this.drop(stream);
    if (stream.kind === "pending") this.openSse(stream, false);
    res.write(text);
  }

  /** Forgets a stream (client gone, or answered): no more writes, no keep-alive. */
  private drop(stream: Stream): void {
    if (!stream.live) return;
    stream.live = false;
    clearInterval(stream.keepAlive);
    this.streams.delete(stream);
    if (this.standalone === stream) this.standalone = undefined;
  }

  /** Ends a stream normally (all answered, or the session closing). */
  private end(stream: Stream): void {
    if (!stream.live) return;
    this.drop(stream);
    const res = stream.res;
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) res.writeHead(200, this.sseHeaders());
    res.end();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message);
    const requestId: RequestId | undefined = response ? (message as { id?: RequestId }).id : options?.relatedRequestId;
    if (requestId === undefined) {
      if (response) throw new Error("Cannot send a response on a standalone SSE stream unless resuming a previous client request");
      if (this.standalone) this.write(this.standalone, `${SSE_PREFIX}${JSON.stringify(message)}\n\n`);
      return;
    }
    const stream = this.routes.get(requestId);
    if (!stream) throw new Error(`No connection established for request ID: ${String(requestId)}`);

    if (!response) {
      if (stream.kind !== "json") this.write(stream, `${SSE_PREFIX}${JSON.stringify(message)}\n\n`);
      return;
    }
    this.answered.set(requestId, message);
    const related = stream.ids.filter((id) => this.routes.get(id) === stream);
    const complete = related.every((id) => this.answered.has(id));
    if (!complete) {
      if (stream.kind !== "json") this.write(stream, `${SSE_PREFIX}${expandDeferred(JSON.stringify(message))}\n\n`);
      return;
    }
    const responses = related.map((id) => this.answered.get(id)!);
    for (const id of related) {
      this.answered.delete(id);
      this.routes.delete(id);
    }
    if (!stream.live) throw new Error(`No connection established for request ID: ${String(requestId)}`);

    if (stream.kind === "json") {
      this.drop(stream);
      const text = JSON.stringify(responses.length === 1 ? responses[0] : responses);
      const parts = deferredParts(text);
      if (parts) return this.writeParts(stream.res, parts, partsByteLength(parts));
      return this.writeJson(stream.res, text);
    }
    const json = JSON.stringify(message);
    const parts = deferredParts(json);
    if (parts) {
      // A large blob: encoded slice by slice as the client reads (deferred-blobs.ts), never whole.
      const bytes = partsByteLength(parts);
      if (stream.kind === "pending" && bytes + SSE_PREFIX.length + 2 <= JSON_ANSWER_MAX) {
        this.drop(stream);
        return this.writeParts(stream.res, parts, bytes);
      }
      if (stream.res.writableEnded || stream.res.destroyed) return this.drop(stream);
      if (stream.kind === "pending") this.openSse(stream, false);
      this.drop(stream); // no keep-alive comment may land inside the event
      return this.writeParts(stream.res, [SSE_PREFIX, ...parts, "\n\n"]);
    }
    if (stream.kind === "pending" && json.length + SSE_PREFIX.length + 2 <= JSON_ANSWER_MAX) {
      const bytes = Buffer.byteLength(json);
      if (bytes + SSE_PREFIX.length + 2 <= JSON_ANSWER_MAX) {
        this.drop(stream);
        return this.writeJson(stream.res, json, bytes);
      }
    }
    this.write(stream, `${SSE_PREFIX}${json}\n\n`);
    this.end(stream);
  }

  /**
   * Writes text and deferred bytes as they drain, then ends the response; with `jsonBytes`,
   * as a JSON answer of that length (headers first). Stops if the client goes away.
   */
  private async writeParts(res: ServerResponse, parts: Array<string | Uint8Array>, jsonBytes?: number): Promise<void> {
    if (res.writableEnded || res.destroyed) return;
    if (jsonBytes !== undefined) {
      const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": jsonBytes };
      if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
      res.writeHead(200, headers);
    }
    for (const text of partsText(parts)) {
      if (res.destroyed) return;
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
    if (!res.destroyed) res.end();
  }

  private writeJson(res: ServerResponse, json: string, bytes = Buffer.byteLength(json)): void {
    if (res.writableEnded || res.destroyed) return;
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": bytes };
    if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
    res.writeHead(200, headers);
    res.end(json);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams]) {
      // A json-mode answer has nothing to end it with (the SDK leaves it open too).
      if (stream.kind === "json") this.drop(stream);
      else this.end(stream);
    }
    this.streams.clear();
    this.answered.clear();
    this.onclose?.();
  }
}
