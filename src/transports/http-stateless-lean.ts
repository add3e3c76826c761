/**
 * The lean path for 2025-11-25 clients of a `--stateless` server (the scale-out mode):
 * a plain `tools/call` of a mesh tool is answered through one long-lived session's
 * `plainCall` (the same function the stdio fast path uses, stdio-lean.ts) instead of
 * a fresh SDK `Server` per request (its handlers, its validator, the `Protocol`'s zod
 * passes over the request and the result).
 *
 * The HTTP side is unchanged: the request still goes through a fresh
 * StreamableHttpTransport, which makes every check (Accept, Content-Type, the
 * JSON-RPC shape, MCP-Protocol-Version) and frames the answer (JSON, or SSE once
 * progress is sent, keep-alives, --response-mode). Only the dispatch differs. A
 * message that is not plain (plainCall says so before starting anything) is handed
 * to a per-request SDK server as before, and replayed to it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../mcp/log.js";
import type { StreamableHttpTransport } from "./http-transport.js";
import type { Start } from "./stdio-lean.js";

type Id = string | number;

/** A single `tools/call` request: the only body the lean path looks at (a batch, anything else: the SDK's). */
export function isSingleToolsCall(body: unknown): boolean {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const m = body as { method?: unknown; id?: unknown };
  return m.method === "tools/call" && (typeof m.id === "string" || typeof m.id === "number");
}

/**
 * Serves one stateless request on `transport`. `sdk(transport)` connects a per-request
 * SDK server to it (for what is not plain) and resolves once it may receive messages.
 */
export function serveStatelessCall(
  transport: StreamableHttpTransport,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
  start: Start,
  sdk: (transport: StreamableHttpTransport) => Promise<void>,
  log: Logger,
): void {
  const abort = new AbortController();
  let finished = false;
  res.once("close", () => {
    // The client went away before its answer: the call is cancelled on the mesh, as the SDK's per-request server does on close.
    if (!finished) abort.abort();
    void transport.close();
  });
  transport.onerror = (err) => log.debug(`MCP HTTP (stateless): ${err.message}`);
  transport.onmessage = (message: JSONRPCMessage, extra?: MessageExtraInfo) => {
    const m = message as { id?: Id; method?: string; params?: unknown };
    const answer = m.id !== undefined && m.method === "tools/call"
      ? start(m as { id: Id; method: string; params?: unknown }, abort, (n) => (abort.signal.aborted ? Promise.resolve() : transport.send(n, { relatedRequestId: m.id })))
      : undefined;
    if (!answer) {
      transport.onmessage = undefined;
      void sdk(transport).then(
        () => transport.onmessage?.(message, extra),
        (err: Error) => log.debug(`MCP HTTP (stateless): cannot serve request ${String(m.id)}: ${err.message}`),
      );
      return;
    }
    void answer
      .then((reply) => {
        finished = true;
        if (!abort.signal.aborted) return transport.send(reply as JSONRPCMessage);
      })
      .catch((err: Error) => log.debug(`MCP HTTP (stateless): cannot answer request ${String(m.id)}: ${err.message}`));
  };
  transport.handleRequest(req, res, body);
}
