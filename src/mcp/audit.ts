/**
 * One audit record per mesh tool call: who (principal, roles, client), what
 * (tool.method, node, call id), how it ended (outcome, duration, bytes). Never a token,
 * a secret or the arguments. Field names follow jb-mesh's log record (pkg/logstore:
 * `schema`, `ts`, `level`, `kind: "audit"`, `node`, `tool`, `method`, `corr`,
 * `duration_ms`, `ok`, `message`, `data`), so the record can be published on the
 * mesh's `logs.>` subjects as it is (src/mesh/logstore.ts) and read beside the nodes'.
 */
import type { CallOutcome } from "./bridge.js";
import type { Principal } from "./principal.js";

export const LOG_SCHEMA = "jb.mesh.log.v1";

/** What the call path knows of a call besides its key, outcome and duration. */
export interface AuditDetail {
  node?: string;
  principal?: Principal;
  /** The roles the policy gave the principal (undefined: no policy applied). */
  roles?: readonly string[];
  client?: { name?: string; version?: string };
  callId?: string;
  /** The call's correlation id (jb-mesh `corr`: the nodes' records of the call carry it). */
  corr?: string;
  /** JSON bytes of the arguments sent, and of the result's content returned. */
  bytesIn?: number;
  bytesOut?: number;
  error?: string;
}

export interface AuditRecord {
  schema: typeof LOG_SCHEMA;
  ts: string;
  level: "info" | "warn";
  kind: "audit";
  /** The node that answered; "mesh-mcp" when none did (refused, invalid, unavailable). */
  node: string;
  tool: string;
  method: string;
  /** The call's correlation id (the nodes' and mesh-mcp's log-store records of the call carry it). */
  corr?: string;
  duration_ms: number;
  ok: boolean;
  message: string;
  /** The caller's name (the optional principal field of the mesh log record). */
  principal: string;
  data: {
    principal_id: string;
    principal_source: string;
    roles?: string[];
    client?: string;
    client_version?: string;
    outcome: CallOutcome;
    call_id?: string;
    bytes_in?: number;
    bytes_out?: number;
    error?: string;
  };
}

const ERROR_MAX = 300;

/** The audit record of one finished call (the clock is read here: `ts` is the end). */
export function auditRecord(key: string, outcome: CallOutcome, ms: number, d: AuditDetail, now = new Date()): AuditRecord {
  const dot = key.indexOf(".");
  const tool = dot < 0 ? key : key.slice(0, dot);
  const method = dot < 0 ? "" : key.slice(dot + 1);
  const p = d.principal;
  const who = p?.name ?? "anonymous";
  const ok = outcome === "ok";
  const data: AuditRecord["data"] = { principal_id: p?.id ?? "anonymous", principal_source: p?.source ?? "anonymous", outcome };
  if (d.roles) data.roles = [...d.roles];
  if (d.client?.name) data.client = d.client.name;
  if (d.client?.version) data.client_version = d.client.version;
  if (d.callId) data.call_id = d.callId;
  if (d.bytesIn !== undefined) data.bytes_in = d.bytesIn;
  if (d.bytesOut !== undefined) data.bytes_out = d.bytesOut;
  if (!ok && d.error) data.error = d.error.split("\n")[0]!.slice(0, ERROR_MAX);
  return {
    schema: LOG_SCHEMA,
    ts: now.toISOString(),
    level: ok || outcome === "cancelled" ? "info" : "warn",
    kind: "audit",
    node: d.node || "mesh-mcp",
    tool,
    method,
    ...(d.corr ? { corr: d.corr } : {}),
    duration_ms: Math.round(ms * 1000) / 1000,
    ok,
    message: `${who} called ${key}: ${outcome.replace("_", " ")}`,
    principal: who,
    data,
  };
}

/** The record as flat log fields (JSON log lines; text lines show `message`). */
export function auditFields(r: AuditRecord): Record<string, string | number | boolean | undefined> {
  return {
    audit: true,
    kind: r.kind,
    principal: r.principal,
    principal_id: r.data.principal_id,
    principal_source: r.data.principal_source,
    roles: r.data.roles?.join(","),
    client: r.data.client,
    client_version: r.data.client_version,
    tool: r.tool,
    method: r.method,
    node: r.node,
    corr: r.corr,
    call_id: r.data.call_id,
    outcome: r.data.outcome,
    ok: r.ok,
    duration_ms: r.duration_ms,
    bytes_in: r.data.bytes_in,
    bytes_out: r.data.bytes_out,
    error: r.data.error,
  };
}

/** Bytes of a result's content as the client gets it (text and base64 data), cheaply: no re-serialising. */
export function contentBytes(content: ReadonlyArray<{ type: string; text?: string; data?: string }> | undefined): number {
  let n = 0;
  for (const c of content ?? []) n += (c.text?.length ?? 0) + (c.data?.length ?? 0);
  return n;
}
