/**
 * jb-mesh builds method schemas from the tool's YAML manifest, where `type` is
 * free text: `int`, `str`, `float`, `list`, `dict` occur beside the JSON Schema
 * names (jb-mesh pkg/config.Schema, pkg/node manifestSchemaToMeshSchema). Clients
 * that check tool schemas reject `"type": "int"`, and ajv cannot compile it, so
 * arguments would go unvalidated: map the usual spellings to JSON Schema types and
 * drop the ones we cannot name (the property then takes any value).
 */
const ALIASES: Record<string, string> = {
  integer: "integer", int: "integer", long: "integer",
  number: "number", float: "number", double: "number", decimal: "number",
  string: "string", str: "string", text: "string",
  boolean: "boolean", bool: "boolean",
  array: "array", list: "array", tuple: "array",
  object: "object", dict: "object", map: "object",
  null: "null", none: "null",
};

/** `list[str]`-style spellings: the element type goes into `items`. */
const GENERIC_LIST = /^(?:list|array|tuple|sequence)\[(.+)\]$/i;

function mapType(frag: Record<string, unknown>): void {
  const t = frag.type;
  if (Array.isArray(t)) {
    const mapped = t.map((x) => (typeof x === "string" ? ALIASES[x.trim().toLowerCase()] : undefined));
    if (mapped.every((x) => x !== undefined)) frag.type = [...new Set(mapped)];
    else delete frag.type;
    return;
  }
  if (typeof t !== "string") {
    if (t !== undefined) delete frag.type;
    return;
  }
  const name = t.trim();
  const generic = GENERIC_LIST.exec(name);
  if (generic) {
    frag.type = "array";
    if (frag.items === undefined) {
      const items: Record<string, unknown> = { type: generic[1] };
      mapType(items);
      if (items.type !== undefined) frag.items = items;
    }
    return;
  }
  const mapped = ALIASES[name.toLowerCase()];
  if (mapped) frag.type = mapped;
  else delete frag.type;
}

/** Rewrites `type` in a schema and every nested fragment, in place. */
export function normalizeManifestTypes(schema: Record<string, unknown>): void {
  mapType(schema);
  const props = schema.properties;
  if (typeof props === "object" && props !== null) {
    for (const frag of Object.values(props as Record<string, unknown>)) {
      if (typeof frag === "object" && frag !== null) normalizeManifestTypes(frag as Record<string, unknown>);
    }
  }
  for (const key of ["items", "additionalProperties"]) {
    const sub = schema[key];
    if (typeof sub === "object" && sub !== null && !Array.isArray(sub)) normalizeManifestTypes(sub as Record<string, unknown>);
  }
  if (Array.isArray(schema.items)) {
    for (const sub of schema.items) if (typeof sub === "object" && sub !== null) normalizeManifestTypes(sub as Record<string, unknown>);
  }
}
