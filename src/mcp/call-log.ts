/**
 * One record per mesh tool call in jb-mesh's own log store (`jb-mesh logs tail`):
 * which agent called what, on which node, how long it took and how it ended, beside
 * the nodes' own records of the same call (same `corr`). Arguments and results are
 * never in it, nor the MCP session id (a capability on HTTP); error texts are scrubbed of secrets.
 */
import type { CallerIdentity } from "../mesh/index.js";
import type { Bridge, CallOutcome } from "./bridge.js";

export interface CallRecordInput {
  tool: string;
  method: string;
  node?: string;
  corr: string;
  ms: number;
  outcome: CallOutcome;
  error?: string;
  stream?: boolean;
  /** Who called (the identity layer's Principal name and roles), when known. */
  principal?: CallerIdentity;
}

export function publishCallRecord(bridge: Bridge, c: CallRecordInput): void {
  bridge.mesh?.callLog.publish({
    tool: c.tool,
    method: c.method,
    node: c.node,
    corr: c.corr,
    durationMs: c.ms,
    ok: c.outcome === "ok",
    outcome: c.outcome,
    error: c.error,
    stream: c.stream,
    principal: c.principal,
  });
}
