/**
 * The stdio fast path, both revisions: a plain `tools/call` of a mesh tool is answered
 * here, beside the SDK, with the lines the SDK would write — progress notifications,
 * then the result — and nothing after a `notifications/cancelled` for it (the cancel
 * reaches the node as `cancel.<call_id>`), as the SDK does. What is plain is decided
 * by `start` (2026: modern-lean.ts's `modernStdioStart`, loaded with the v2 SDK; 2025:
 * the session's `plainCall`); every other message goes on to the SDK.
 */
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "../mcp/bridge.js";
import type { Session } from "../mcp/server.js";

type Id = string | number;

/**
 * Why a fast-path call's controller was aborted by this side: the client cancelled it
 * or left. Only then is the call unanswered; every other abort of the same controller
 * (--call-timeout, the node's death, shutdown) ends the call with an answer.
 */
const CLIENT_ENDED = new Error("the client cancelled the call or closed the connection");
const endedByClient = (abort: AbortController) => abort.signal.aborted && abort.signal.reason === CLIENT_ENDED;
type Send = (m: JSONRPCMessage) => Promise<void>;
/** Starts the call when `request` is plain (resolving to its answer), else undefined. */
export type Start = (request: { id: Id; method: string; params?: unknown }, abort: AbortController, send: Send) => Promise<Record<string, unknown>> | undefined;

export class StdioLeanCalls {
  private readonly running = new Map<Id, AbortController>();

  constructor(private readonly start: Start, private readonly send: Send, private readonly log: Bridge["log"]) {}

  /** True when the message was ours (a plain call, or the cancel of one): the SDK must not see it. */
  inbound(message: JSONRPCMessage): boolean {
    const m = message as { id?: Id; method?: unknown; params?: { requestId?: Id } };
    if (m.method === "notifications/cancelled" && m.id === undefined) {
      const abort = this.running.get(m.params?.requestId as Id);
      if (!abort) return false;
      abort.abort(CLIENT_ENDED);
      this.running.delete(m.params!.requestId as Id);
      return true;
    }
    // A reused id of a call still running here is the SDK's to answer (our map would clash).
    if (m.method !== "tools/call" || m.id === undefined || this.running.has(m.id)) return false;
    const abort = new AbortController();
    const live: Send = (n) => (endedByClient(abort) ? Promise.resolve() : this.send(n));
    const answer = this.start(m as { id: Id; method: string }, abort, live);
    if (!answer) return false;
    const id = m.id;
    this.running.set(id, abort);
    void answer.then(async (reply) => {
      if (this.running.get(id) === abort) this.running.delete(id);
      if (!endedByClient(abort)) await this.send(reply as JSONRPCMessage);
    }).catch((err: Error) => this.log.debug(`MCP stdio: cannot answer request ${String(id)}: ${err.message}`));
    return true;
  }

  /** The connection ended: stop what still runs (nobody is left to read the answers). */
  close(): void {
    for (const abort of this.running.values()) abort.abort(CLIENT_ENDED);
    this.running.clear();
  }
}

/** 2025-11-25: the session's plain calls, answered as the v1 SDK's Protocol would (same keys, same order). */
export function sessionStart(session: Session): Start {
  return (request, abort, send) => {
    // The SDK's notification(): `{ ...notification, jsonrpc }`.
    const running = session.plainCall(request.params, abort, (n) => send({ ...n, jsonrpc: "2.0" } as JSONRPCMessage), request.id);
    if (!running) return undefined;
    return running.then(
      (result) => ({ result, jsonrpc: "2.0", id: request.id }),
      (err: Error & { code?: unknown; data?: unknown }) => ({
        jsonrpc: "2.0",
        id: request.id,
        error: { code: Number.isSafeInteger(err.code) ? err.code : -32603, message: err.message ?? "Internal error", ...(err.data !== undefined && { data: err.data }) },
      }),
    );
  };
}
