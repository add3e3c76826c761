/**
 * Bounds on what the mesh sends us. Any process on the NATS account can answer
 * `$SRV.INFO` or serve a schema subject; an answer of megabytes, or a schema with
 * 50,000 properties, would otherwise be parsed, cloned, compared, compiled and listed
 * to every client (it froze the event loop for 10 s). What is over a bound is refused
 * with a warning naming the bound; the rest of the mesh is unaffected.
 */
export const LIMITS = {
  /** One `$SRV.INFO` answer, or one node's schema reply. */
  infoBytes: 1 << 20,
  /** One method's schema as JSON text. */
  schemaBytes: 256 << 10,
  /** Properties in one method's schema, all levels counted. */
  schemaProperties: 2000,
  /** Nesting of objects/arrays in one schema. */
  schemaDepth: 32,
  /** Tool, method and node names. */
  nameLength: 128,
  /** Methods of one tool (endpoints of one service). */
  endpoints: 1000,
} as const;

/** Why a raw schema text is refused before parsing, or undefined. */
export function schemaTextProblem(raw: string): string | undefined {
  if (raw.length > LIMITS.schemaBytes) return `schema is ${raw.length} bytes, over the limit of ${LIMITS.schemaBytes}`;
  return undefined;
}

/**
 * Why a parsed schema is refused (too deep, too many properties, too many nodes), or
 * undefined. Walks iteratively and stops at the first bound crossed, so its cost is
 * bounded whatever the input.
 */
export function schemaShapeProblem(schema: unknown): string | undefined {
  const maxNodes = LIMITS.schemaProperties * 20;
  let properties = 0;
  let nodes = 0;
  const stack: Array<{ v: unknown; depth: number }> = [{ v: schema, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > LIMITS.schemaDepth) return `schema nests deeper than ${LIMITS.schemaDepth} levels`;
    if (++nodes > maxNodes) return `schema has more than ${maxNodes} objects and arrays`;
    if (Array.isArray(v)) {
      for (const x of v) stack.push({ v: x, depth: depth + 1 });
      continue;
    }
    const props = (v as Record<string, unknown>).properties;
    if (typeof props === "object" && props !== null && !Array.isArray(props)) {
      properties += Object.keys(props).length;
      if (properties > LIMITS.schemaProperties) return `schema has more than ${LIMITS.schemaProperties} properties`;
    }
    for (const x of Object.values(v)) stack.push({ v: x, depth: depth + 1 });
  }
  return undefined;
}

/** Why a name from the mesh is refused (too long, control characters), or undefined. */
export function nameProblem(kind: string, name: string): string | undefined {
  if (name.length > LIMITS.nameLength) return `${kind} name of ${name.length} characters, over the limit of ${LIMITS.nameLength}`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return `${kind} name ${JSON.stringify(name.slice(0, 40))} has control characters`;
  return undefined;
}
