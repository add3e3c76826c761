/**
 * The lean 2026-07-28 path for the everyday request, a plain `tools/call` of a mesh
 * tool, shared by HTTP (http-modern-lean.ts) and stdio (stdio-lean.ts). The
 * SDK's per-request machinery (dispatch, zod parsing; over HTTP also web
 * Request/Response) cost 0.1–0.4 ms CPU a call; this answers the same request with the
 * same bytes from the same tool code (modern.ts → tools.ts), after the same checks.
 *
 * It takes only what it is sure the SDK would accept and answer as a plain call:
 * anything else — bad params (-32602), tasks (a `task` param, or a client declaring any
 * extension), input-required continuations, built-ins, unknown tools, a mesh not ready,
 * an envelope the SDK's classifier does not call modern — returns undefined and goes
 * to the SDK path unchanged, which gives its own answer or error.
 */
import { classifyInboundRequest, CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY } from "@modelcontextprotocol/server";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "../mcp/bridge.js";
import type { Principal } from "../mcp/principal.js";
import { MODERN_SERVER_INFO, plainMeshCall } from "../mcp/modern.js";
import type { Start } from "./stdio-lean.js";

export const REVISION = "2026-07-28";
/** The params keys of a plain call; any other (task, inputResponses, requestState…) is the SDK's to handle. */
const PLAIN_KEYS = new Set(["name", "arguments", "_meta"]);
/** A JSON-RPC request's keys (the SDK's request schema is strict). */
const REQUEST_KEYS = new Set(["jsonrpc", "id", "method", "params"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export type SendProgress = (progress: number, total?: number, message?: string) => Promise<void>;

export interface PlainCall {
  id: string | number;
  /** The tool name (HTTP checks it against Mcp-Name). */
  name: string;
  progressToken?: string | number;
  /** Runs the call; `abort` is the caller's (it cancels the call on the mesh). */
  run(abort: AbortController, sendProgress: SendProgress): Promise<Record<string, unknown>>;
}

/** The standard headers of an HTTP request (absent on stdio, where the body is the only signal). */
export interface ModernHeaders {
  protocolVersionHeader?: string;
  mcpMethodHeader?: string;
  mcpNameHeader?: string;
}

/** `body` as a plain 2026 call of a mesh tool, else undefined (the SDK's to answer). */
export function plainModernCall(bridge: Bridge, body: unknown, headers: ModernHeaders = {}, principal?: Principal): PlainCall | undefined {
  if (!isObject(body) || body.jsonrpc !== "2.0" || body.method !== "tools/call") return undefined;
  for (const key in body) if (!REQUEST_KEYS.has(key)) return undefined;
  const id = body.id;
  if (!(typeof id === "string" || Number.isSafeInteger(id))) return undefined;
  const params = body.params;
  if (!isObject(params)) return undefined;
  for (const key in params) if (!PLAIN_KEYS.has(key)) return undefined;
  const { name, arguments: args, _meta: meta } = params;
  if (typeof name !== "string" || !(args === undefined || isObject(args)) || !isObject(meta)) return undefined;
  const info = meta[CLIENT_INFO_META_KEY] as { name?: unknown; version?: unknown } | undefined;
  if (meta[PROTOCOL_VERSION_META_KEY] !== REVISION) return undefined;
  // A declared extension may change how a call is answered (the tasks extension turns an
  // eligible call into a task, server-side): only calls from clients without one are ours.
  const caps = meta[CLIENT_CAPABILITIES_META_KEY];
  if (caps !== undefined && !isObject(caps)) return undefined;
  const extensions = caps?.extensions;
  if (extensions !== undefined && !(isObject(extensions) && Object.keys(extensions).length === 0)) return undefined;
  if (!modernEnvelope(body, meta, headers)) return undefined;
  // The caller's principal: the same policy check as the SDK path's (a hidden tool goes there, and is unknown).
  const call = plainMeshCall(bridge, name, principal);
  if (!call) return undefined;
  const token = meta.progressToken;
  const progressToken = typeof token === "string" || typeof token === "number" ? token : undefined;
  return {
    id: id as string | number,
    name,
    progressToken,
    run: (abort, sendProgress) =>
      call((args ?? {}) as Record<string, unknown>, {
        signal: abort.signal, abort: (reason) => abort.abort(reason), progressToken, meta, sendProgress,
        client: isObject(info) ? { name: typeof info.name === "string" ? info.name : undefined, version: typeof info.version === "string" ? info.version : undefined } : undefined,
      }),
  };
}

/**
 * The SDK classifier's verdicts on envelopes seen before. Its zod passes (the request,
 * and the result/error response shapes it tries and fails first) cost ~0.025 ms a call
 * here, and a client sends the same envelope call after call. Given the shape checked
 * above (request keys, id, method, params an object), the verdict depends only on the
 * headers and `_meta`, so equal JSON of those gets the same verdict.
 */
const verdicts = new Map<string, boolean>();
const VERDICTS_MAX = 256;
const VERDICT_KEY_MAX = 4096;

/** The envelope's own checks (clientInfo/clientCapabilities shapes, header cross-checks). */
function modernEnvelope(body: Record<string, unknown>, meta: Record<string, unknown>, headers: ModernHeaders): boolean {
  const key = `${headers.protocolVersionHeader ?? ""}\n${headers.mcpMethodHeader ?? ""}\n${headers.mcpNameHeader ?? ""}\n${JSON.stringify(meta)}`;
  const known = verdicts.get(key);
  if (known !== undefined) return known;
  const modern = classifyInboundRequest({ httpMethod: "POST", ...headers, body }).kind === "modern";
  if (key.length <= VERDICT_KEY_MAX) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear();
    verdicts.set(key, modern);
  }
  return modern;
}

/** The progress notification the SDK sends for `ctx.mcpReq.notify` (same keys, same order). */
export function progressNotification(progressToken: string | number, progress: number, total?: number, message?: string): Record<string, unknown> {
  const params: Record<string, unknown> = { progressToken, progress };
  if (total !== undefined) params.total = total;
  if (message !== undefined) params.message = message;
  return { jsonrpc: "2.0", method: "notifications/progress", params };
}

/** The answer the SDK's Protocol sends for a handler's result or throw, in its key order. */
export async function modernReply(call: PlainCall, abort: AbortController, sendProgress: SendProgress): Promise<Record<string, unknown>> {
  try {
    const result = await call.run(abort, sendProgress);
    return { result: stamp(result), jsonrpc: "2.0", id: call.id };
  } catch (err) {
    // As the SDK answers a handler's throw: its code when it is a protocol error, else -32603.
    const code = typeof (err as { code?: unknown })?.code === "number" ? (err as { code: number }).code : -32603;
    return { jsonrpc: "2.0", id: call.id, error: { code, message: err instanceof Error ? err.message : String(err) } };
  }
}

/** What the SDK's encoder adds to every 2026 result: its type and the server's identity. */
function stamp(result: Record<string, unknown>): Record<string, unknown> {
  const out = result.resultType === undefined ? { ...result, resultType: "complete" } : result;
  const meta = out._meta;
  if (meta === undefined) return { ...out, _meta: { [SERVER_INFO_META_KEY]: MODERN_SERVER_INFO } };
  if (!isObject(meta) || meta[SERVER_INFO_META_KEY] !== undefined) return out;
  return { ...out, _meta: { ...meta, [SERVER_INFO_META_KEY]: MODERN_SERVER_INFO } };
}

/** stdio (stdio-lean.ts): the plain calls above, answered as the SDK's pinned instance would. */
export function modernStdioStart(bridge: Bridge, principal?: Principal): Start {
  return (request, abort, send) => {
    const call = plainModernCall(bridge, request, {}, principal);
    if (!call) return undefined;
    const sendProgress = async (progress: number, total?: number, message?: string) => {
      if (call.progressToken !== undefined) await send(progressNotification(call.progressToken, progress, total, message) as JSONRPCMessage);
    };
    return modernReply(call, abort, sendProgress);
  };
}
