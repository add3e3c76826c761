/**
 * Validating the arguments of a tool whose input schema is large. Ajv compiles a whole
 * schema into one function up front, ~0.3–0.8 ms per property on this project's
 * machines: a schema of 1,990 properties with patterns (inside the catalog's limits)
 * froze the event loop for ~2 s on its first call (20 s on a loaded machine), and
 * every other client and `/healthz` with it.
 *
 * So the work is bounded by what a call uses, not by what the schema offers: a large
 * object schema is checked key by key — its `required` and `additionalProperties:
 * false` by hand, and each argument given against its own property schema, compiled
 * on first use and cached. Calls pass a handful of arguments, so a call compiles a
 * handful of small schemas. A large schema that cannot be split this way (combinators,
 * references at its top) is not compiled at all: its arguments go unvalidated (said once
 * in the log) and the node checks them, as for a schema Ajv cannot compile.
 */

/** Schema nodes (objects and arrays) above which a schema is not compiled whole. */
export const LARGE_SCHEMA_NODES = 400;

/** The keys an object schema may have and still be checked key by key. */
const SPLITTABLE_KEYS = new Set(["type", "properties", "required", "additionalProperties", "description", "title", "$schema", "$id", "default", "examples", "$comment"]);

const sizes = new WeakMap<object, number>();

/** Nodes of `schema` (bounded walk: stops counting past the limit). */
export function schemaNodes(schema: object): number {
  const known = sizes.get(schema);
  if (known !== undefined) return known;
  let n = 0;
  const stack: unknown[] = [schema];
  while (stack.length > 0 && n <= LARGE_SCHEMA_NODES) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    n++;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === "object" && x !== null) stack.push(x);
  }
  sizes.set(schema, n);
  return n;
}

export const isLargeSchema = (schema: object): boolean => schemaNodes(schema) > LARGE_SCHEMA_NODES;

type Check = (value: unknown) => boolean;
interface CompiledCheck extends Check {
  errors?: Array<{ instancePath: string; message?: string; keyword: string; params: unknown }> | null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function splittable(schema: Record<string, unknown>): boolean {
  if (!isPlainObject(schema.properties)) return false;
  if (schema.type !== undefined && schema.type !== "object") return false;
  if (schema.additionalProperties !== undefined && typeof schema.additionalProperties !== "boolean") return false;
  if (schema.required !== undefined && !Array.isArray(schema.required)) return false;
  return Object.keys(schema).every((k) => SPLITTABLE_KEYS.has(k));
}

export interface LargeValidation {
  /** Compiles a small schema (cached by the caller); undefined when it cannot be compiled. */
  compile(schema: object): CompiledCheck | undefined;
  warn(message: string): void;
}

const unvalidatedSaid = new WeakSet<object>();

/** Error lines for `value` against a large `schema`, in the same words as validateArgs. */
export function validateLarge(schema: object, value: unknown, v: LargeValidation, path = ""): string[] {
  const where = (p: string) => (p ? p.slice(1) : "arguments");
  if (!isLargeSchema(schema)) {
    const check = v.compile(schema);
    if (!check || check(value)) return [];
    return (check.errors ?? []).map((e) => {
      const extra = e.keyword === "enum" ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")})` : "";
      return `${where(`${path}${e.instancePath.replace(/\//g, ".")}`)} ${e.message}${extra}`;
    });
  }
  const s = schema as Record<string, unknown>;
  if (!splittable(s)) {
    if (!unvalidatedSaid.has(schema)) {
      unvalidatedSaid.add(schema);
      v.warn(`input schema${path ? ` of ${path.slice(1)}` : ""} is too large to compile (over ${LARGE_SCHEMA_NODES} nodes) and cannot be checked key by key; those arguments go unvalidated`);
    }
    return [];
  }
  if (!isPlainObject(value)) return [`${where(path)} must be object`];
  const out: string[] = [];
  const properties = s.properties as Record<string, unknown>;
  for (const r of (s.required as unknown[] | undefined) ?? []) {
    if (typeof r === "string" && !Object.prototype.hasOwnProperty.call(value, r)) out.push(`${where(path)} must have required property '${r}'`);
  }
  for (const [key, arg] of Object.entries(value)) {
    const sub = Object.prototype.hasOwnProperty.call(properties, key) ? properties[key] : undefined;
    if (sub === undefined) {
      if (s.additionalProperties === false) out.push(`${where(path)} must NOT have additional properties`);
      continue;
    }
    if (sub === false) out.push(`${where(`${path}.${key}`)} must not be present`);
    else if (isPlainObject(sub)) out.push(...validateLarge(s.$schema !== undefined && sub.$schema === undefined ? { $schema: s.$schema, ...sub } : sub, arg, v, `${path}.${key}`));
  }
  return out;
}
