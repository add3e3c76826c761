/**
 * The pure half of durable tasks: ids, owner hashes, the record kept in the KV
 * bucket, and folding a task's captured frames into its outcome. No NATS here, so
 * every rule is unit-testable.
 */
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { CallResultWire, StreamFrameWire } from "./types.js";

export type TaskStatus = "working" | "completed" | "failed" | "cancelled";

export function isTerminalStatus(s: TaskStatus): boolean {
  return s !== "working";
}

/** 128 random bits, base64url: a valid KV key and subject token, unguessable. */
export function newTaskId(): string {
  return randomBytes(16).toString("base64url");
}

/** A task id as we issue them; anything else is "not found" without a NATS round trip. */
export function isTaskId(s: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(s);
}

/**
 * The owner as stored: a salted SHA-256 (128 bits, hex). The identity itself (a
 * bearer token, a process id) never reaches NATS, and the hash is the first token of
 * the record's key, so another identity simply finds no such key.
 */
export function ownerHash(identity: string): string {
  return createHash("sha256").update("mesh-mcp task owner\n").update(identity).digest("hex").slice(0, 32);
}

export function recordKey(owner: string, id: string): string {
  return `${owner}.${id}`;
}

/** Longest progress text kept in a record (records stay far below NATS' max payload). */
export const MAX_PROGRESS_TEXT = 1024;

export const TaskRecordWire = z.object({
  v: z.literal(1),
  id: z.string(),
  owner: z.string(),
  callId: z.string(),
  tool: z.string(),
  method: z.string(),
  node: z.string(),
  kind: z.enum(["call", "stream"]),
  status: z.enum(["working", "completed", "failed", "cancelled"]),
  /** Why it failed or was cancelled. */
  message: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** After this the task fails as timed out (and the node is told to cancel). */
  deadline: z.number(),
  ttlMs: z.number(),
  /** Chunks captured when the task ended (streams). */
  chunks: z.number().optional(),
  /** The last chunk when the task ended, for the final progress. */
  lastChunk: z.unknown().optional(),
});
export type TaskRecord = z.infer<typeof TaskRecordWire>;

/** What a client may see of a task. */
export interface TaskView {
  id: string;
  status: TaskStatus;
  /** Why it failed or was cancelled. */
  message?: string;
  tool: string;
  method: string;
  node: string;
  callId: string;
  stream: boolean;
  createdAt: number;
  updatedAt: number;
  ttlMs: number;
  /** Chunks received so far (streams). */
  chunks: number;
  /** The latest chunk (streams), as the node sent it. */
  lastChunk?: unknown;
}

/** How a finished task ended, rebuilt from its captured frames. */
export interface TaskOutcome {
  ok: boolean;
  result?: unknown;
  error?: string;
  node: string;
  /** Every chunk of a stream, in order (a stream whose terminal frame has no result is its chunks). */
  chunks: unknown[];
}

/** One captured message, as the stream holds it. */
export interface CapturedMsg {
  data: Uint8Array;
  /** `Nats-Service-Error` header: a NATS micro handler failed. */
  serviceError?: string;
}

export type Decoded =
  | { kind: "chunk"; chunk: unknown; node?: string }
  | { kind: "end"; ok: boolean; result?: unknown; error?: string; node: string };

const decoder = new TextDecoder();

/** Reads one captured message of a task; a malformed one ends the task with an error naming it. */
export function decodeCaptured(kind: "call" | "stream", msg: CapturedMsg, node: string): Decoded {
  if (msg.serviceError) return { kind: "end", ok: false, error: msg.serviceError, node };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(msg.data));
  } catch {
    return { kind: "end", ok: false, error: "the node's reply is not valid JSON", node };
  }
  if (kind === "call") {
    const r = CallResultWire.safeParse(json);
    if (!r.success) return { kind: "end", ok: false, error: "the node's reply is not a CallResult", node };
    return { kind: "end", ok: r.data.ok, result: r.data.result, error: r.data.ok ? undefined : (r.data.error ?? "the node reported a failure"), node: r.data.node || node };
  }
  const f = StreamFrameWire.safeParse(json);
  if (!f.success) return { kind: "end", ok: false, error: "the node sent a malformed stream frame", node };
  const fr = f.data;
  // A frame with `error` ends a stream even without `done` (a dying tool process sends such).
  if (fr.error !== undefined) return { kind: "end", ok: false, error: fr.error, node: fr.node ?? node };
  if (fr.done) return { kind: "end", ok: true, result: fr.result, node: fr.node ?? node };
  return { kind: "chunk", chunk: fr.chunk, node: fr.node };
}

/** Folds captured messages (in order) into the outcome; undefined while no terminal frame came. */
export function foldOutcome(kind: "call" | "stream", msgs: Iterable<CapturedMsg>, node: string): { outcome?: TaskOutcome; chunks: unknown[] } {
  const chunks: unknown[] = [];
  for (const m of msgs) {
    const d = decodeCaptured(kind, m, node);
    if (d.kind === "chunk") {
      chunks.push(d.chunk);
      continue;
    }
    return { outcome: { ok: d.ok, result: d.result, error: d.error, node: d.node, chunks }, chunks };
  }
  return { chunks };
}

/** A chunk cut down to what a record may hold. */
export function boundedChunk(chunk: unknown): unknown {
  if (chunk === undefined) return undefined;
  const text = typeof chunk === "string" ? chunk : JSON.stringify(chunk);
  if (text === undefined || text.length <= MAX_PROGRESS_TEXT) return chunk;
  return `${text.slice(0, MAX_PROGRESS_TEXT)}…`;
}

export function viewOf(rec: TaskRecord, live?: { chunks: number; lastChunk?: unknown }): TaskView {
  return {
    id: rec.id,
    status: rec.status,
    message: rec.message,
    tool: rec.tool,
    method: rec.method,
    node: rec.node,
    callId: rec.callId,
    stream: rec.kind === "stream",
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    ttlMs: rec.ttlMs,
    chunks: live?.chunks ?? rec.chunks ?? 0,
    lastChunk: live ? live.lastChunk : rec.lastChunk,
  };
}
