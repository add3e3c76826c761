/**
 * The JSON-RPC envelope check our 2025 transports run on every inbound message,
 * without zod for the everyday shapes. The SDK's `JSONRPCMessageSchema` (a union of
 * four strict zod objects) cost ~0.03 ms a message here, a third of what the stdio
 * server adds over a bare relay process (BENCHMARKS.md, issue 13).
 *
 * `everydayMessage` accepts only messages the schema accepts *and* for which the
 * schema's output equals the input (nothing stripped); anything else — a key the
 * strict schemas refuse, a `related-task` key (its schema strips unknown keys), a
 * number that is not a safe integer, any doubt — goes to the schema itself, which
 * gives the same answer and the same errors as before.
 */
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

const RELATED_TASK = "io.modelcontextprotocol/related-task";
const REQUEST_KEYS = new Set(["jsonrpc", "id", "method", "params"]);
const NOTIFICATION_KEYS = new Set(["jsonrpc", "method", "params"]);
const RESULT_KEYS = new Set(["jsonrpc", "id", "result"]);
const ERROR_KEYS = new Set(["jsonrpc", "id", "error"]);
const ERROR_OBJECT_KEYS = new Set(["code", "message", "data"]);

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown) => typeof v === "string" || Number.isSafeInteger(v);

function keysWithin(o: Obj, allowed: Set<string>): boolean {
  for (const k in o) if (!allowed.has(k)) return false;
  return true;
}

/** `params` of a request or notification, or `result` of a response: a loose object whose `_meta` is plain. */
function plainParams(p: unknown): boolean {
  if (!isObject(p)) return false;
  const meta = p._meta;
  if (meta === undefined) return true;
  if (!isObject(meta) || RELATED_TASK in meta) return false;
  const token = meta.progressToken;
  return token === undefined || isId(token);
}

/** The message itself when it is an everyday JSON-RPC message, else undefined (ask the schema). */
export function everydayMessage(raw: unknown): JSONRPCMessage | undefined {
  if (!isObject(raw) || raw.jsonrpc !== "2.0") return undefined;
  if ("method" in raw) {
    if (typeof raw.method !== "string" || !(raw.params === undefined || plainParams(raw.params))) return undefined;
    if ("id" in raw) return keysWithin(raw, REQUEST_KEYS) && isId(raw.id) ? (raw as JSONRPCMessage) : undefined;
    return keysWithin(raw, NOTIFICATION_KEYS) ? (raw as JSONRPCMessage) : undefined;
  }
  if ("result" in raw) return keysWithin(raw, RESULT_KEYS) && isId(raw.id) && plainParams(raw.result) ? (raw as JSONRPCMessage) : undefined;
  const error = raw.error;
  if (!keysWithin(raw, ERROR_KEYS) || !(raw.id === undefined || isId(raw.id)) || !isObject(error) || !keysWithin(error, ERROR_OBJECT_KEYS)) return undefined;
  return Number.isSafeInteger(error.code) && typeof error.message === "string" ? (raw as JSONRPCMessage) : undefined;
}

/** Like `JSONRPCMessageSchema.safeParse`, with the everyday shapes checked by hand. */
export function safeParseMessage(raw: unknown): { success: true; data: JSONRPCMessage } | { success: false; error: Error } {
  const quick = everydayMessage(raw);
  if (quick) return { success: true, data: quick };
  const parsed = JSONRPCMessageSchema.safeParse(raw);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, error: parsed.error };
}

/** Like `JSONRPCMessageSchema.parse`: throws the schema's error for a message that is not JSON-RPC. */
export function parseMessage(raw: unknown): JSONRPCMessage {
  return everydayMessage(raw) ?? JSONRPCMessageSchema.parse(raw);
}
