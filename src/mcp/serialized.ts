/**
 * Serialised JSON kept beside the objects it serialises: a tools/list at 10,000 methods is
 * ~2 MB of JSON, the same bytes until a definition changes, so it is stringified once per
 * list (per definitions generation and caller view), not once per request. Transports
 * write messages with `stringifyMessage`, which splices a result field's cached JSON in.
 */
const cached = new WeakMap<object, string>();

/** Marks `value` (never mutated afterwards) as served with its JSON computed now, once. */
export function withSerialized<T extends object>(value: T): T {
  if (!cached.has(value)) cached.set(value, JSON.stringify(value));
  return value;
}

const HOLE = "\u0000mesh-mcp-serialized\u0000";

/** `JSON.stringify(message)`, the same bytes, with a result field's cached JSON spliced in. */
export function stringifyMessage(message: object): string {
  return stringifyMessageParts(message).join("");
}

/**
 * The same bytes as `stringifyMessage`, in pieces: the cached JSON (megabytes at 10,000
 * tools) is its own piece, so a transport can write it as it is instead of joining it
 * into a fresh copy per request (garbage that inflated the heap after serving lists).
 */
export function stringifyMessageParts(message: object): string[] {
  const result = (message as { result?: unknown }).result;
  if (typeof result === "object" && result !== null) {
    for (const key in result) {
      const value = (result as Record<string, unknown>)[key];
      const json = typeof value === "object" && value !== null ? cached.get(value) : undefined;
      if (json === undefined) continue;
      const text = JSON.stringify({ ...message, result: { ...result, [key]: HOLE } });
      const at = text.indexOf(JSON.stringify(HOLE));
      return [text.slice(0, at), json, text.slice(at + JSON.stringify(HOLE).length)];
    }
  }
  return [JSON.stringify(message)];
}
