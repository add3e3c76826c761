/**
 * One object per distinct input schema: methods whose input schemas serialise to the same
 * JSON (a fleet's methods often differ only in the description, which becomes the tool's
 * description) share one, instead of a clone per catalog entry. Input schemas are never
 * mutated once built (withNodeArg and decorations copy), so sharing changes no answer:
 * the same JSON, from fewer objects.
 */
const shared = new Map<string, object>();
/** Beyond this many distinct schemas the table starts over (sharing is only an optimisation). */
const MAX_SHARED = 50_000;

export function sharedSchema<T extends object>(schema: T): T {
  const key = JSON.stringify(schema);
  const hit = shared.get(key);
  if (hit !== undefined) return hit as T;
  if (shared.size >= MAX_SHARED) shared.clear();
  shared.set(key, schema);
  return schema;
}
