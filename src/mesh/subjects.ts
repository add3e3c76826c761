/**
 * Every NATS subject of the jb-mesh contract, built in one place.
 * Tokens (`tool`, `method`, `node`) must be single subject tokens; see `isToken`.
 */

/** Subject a caller publishes an empty message to, to cancel call `callId`. */
export function cancelSubject(callId: string): string {
  return `cancel.${callId}`;
}

/** Load-balanced request/reply subject of a method. */
export function callSubject(tool: string, method: string): string {
  return `tools.${tool}.${method}`;
}

/** Node-targeted request/reply subject of a method. */
export function nodeCallSubject(node: string, tool: string, method: string): string {
  return `node.${node}.tools.${tool}.${method}`;
}

/** Streaming subject of a method (plain subscription on every node that offers it). */
export function streamSubject(tool: string, method: string): string {
  return `tools.${tool}.${method}.stream`;
}

/** Node-targeted streaming subject of a method. */
export function nodeStreamSubject(node: string, tool: string, method: string): string {
  return `node.${node}.tools.${tool}.${method}.stream`;
}

/** Fallback schema source: `node.<node>.tools.<tool>.schema`. */
export function toolSchemaSubject(node: string, tool: string): string {
  return `node.${node}.tools.${tool}.schema`;
}

/** The micro-service group every tool's endpoints live in. */
export function toolGroup(tool: string): string {
  return `tools.${tool}`;
}

export type AdminRequest = "install" | "uninstall" | "update" | "config" | "release.inspect";

/** Node administration subjects: `node.<node>.install` etc. */
export function adminSubject(node: string, request: AdminRequest): string {
  return `node.${node}.${request}`;
}

export type FileOp = "put" | "get" | "head" | "delete" | "list";

/** The `files.*` request/reply fallback of the file store. */
export function filesSubject(op: FileOp): string {
  return `files.${op}`;
}

/** Discovery. */
export const SRV_INFO = "$SRV.INFO";
/** Liveness of micro services: `$SRV.PING.<name>.<id>` reaches one instance. */
export const SRV_PING = "$SRV.PING";
/** Lifecycle events that make the catalog refresh. */
export const NODE_EVENTS = "events.node.*";
export const TOOL_EVENTS = "events.tool.*";
export const NODE_JOINED = "events.node.joined";
/** The Object Store bucket of the file store. */
export const FILES_BUCKET = "mesh-files";
/** The built-in file store tool's name. */
export const FILES_TOOL = "files";

/** True when `s` is usable as one NATS subject token (no dots, spaces or wildcards). */
export function isToken(s: string): boolean {
  return s.length > 0 && !/[.\s*>]/.test(s);
}

/** Durable tasks (mesh-mcp's own, not jb-mesh's): the KV bucket of task records. */
export const TASKS_BUCKET = "mesh-mcp-tasks";
/** The stream that captures the nodes' replies and frames for tasks. */
export const TASK_FRAMES_STREAM = "mesh-mcp-task-frames";
/** First token of a task's reply subject. */
export const TASK_SUBJECT_PREFIX = "mesh-mcp-tasks";

/**
 * Reply subject of task `id`: the node answers here instead of a process inbox, so
 * JetStream keeps the reply even when the process that started the call is gone.
 */
export function taskFramesSubject(id: string, prefix = TASK_SUBJECT_PREFIX): string {
  return `${prefix}.${id}.frames`;
}

/** Micro-service ping of every instance of a tool (`$SRV.PING.<tool>`). */
export function servicePingSubject(tool: string): string {
  return `$SRV.PING.${tool}`;
}
