/**
 * The lean 2026-07-28 path for the everyday request: a plain `tools/call` of a mesh
 * tool. The SDK's per-request server (dispatch, zod parsing, web Request/Response)
 * cost ~0.4 ms CPU a call; this answers the same request with the same bytes from
 * the same tool code (modern.ts → tools.ts), after the same checks.
 *
 * It takes only what it is sure the SDK would accept and answer as a plain call:
 * anything else — a mismatch or missing header (the SDK's -32020), bad params
 * (-32602), tasks (a `task` param, or a client declaring any extension), input-required
 * continuations, built-ins, unknown tools, a mesh not ready — returns undefined and goes to the SDK path unchanged, which gives its
 * own answer or error.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { classifyInboundRequest, CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY } from "@modelcontextprotocol/server";
import type { Bridge } from "../mcp/bridge.js";
import { MODERN_SERVER_INFO, plainMeshCall } from "../mcp/modern.js";

const REVISION = "2026-07-28";
/** The params keys of a plain call; any other (task, inputResponses, requestState…) is the SDK's to handle. */
const PLAIN_KEYS = new Set(["name", "arguments", "_meta"]);
const SSE_HEADERS = {
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "content-type": "text/event-stream",
  "x-accel-buffering": "no",
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim();
}

/**
 * The answer to `body` when it is a plain 2026 call of a mesh tool, else undefined.
 * `mode` is --response-mode: `json` drops mid-call progress in the SDK, left to it.
 */
export function leanToolCall(bridge: Bridge, req: IncomingMessage, body: unknown, mode: "auto" | "sse" | "json"): ((res: ServerResponse, shutdown: AbortSignal) => Promise<void>) | undefined {
  if (mode === "json" || !isObject(body) || body.jsonrpc !== "2.0" || body.method !== "tools/call") return undefined;
  const id = body.id;
  if (!(typeof id === "string" || typeof id === "number") || "result" in body || "error" in body) return undefined;
  const params = body.params;
  if (!isObject(params)) return undefined;
  for (const key in params) if (!PLAIN_KEYS.has(key)) return undefined;
  const { name, arguments: args, _meta: meta } = params;
  if (typeof name !== "string" || !(args === undefined || isObject(args)) || !isObject(meta)) return undefined;
  if (meta[PROTOCOL_VERSION_META_KEY] !== REVISION) return undefined;
  // A declared extension may change how a call is answered (the tasks extension turns an
  // eligible call into a task, server-side): only calls from clients without one are ours.
  const caps = meta[CLIENT_CAPABILITIES_META_KEY];
  if (caps !== undefined && !isObject(caps)) return undefined;
  const extensions = caps?.extensions;
  if (extensions !== undefined && !(isObject(extensions) && Object.keys(extensions).length === 0)) return undefined;
  // The SDK's standard-header checks, as exact equalities: a Base64-encoded Mcp-Name
  // (`=?base64?…`) or any difference is the SDK's to decode or reject.
  const versionHeader = header(req, "mcp-protocol-version");
  const methodHeader = header(req, "mcp-method");
  const nameHeader = header(req, "mcp-name");
  if (versionHeader !== REVISION || methodHeader !== "tools/call" || nameHeader !== name || name.startsWith("=?")) return undefined;
  if (!/^application\/json\s*(;|$)/i.test(header(req, "content-type") ?? "")) return undefined;
  // The envelope's own checks (clientInfo/clientCapabilities shapes, header cross-checks).
  const outcome = classifyInboundRequest({ httpMethod: "POST", protocolVersionHeader: versionHeader, mcpMethodHeader: methodHeader, mcpNameHeader: nameHeader, body });
  if (outcome.kind !== "modern") return undefined;
  const call = plainMeshCall(bridge, name);
  if (!call) return undefined;
  const token = meta.progressToken;
  const progressToken = typeof token === "string" || typeof token === "number" ? token : undefined;
  return (res, shutdown) => answer(res, shutdown, id, progressToken, mode === "sse", (signal, sendProgress) =>
    call((args ?? {}) as Record<string, unknown>, { signal, progressToken, meta, sendProgress }));
}

type Run = (signal: AbortSignal, sendProgress: (progress: number, total?: number, message?: string) => Promise<void>) => Promise<Record<string, unknown>>;

/**
 * Runs the call and answers like the SDK's per-request transport in auto mode: one
 * JSON body with a Content-Length, unless progress is sent first — then an SSE stream
 * on this request's response carrying the progress and the result. The client closing
 * the response aborts the call (→ cancel.<call_id> on the mesh); so does `shutdown`
 * (the server closing), and then the client still gets what the call returned.
 */
async function answer(res: ServerResponse, shutdown: AbortSignal, id: string | number, progressToken: string | number | undefined, alwaysSse: boolean, run: Run): Promise<void> {
  const abort = new AbortController();
  let finished = false;
  let clientGone = false;
  res.once("close", () => {
    if (finished) return;
    clientGone = true;
    abort.abort();
  });
  const stop = () => abort.abort();
  shutdown.addEventListener("abort", stop, { once: true });
  if (shutdown.aborted) abort.abort();
  let streaming = false;
  const event = (message: unknown) => {
    if (!streaming) {
      streaming = true;
      res.writeHead(200, SSE_HEADERS);
    }
    res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  };
  const sendProgress = async (progress: number, total?: number, message?: string) => {
    if (progressToken === undefined || clientGone || res.destroyed) return;
    const params: Record<string, unknown> = { progressToken, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = message;
    event({ jsonrpc: "2.0", method: "notifications/progress", params });
  };
  let reply: Record<string, unknown>;
  try {
    const result = await run(abort.signal, sendProgress);
    reply = { result: stamp(result), jsonrpc: "2.0", id };
  } catch (err) {
    // As the SDK answers a handler's throw: its code when it is a protocol error, else -32603.
    const code = typeof (err as { code?: unknown })?.code === "number" ? (err as { code: number }).code : -32603;
    reply = { jsonrpc: "2.0", id, error: { code, message: err instanceof Error ? err.message : String(err) } };
  }
  finished = true;
  shutdown.removeEventListener("abort", stop);
  if (clientGone || res.destroyed) {
    res.end();
    return;
  }
  if (streaming || alwaysSse) {
    event(reply);
    res.end();
    return;
  }
  const bytes = Buffer.from(JSON.stringify(reply));
  res.writeHead(200, { "content-type": "application/json", "content-length": String(bytes.length) });
  res.end(bytes);
}

/** What the SDK's encoder adds to every 2026 result: its type and the server's identity. */
function stamp(result: Record<string, unknown>): Record<string, unknown> {
  const out = result.resultType === undefined ? { ...result, resultType: "complete" } : result;
  const meta = out._meta;
  if (meta === undefined) return { ...out, _meta: { [SERVER_INFO_META_KEY]: MODERN_SERVER_INFO } };
  if (!isObject(meta) || meta[SERVER_INFO_META_KEY] !== undefined) return out;
  return { ...out, _meta: { ...meta, [SERVER_INFO_META_KEY]: MODERN_SERVER_INFO } };
}
