/**
 * The lean 2026-07-28 path over HTTP (see modern-lean.ts): a POST that is exactly a
 * plain `tools/call` of a mesh tool, with the standard headers equal to the body, is
 * answered here instead of by the SDK's per-request server. Any header mismatch or
 * encoding (the SDK's -32020, a Base64 `Mcp-Name`) is the SDK's to decode or reject.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Bridge } from "../mcp/bridge.js";
import type { Principal } from "../mcp/principal.js";
import { modernReply, plainModernCall, progressNotification, REVISION, type PlainCall } from "./modern-lean.js";

const SSE_HEADERS = {
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "content-type": "text/event-stream",
  "x-accel-buffering": "no",
};

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim();
}

/**
 * The answer to `body` when it is a plain 2026 call of a mesh tool, else undefined.
 * `mode` is --response-mode: `json` drops mid-call progress in the SDK, left to it.
 */
export function leanToolCall(bridge: Bridge, req: IncomingMessage, body: unknown, mode: "auto" | "sse" | "json", principal?: Principal): ((res: ServerResponse, shutdown: AbortSignal) => Promise<void>) | undefined {
  if (mode === "json") return undefined;
  // The SDK's standard-header checks, as exact equalities.
  const protocolVersionHeader = header(req, "mcp-protocol-version");
  const mcpMethodHeader = header(req, "mcp-method");
  const mcpNameHeader = header(req, "mcp-name");
  if (protocolVersionHeader !== REVISION || mcpMethodHeader !== "tools/call" || mcpNameHeader === undefined || mcpNameHeader.startsWith("=?")) return undefined;
  if (!/^application\/json\s*(;|$)/i.test(header(req, "content-type") ?? "")) return undefined;
  const call = plainModernCall(bridge, body, { protocolVersionHeader, mcpMethodHeader, mcpNameHeader }, principal);
  if (!call || call.name !== mcpNameHeader) return undefined;
  return (res, shutdown) => answer(res, shutdown, call, mode === "sse");
}

/**
 * Runs the call and answers like the SDK's per-request transport in auto mode: one
 * JSON body with a Content-Length, unless progress is sent first — then an SSE stream
 * on this request's response carrying the progress and the result. The client closing
 * the response aborts the call (→ cancel.<call_id> on the mesh); so does `shutdown`
 * (the server closing), and then the client still gets what the call returned.
 */
async function answer(res: ServerResponse, shutdown: AbortSignal, call: PlainCall, alwaysSse: boolean): Promise<void> {
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
    if (call.progressToken === undefined || clientGone || res.destroyed) return;
    event(progressNotification(call.progressToken, progress, total, message));
  };
  const reply = await modernReply(call, abort, sendProgress);
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
