/**
 * jb-mesh's log store, both ways (pkg/logstore: producer.go writes, logstore.go files).
 *
 * Reading: every call a jb-mesh node serves ends with a record on
 * `logs.call.<node>.<tool>.<method>`, published *before* the reply (pkg/node
 * RegisterTool handler, handleStreamRequest). A reply NATS refuses (over the
 * server's max_payload) is dropped without a word (pkg/mesh ignores the Respond
 * error), but the record has gone out: `CallRecords` matches records to calls in
 * flight through the request's `corr` (a value only that call carries) so the call
 * ends with what happened instead of waiting for its timeout.
 *
 * Writing: `CallLog` publishes one record per call made through mesh-mcp, in the
 * producer's own format, on `logs.call.<source>.<tool>.<method>`: the subject the
 * logstore's inference reads right (node, tool and method from the subject when a
 * field is missing; `logs.audit.<x>` would take the tool's name for the node), so
 * `jb-mesh logs tail|query --node <source>` lists the agents' calls beside the
 * nodes' own records, and `--corr <corr>` shows both sides of one call.
 */
import { nuid, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { MeshError } from "./errors.js";
import { scrub } from "./secrets.js";

/** Where the nodes' call records (and ours) go. */
export const CALL_LOG_SUBJECTS = "logs.call.>";

/** After a node's record, how long its reply may still take before the call ends without it. */
export const DEFAULT_REPLY_GRACE_MS = 1500;

/** A record as jb-mesh's producer writes it (`ts` only when given, `duration_ms`/`ok` when set). */
export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  kind: "node" | "tool" | "tool_call" | "event" | "audit" | "system";
  node: string;
  tool: string;
  method: string;
  corr: string;
  message: string;
  data: Record<string, unknown> | null;
  ts?: string;
  duration_ms?: number;
  ok?: boolean;
}

/** What a node logged for one call it served. */
export interface NodeCallRecord {
  node: string;
  tool: string;
  method: string;
  corr: string;
  ok: boolean;
  message: string;
  durationMs?: number;
  /** The error the node logged (request/reply calls that failed). */
  error?: string;
  /** JSON size of the result the node tried to send (request/reply calls with a result). */
  responseBytes?: number;
  /** Frames a stream's node published. */
  frames?: number;
}

/** A fresh correlation id for a call that brings none. */
export function newCorr(): string {
  return nuid.next();
}

const TOKEN_JUNK = /[^a-zA-Z0-9._-]+/g;

/** The logstore's sanitizeNode, used for every token of a log subject. */
export function logToken(s: string): string {
  const t = s.trim().replace(TOKEN_JUNK, "-").replace(/^[-.]+|[-.]+$/g, "");
  return t === "" ? "unknown" : t;
}

/** `logs.call.<node>.<tool>.<method>` (logstore.SubjectFor for kind tool_call). */
export function callLogSubject(node: string, tool: string, method: string): string {
  return `logs.call.${logToken(node)}.${logToken(tool)}.${logToken(method)}`;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A node's call record from a `logs.call.*` message, or undefined when it is not one. */
export function parseNodeCallRecord(subject: string, data: Uint8Array): NodeCallRecord | undefined {
  if (data.length > 256 << 10) return undefined; // a node's record is small; anything else is not one
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const parts = subject.split(".");
  const d = typeof r.data === "object" && r.data !== null && !Array.isArray(r.data) ? (r.data as Record<string, unknown>) : {};
  // Records mesh-mcp publishes are callers' records, not a node's: never match them to calls.
  if (d.served_by !== undefined) return undefined;
  const corr = str(r.corr).trim();
  if (!corr || typeof r.ok !== "boolean") return undefined;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  return {
    node: str(r.node) || parts[2] || "",
    tool: str(r.tool) || parts[3] || "",
    method: str(r.method) || parts[4] || "",
    corr,
    ok: r.ok,
    message: str(r.message),
    durationMs: num(r.duration_ms),
    error: typeof d.error === "string" && d.error !== "" ? d.error : undefined,
    responseBytes: num(d.response_bytes),
    frames: num(d.frames),
  };
}

interface Watcher {
  tool: string;
  method: string;
  node?: string;
  onRecord: (r: NodeCallRecord) => void;
}

/**
 * The nodes' call records, matched to calls in flight by `corr`. Subscribes on the
 * first watch; a NATS account that may not subscribe to `logs.call.>` only loses
 * this help (one warning), never a call.
 */
export class CallRecords {
  private sub?: Subscription;
  private readonly ownPrefix?: string;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private failed = false;

  /** `ownSource`: the token mesh-mcp publishes its own records under (skipped unparsed). */
  constructor(private readonly nc: NatsConnection, private readonly warn: (m: string) => void = () => {}, ownSource?: string) {
    this.ownPrefix = ownSource ? `logs.call.${logToken(ownSource)}.` : undefined;
  }

  /**
   * Calls `onRecord` with the record a node publishes for this call: same `corr`,
   * tool and method (and node, when the call was sent to one). A record that more than
   * one call in flight could own is given to none. Returns the function that stops watching.
   */
  watch(corr: string, tool: string, method: string, node: string | undefined, onRecord: (r: NodeCallRecord) => void): () => void {
    this.start();
    const w: Watcher = { tool, method, node, onRecord };
    let set = this.watchers.get(corr);
    if (!set) this.watchers.set(corr, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0 && this.watchers.get(corr) === set) this.watchers.delete(corr);
    };
  }

  private start(): void {
    if (this.sub || this.failed || this.nc.isClosed()) return;
    try {
      this.sub = this.nc.subscribe(CALL_LOG_SUBJECTS, {
        callback: (err, msg) => {
          if (err) {
            this.failed = true;
            this.sub = undefined;
            this.warn(`cannot read the nodes' call records on ${CALL_LOG_SUBJECTS} (${err.message}): a call whose reply NATS drops waits for --call-timeout. Allow this subscription to mesh-mcp's NATS user.`);
            return;
          }
          if (this.watchers.size === 0 || (this.ownPrefix && msg.subject.startsWith(this.ownPrefix))) return;
          const rec = parseNodeCallRecord(msg.subject, msg.data);
          if (rec) this.deliver(rec);
        },
      });
    } catch (err) {
      this.failed = true;
      this.warn(`cannot subscribe to ${CALL_LOG_SUBJECTS}: ${(err as Error).message}`);
    }
  }

  private deliver(rec: NodeCallRecord): void {
    const set = this.watchers.get(rec.corr);
    if (!set) return;
    const owners = [...set].filter((w) => w.tool === rec.tool && w.method === rec.method && (w.node === undefined || w.node === rec.node));
    if (owners.length === 1) owners[0]!.onRecord(rec);
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.watchers.clear();
  }
}

/** The node finished the call and logged it, but its reply (or final frame) never came. */
export class ReplyDroppedError extends MeshError {
  override name = "ReplyDroppedError";
  constructor(readonly record: NodeCallRecord, readonly maxPayload: number | undefined, readonly graceMs: number, readonly stream = false) {
    super(droppedText(record, maxPayload, graceMs, stream));
  }
}

/** Bytes a CallResult adds around the result: `{"ok":true,"result":…,"node":"<node>"}`. */
const REPLY_OVERHEAD = 32;

function droppedText(r: NodeCallRecord, maxPayload: number | undefined, graceMs: number, stream: boolean): string {
  const took = r.durationMs !== undefined ? ` after ${Math.round(r.durationMs)} ms` : "";
  const where = `node ${r.node} finished ${r.tool}.${r.method}${took}`;
  if (stream) {
    const frames = r.frames !== undefined ? ` (${r.frames} frames sent)` : "";
    const why = !r.ok && maxPayload
      ? `: a frame could not be published, most likely over the NATS server's max_payload of ${maxPayload} bytes. Raise max_payload, or have the tool return a file (attach_file) instead of inline data.`
      : ", and no final frame arrived. The tool probably returned None (a stream must return a value), or its final frame was lost.";
    return `${where}${frames} according to its log${why}`;
  }
  if (r.ok && r.responseBytes !== undefined && maxPayload !== undefined && r.responseBytes + REPLY_OVERHEAD + r.node.length > maxPayload) {
    return `the result was ${r.responseBytes} bytes, over the NATS server's max_payload of ${maxPayload}: NATS refused the reply and the node dropped it (${where}). Raise max_payload in the nats-server configuration, or have the tool return a file (attach_file) instead of inline data.`;
  }
  if (!r.ok) {
    return `${r.tool}.${r.method} failed on node ${r.node}${took}, and its error reply never arrived; the node logged: ${r.error ?? r.message}`;
  }
  const size = r.responseBytes !== undefined ? ` a result of ${r.responseBytes} bytes` : " its result";
  return `${where} and logged${size}, but no reply arrived within ${graceMs} ms of that: the reply was lost (a result that cannot be encoded, e.g. NaN, is dropped by the node). Retry; if it keeps happening, check the tool's result.`;
}

/**
 * What the node's record adds to a failed reply's error text: its own error when it
 * says something the reply does not, and how long the node worked on the call when
 * that was long enough to matter. Empty when it adds nothing.
 */
export function recordAddendum(replyError: string, r: NodeCallRecord | undefined): string {
  if (!r || r.ok) return "";
  const parts: string[] = [];
  if (r.error && !replyError.includes(r.error.trim())) parts.push(r.error);
  if (r.durationMs !== undefined && r.durationMs >= 1000) parts.push(`failed after ${(r.durationMs / 1000).toFixed(1)} s of work on the node`);
  return parts.length ? `\n(node ${r.node}'s log: ${parts.join("; ")})` : "";
}

// ---------------- writing ----------------

/** Who called, as the identity layer knows it (a Principal's name and roles). */
export interface CallerIdentity {
  name: string;
  roles?: string[];
}

/** One call made through mesh-mcp, as it ended. */
export interface CallLogEntry {
  tool: string;
  method: string;
  /** The node that served it (or was asked to), when known. */
  node?: string;
  corr: string;
  durationMs: number;
  ok: boolean;
  /** How it ended: ok, error, timeout, cancelled, no_responders, invalid, unavailable… */
  outcome: string;
  /** The error the agent was given (scrubbed of secrets; cut to a few KiB). */
  error?: string;
  principal?: CallerIdentity;
  stream?: boolean;
}

/** The logstore keeps messages up to 4 KiB and data up to 32 KiB; stay well inside. */
const ERROR_MAX = 2048;

/** The record `CallLog` publishes for an entry (jb-mesh's producer format). */
export function callLogRecord(source: string, e: CallLogEntry, now = new Date()): LogRecord {
  const data: Record<string, unknown> = { served_by: e.node ?? "", outcome: e.outcome };
  if (e.stream) data.stream = true;
  if (e.principal) {
    data.principal = e.principal.name;
    if (e.principal.roles?.length) data.roles = [...e.principal.roles];
  }
  if (e.error !== undefined) {
    const text = scrub(e.error);
    data.error = text.length > ERROR_MAX ? `${text.slice(0, ERROR_MAX)}… (${text.length - ERROR_MAX} more characters)` : text;
  }
  const who = e.principal ? ` for ${e.principal.name}` : "";
  const where = e.node ? ` on ${e.node}` : "";
  const rec: LogRecord = {
    level: e.ok ? "info" : "error",
    kind: "tool_call",
    node: source,
    tool: e.tool,
    method: e.method,
    corr: e.corr,
    message: `${e.tool}.${e.method} ${e.ok ? "completed" : e.outcome === "error" ? "failed" : e.outcome}${where}${who}`,
    data,
    ts: now.toISOString(),
    ok: e.ok,
  };
  if (e.durationMs > 0) rec.duration_ms = e.durationMs;
  return rec;
}

/** How long records wait to go out together (they are a log, not on any call's path). */
export const CALL_LOG_BATCH_MS = 25;

/**
 * Publishes one record per call on `logs.call.<source>.<tool>.<method>` (best effort,
 * like BestEffortPublish). Records go out in batches, off the calls' path: a publish
 * (and its echo on our own `logs.call.>` subscription) per call cost ~0.2 ms of latency
 * on sequential calls; `close` sends what is left.
 */
export class CallLog {
  private queue: Array<{ subject: string; body: Uint8Array }> = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly nc: NatsConnection, readonly source: string) {}

  publish(e: CallLogEntry): void {
    if (this.nc.isClosed()) return;
    try {
      this.queue.push({ subject: callLogSubject(this.source, e.tool, e.method), body: encoder.encode(JSON.stringify(callLogRecord(this.source, e))) });
    } catch {
      return; // best effort: a log record never fails a call
    }
    this.timer ??= setTimeout(() => this.flush(), CALL_LOG_BATCH_MS);
  }

  /** Sends the records waiting now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    for (const r of batch) {
      try {
        if (!this.nc.isClosed()) this.nc.publish(r.subject, r.body);
      } catch {
        /* best effort */
      }
    }
  }
}
