/**
 * The event types the mesh offers, read from what it already says: a subject filter on
 * the event log, a decoder from the captured message to a payload, and the arguments
 * that narrow it (subject tokens where the subject carries them, payload fields
 * elsewhere). Wire formats are jb-mesh's (`pkg/events` envelopes, `pkg/logstore` call
 * records) and JetStream's (Object Store meta, KV records).
 */
import { z } from "zod";
import { TaskRecordWire } from "../task-records.js";
import type { JsonObject } from "../types.js";
import type { StoredEvent } from "./log.js";

/** What an occurrence is about: the visibility hook decides on these. */
export interface EventTarget {
  node?: string;
  tool?: string;
  method?: string;
  fileKey?: string;
  /** Owner hash of a task (task events go to their owner only). */
  taskOwner?: string;
}

export interface DecodedEvent {
  data: JsonObject;
  target: EventTarget;
  /** When it happened (the source's own time when it says, else when it was stored). */
  timestamp: string;
}

export interface MeshEventType {
  name: string;
  description: string;
  /** JSON Schema of the subscription arguments. */
  inputSchema: JsonObject;
  /** JSON Schema of `data`. */
  payloadSchema: JsonObject;
  /** The log subject to read; `ownerHash` names the caller (task events). */
  filter(args: EventArgs, ownerHash: string): string;
  /** The payload, or undefined when this message is not an occurrence of this type (or not one the arguments ask for). */
  decode(e: StoredEvent, args: EventArgs): DecodedEvent | undefined;
}

export interface EventArgs {
  node?: string;
  tool?: string;
  method?: string;
  prefix?: string;
}

const token = z.string().min(1).max(256).regex(/^[^\s.*>]+$/, "a name without spaces, dots, * or >");
export const EventArgsWire = z.object({
  node: token.optional(),
  tool: token.optional(),
  method: token.optional(),
  prefix: z.string().max(1024).optional(),
}).strict();

const str = { type: "string" } as const;
const nodeArg = { node: { ...str, description: "Only this node" } };
const toolArg = { tool: { ...str, description: "Only this tool" } };
const methodArg = { method: { ...str, description: "Only this method" } };
const obj = (properties: Record<string, unknown>, required: string[] = []): JsonObject =>
  ({ type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false }) as JsonObject;

const decoder = new TextDecoder();
function json(e: StoredEvent): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(decoder.decode(e.data));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
const s = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const n = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const stamp = (v: unknown, e: StoredEvent): string => {
  const t = typeof v === "string" ? Date.parse(v) : NaN;
  return new Date(Number.isNaN(t) ? e.time.getTime() : t).toISOString();
};
const clean = (o: Record<string, unknown>): JsonObject => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JsonObject;

/** A jb-mesh lifecycle envelope `{type, node, timestamp, data}` on `events.<kind>.<event>`. */
function lifecycle(kind: "node" | "tool", event: string, description: string, extra: Record<string, unknown>, pick: (d: Record<string, unknown>) => Record<string, unknown>): MeshEventType {
  const args = kind === "node" ? nodeArg : { ...nodeArg, ...toolArg };
  return {
    name: `mesh.${kind}.${event}`,
    description,
    inputSchema: obj(args),
    payloadSchema: obj({ node: str, ...(kind === "tool" ? { tool: str } : {}), ...extra }, kind === "tool" ? ["node", "tool"] : ["node"]),
    filter: () => `events.${kind}.${event}`,
    decode(e, a) {
      const env = json(e);
      if (!env) return undefined;
      const d = (env.data && typeof env.data === "object" ? env.data : {}) as Record<string, unknown>;
      const node = s(env.node) ?? s(d.node);
      const tool = s(d.tool);
      if (!node || (kind === "tool" && !tool)) return undefined;
      if (a.node && a.node !== node) return undefined;
      if (a.tool && a.tool !== tool) return undefined;
      return { data: clean({ node, ...(kind === "tool" ? { tool } : {}), ...pick({ ...d, event: env.event }) }), target: { node, tool }, timestamp: stamp(env.timestamp, e) };
    },
  };
}

/** A node's call record on `logs.call.<node>.<tool>.<method>` (pkg/logstore). */
function callRecord(ok: boolean): MeshEventType {
  return {
    name: ok ? "mesh.call.completed" : "mesh.call.failed",
    description: ok
      ? "A tool call finished on a node (any caller: the node's own call record)."
      : "A tool call failed on a node (any caller: the node's own call record).",
    inputSchema: obj({ ...nodeArg, ...toolArg, ...methodArg }),
    payloadSchema: obj({
      node: str, tool: str, method: str, durationMs: { type: "number" }, corr: str,
      ...(ok ? { responseBytes: { type: "number" } } : { error: str }),
    }, ["node", "tool", "method"]),
    filter: (a) => `logs.call.${a.node ?? "*"}.${a.tool ?? "*"}.${a.method ?? "*"}`,
    decode(e) {
      const r = json(e);
      if (!r) return undefined;
      const [, , sn, st, sm] = e.subject.split(".");
      const node = s(r.node) ?? sn;
      const tool = s(r.tool) ?? st;
      const method = s(r.method) ?? sm;
      const d = (r.data && typeof r.data === "object" ? r.data : {}) as Record<string, unknown>;
      const succeeded = typeof r.ok === "boolean" ? r.ok : !/failed/.test(String(r.message ?? ""));
      if (succeeded !== ok || !node || !tool || !method) return undefined;
      return {
        data: clean({ node, tool, method, durationMs: n(r.duration_ms), corr: s(r.corr), ...(ok ? { responseBytes: n(d.response_bytes) } : { error: s(d.error) ?? s(r.message) }) }),
        target: { node, tool, method },
        timestamp: stamp(r.timestamp ?? r.time, e),
      };
    },
  };
}

/** An Object Store meta record on `$O.<bucket>.M.<name>` (put: the info; delete: `deleted: true`). */
function fileChange(deleted: boolean, bucket: string): MeshEventType {
  return {
    name: deleted ? "mesh.file.deleted" : "mesh.file.created",
    description: deleted ? "A file was deleted from the mesh file store." : "A file was written to the mesh file store (new or replaced).",
    inputSchema: obj({ prefix: { ...str, description: "Only keys starting with this" } }),
    payloadSchema: obj({ key: str, ...(deleted ? {} : { size: { type: "number" }, digest: str }), uri: str }, ["key"]),
    filter: () => `$O.${bucket}.M.>`,
    decode(e, a) {
      const r = json(e);
      const key = s(r?.name);
      if (!r || !key || Boolean(r.deleted) !== deleted) return undefined;
      if (a.prefix && !key.startsWith(a.prefix)) return undefined;
      return { data: clean({ key, size: deleted ? undefined : n(r.size), digest: deleted ? undefined : s(r.digest), uri: `mesh://files/${encodeURIComponent(key)}` }), target: { fileKey: key }, timestamp: stamp(r.mtime, e) };
    },
  };
}

/** A task record on `$KV.<bucket>.<owner hash>.<task id>` that reached its end. */
function taskCompleted(bucket: string): MeshEventType {
  return {
    name: "mesh.task.completed",
    description: "A task of the caller ended (completed, failed or cancelled). Only the task's owner hears it.",
    inputSchema: obj({ ...toolArg, ...methodArg }),
    payloadSchema: obj({ taskId: str, status: { type: "string", enum: ["completed", "failed", "cancelled"] }, tool: str, method: str, node: str, message: str }, ["taskId", "status"]),
    filter: (_a, owner) => `$KV.${bucket}.${owner}.*`,
    decode(e, a) {
      const r = TaskRecordWire.safeParse(json(e));
      if (!r.success || r.data.status === "working") return undefined;
      const t = r.data;
      if ((a.tool && a.tool !== t.tool) || (a.method && a.method !== t.method)) return undefined;
      return {
        data: clean({ taskId: t.id, status: t.status, tool: t.tool, method: t.method, node: t.node || undefined, message: t.message }),
        target: { node: t.node || undefined, tool: t.tool, method: t.method, taskOwner: t.owner },
        timestamp: new Date(t.updatedAt).toISOString(),
      };
    },
  };
}

/** Every event type, in the order `events/list` shows them. */
export function meshEventTypes(opts: { filesBucket?: string; tasksBucket?: string } = {}): MeshEventType[] {
  const reason = { reason: str };
  return [
    lifecycle("node", "joined", "A node joined the mesh (or came back after a reconnect).", { event: str }, (d) => ({ event: s(d.event) })),
    lifecycle("node", "left", "A node left the mesh.", reason, (d) => ({ reason: s(d.reason) })),
    lifecycle("tool", "started", "A tool started on a node.", {}, () => ({})),
    lifecycle("tool", "stopped", "A tool stopped on a node.", reason, (d) => ({ reason: s(d.reason) })),
    lifecycle("tool", "crashed", "A tool crashed on a node.", { error: str, restartCount: { type: "number" } }, (d) => ({ error: s(d.error), restartCount: n(d.restart_count) })),
    lifecycle("tool", "installed", "A tool was installed on a node.", { version: str }, (d) => ({ version: s(d.version) })),
    lifecycle("tool", "removed", "A tool was removed from a node.", {}, () => ({})),
    callRecord(true),
    callRecord(false),
    fileChange(false, opts.filesBucket ?? "mesh-files"),
    fileChange(true, opts.filesBucket ?? "mesh-files"),
    taskCompleted(opts.tasksBucket ?? "mesh-mcp-tasks"),
  ];
}
