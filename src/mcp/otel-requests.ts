/**
 * A SERVER span per MCP request (OpenTelemetry MCP semantic conventions): every request
 * a session's SDK server dispatches — initialize, tools/list, resources/*, completion,
 * tasks/*, events/*, server/discover, built-in tools … — passes its one request-handler
 * map, so wrapping that map once per server covers them all (the 2025 SDK's and the
 * 2026 SDK's servers keep their handlers the same way; rpc-errors.ts wraps it too).
 * A tools/call of a mesh tool hands its request span to callMeshTool (requestSpanOf),
 * whose mesh-call span goes under it. The fast paths (stdio, lean HTTP) skip the SDK
 * dispatch: callMeshTool opens their request span itself, as before.
 *
 * Free when off: servers built while OTEL_* asks for no traces are not wrapped at all.
 */
import { tracer, tracingWanted, type RequestInfo, type RequestSpan } from "./otel.js";

type Handler = (request: unknown, extra: unknown) => unknown;

/** The open span of each request being handled, by the handler's extra/context object. */
const spans = new WeakMap<object, RequestSpan>();

/** The span otel-requests.ts opened for the request this handler `extra` (2025) or `ctx` (2026) belongs to. */
export function requestSpanOf(extra: unknown): RequestSpan | undefined {
  return tracer && typeof extra === "object" && extra !== null ? spans.get(extra) : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** Method, target, id, session and resource of one request (2025: extra.requestId/sessionId; 2026: ctx.mcpReq.id, ctx.sessionId). */
function describe(method: string, request: unknown, extra: unknown): RequestInfo {
  const params = isObject(request) && isObject(request.params) ? request.params : undefined;
  const x = isObject(extra) ? extra : {};
  const id = isObject(request) && (typeof request.id === "string" || typeof request.id === "number") ? request.id
    : typeof x.requestId === "string" || typeof x.requestId === "number" ? x.requestId
    : isObject(x.mcpReq) && (typeof x.mcpReq.id === "string" || typeof x.mcpReq.id === "number") ? x.mcpReq.id : undefined;
  const target = (method === "tools/call" || method === "prompts/get") && typeof params?.name === "string" ? params.name : undefined;
  const resource = method.startsWith("resources/") && typeof params?.uri === "string" ? params.uri : undefined;
  return {
    method,
    ...(target !== undefined ? { target } : {}),
    ...(id !== undefined ? { requestId: id } : {}),
    ...(typeof x.sessionId === "string" ? { session: x.sessionId } : {}),
    ...(resource !== undefined ? { resource } : {}),
  };
}

/** The client's trace context: `_meta.traceparent`, else the HTTP request's `traceparent` header (2025 SDK: extra.requestInfo). */
function parentOf(request: unknown, extra: unknown): { traceparent?: string; tracestate?: string } {
  const params = isObject(request) && isObject(request.params) ? request.params : undefined;
  const meta = isObject(params?._meta) ? params._meta : undefined;
  if (typeof meta?.traceparent === "string") {
    return { traceparent: meta.traceparent, ...(typeof meta.tracestate === "string" ? { tracestate: meta.tracestate } : {}) };
  }
  const info = isObject(extra) && isObject(extra.requestInfo) ? extra.requestInfo : undefined;
  const headers = isObject(info?.headers) ? info.headers : undefined;
  if (typeof headers?.traceparent === "string") {
    return { traceparent: headers.traceparent, ...(typeof headers.tracestate === "string" ? { tracestate: headers.tracestate } : {}) };
  }
  return {};
}

/**
 * Wraps every request handler `server` holds (call after the last setRequestHandler of
 * ours; ones the SDK adds later are wrapped as they are set) in a request span, when
 * tracing was asked for; a no-op otherwise.
 */
export function traceRequests(server: object): void {
  if (!tracingWanted) return;
  const handlers = (server as { _requestHandlers?: Map<string, Handler> })._requestHandlers;
  if (!(handlers instanceof Map)) return;
  const wrap = (method: string, handler: Handler): Handler => (request: unknown, extra: unknown) => {
    const t = tracer;
    if (!t) return handler(request, extra); // the SDK is still loading
    const span = t.startRequest(describe(method, request, extra), parentOf(request, extra));
    if (isObject(extra)) spans.set(extra, span);
    let answer: Promise<unknown>;
    try {
      answer = Promise.resolve(handler(request, extra));
    } catch (err) {
      span.end(undefined, err);
      throw err;
    }
    return answer.then(
      (result) => (span.end(result), result),
      (err: unknown) => {
        span.end(undefined, err ?? new Error("rejected"));
        throw err;
      },
    );
  };
  const set = handlers.set.bind(handlers);
  for (const [method, handler] of handlers) set(method, wrap(method, handler));
  // Handlers the serving entry adds later (the 2026 SDK installs server/discover when it serves) are wrapped as they come.
  handlers.set = (method: string, handler: Handler) => set(method, wrap(method, handler));
}
