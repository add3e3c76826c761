/**
 * Progressive discovery: for meshes too big for a model's context, tools/list shows
 * three meta-tools instead of every method (--discovery; auto above a threshold):
 *
 *  - mesh_search_tools: ranked search (BM25) over the methods' names, titles,
 *    descriptions and input schemas;
 *  - mesh_get_tool: one method's full definition, exactly as tools/list would show it,
 *    and the nodes that offer it now;
 *  - mesh_call_tool: calls a method by name — the server unwraps it into a plain
 *    tools/call of that name, so it is found, validated and run exactly as a listed tool.
 *
 * Stateless: nothing is kept per session, so any request of any revision may use any
 * meta-tool. What a caller may see comes from ToolList.meshTools(access), the same
 * view tools/list shows (visibleMethods in tools.ts is the one filter).
 */
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "./bridge.js";
import { DISCOVERY_TOOL_NAMES } from "./naming.js";
import type { Access } from "./policy.js";
import { errorResult } from "./results.js";
import { withSerialized } from "./serialized.js";
import type { ToolList } from "./tools.js";

export { DISCOVERY_TOOL_NAMES };

const DEFAULT_LIMIT = 8;
const MAX_LIMIT = 50;
/** A result line's description is cut here: the search answer is a menu, get has the rest. */
const SNIPPET_MAX = 160;

/**
 * The meta-tools. Strict-mode clean as they are (every property required or nullable,
 * closed objects), except mesh_call_tool's `arguments`, which is the called method's own
 * object and may also be sent as a JSON string (OpenAI strict mode allows no open objects).
 */
export const DISCOVERY_TOOLS: Tool[] = [
  {
    name: DISCOVERY_TOOL_NAMES.search,
    title: "Search mesh tools",
    description:
      "Search the tool mesh's methods (names, descriptions, parameters) by keywords; returns the best matches, best first. " +
      "Then read one with mesh_get_tool and run it with mesh_call_tool. An empty query lists methods by name.",
    inputSchema: {
      type: "object",
      properties: {
        query: { type: "string", description: "Keywords: what the method should do, or words of its name." },
        limit: { type: ["integer", "null"], minimum: 1, maximum: MAX_LIMIT, description: `How many matches (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}).` },
      },
      required: ["query"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: DISCOVERY_TOOL_NAMES.get,
    title: "Get a mesh tool's definition",
    description: "The full definition of one mesh method (description and input schema), by the name mesh_search_tools returned, and the nodes that offer it now.",
    inputSchema: {
      type: "object",
      properties: { name: { type: "string", description: "The method's tool name, e.g. weather__forecast." } },
      required: ["name"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: DISCOVERY_TOOL_NAMES.call,
    title: "Call a mesh tool",
    description:
      "Runs one mesh method by its tool name with its arguments (as its input schema from mesh_get_tool says); " +
      "the answer is that method's result. Arguments are checked exactly as for the method itself.",
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", description: "The method's tool name, e.g. weather__forecast." },
        arguments: { type: ["object", "string"], description: "The method's arguments: an object, or the same as a JSON string." },
      },
      required: ["name", "arguments"],
    },
  },
];

const NAMES = new Set<string>(Object.values(DISCOVERY_TOOL_NAMES));

export function isDiscoveryTool(name: string): boolean {
  return NAMES.has(name);
}

// ---------------- search ----------------

const BM25_K1 = 1.2;
const BM25_B = 0.75;
/** A name token counts this many times: a match on the name outweighs one in a parameter's text. */
const NAME_WEIGHT = 3;

/** Lower-case word tokens: split on non-alphanumerics and camelCase, light suffix folding. */
export function tokens(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/)) {
    if (!raw) continue;
    out.push(fold(raw));
  }
  return out;
}

function fold(t: string): string {
  if (t.length > 5 && t.endsWith("ing")) return t.slice(0, -3);
  if (t.length > 4 && t.endsWith("ies")) return `${t.slice(0, -3)}y`;
  if (t.length > 4 && t.endsWith("es") && /(ss|x|ch|sh)es$/.test(t)) return t.slice(0, -2);
  if (t.length > 3 && t.endsWith("s") && !t.endsWith("ss")) return t.slice(0, -1);
  return t;
}

/** Words of a JSON Schema a search should find: property names, descriptions, titles, enum values. */
function schemaText(schema: unknown, out: string[], depth = 0): void {
  if (depth > 6 || typeof schema !== "object" || schema === null) return;
  const s = schema as Record<string, unknown>;
  for (const k of ["title", "description"]) if (typeof s[k] === "string") out.push(s[k] as string);
  if (Array.isArray(s.enum)) for (const v of s.enum) if (typeof v === "string") out.push(v);
  if (typeof s.properties === "object" && s.properties !== null) {
    for (const [name, frag] of Object.entries(s.properties as Record<string, unknown>)) {
      out.push(name);
      schemaText(frag, out, depth + 1);
    }
  }
  if (s.items) schemaText(s.items, out, depth + 1);
  for (const k of ["anyOf", "oneOf", "allOf"]) if (Array.isArray(s[k])) for (const x of s[k] as unknown[]) schemaText(x, out, depth + 1);
}

export interface SearchIndex {
  tools: Tool[];
  byName: Map<string, Tool>;
  /** Term → the documents holding it (indexes into `tools`) and its frequency in each (name terms weighted). */
  postings: Map<string, { docs: number[]; tfs: number[] }>;
  /** Document lengths (weighted terms). */
  lens: Float64Array;
  avgLen: number;
}

export function buildIndex(tools: Tool[]): SearchIndex {
  const postings = new Map<string, { docs: number[]; tfs: number[] }>();
  const lens = new Float64Array(tools.length);
  let total = 0;
  tools.forEach((tool, d) => {
    const tf = new Map<string, number>();
    const add = (t: string, w: number) => tf.set(t, (tf.get(t) ?? 0) + w);
    const key = typeof tool._meta?.["mesh-mcp/key"] === "string" ? (tool._meta["mesh-mcp/key"] as string) : "";
    for (const t of new Set([...tokens(tool.name), ...tokens(key), ...tokens(tool.title ?? "")])) add(t, NAME_WEIGHT);
    const text: string[] = [tool.description ?? ""];
    schemaText(tool.inputSchema, text);
    for (const t of tokens(text.join(" "))) add(t, 1);
    let len = 0;
    for (const [t, n] of tf) {
      len += n;
      let p = postings.get(t);
      if (!p) postings.set(t, (p = { docs: [], tfs: [] }));
      p.docs.push(d);
      p.tfs.push(n);
    }
    lens[d] = len;
    total += len;
  });
  return { tools, byName: new Map(tools.map((t) => [t.name, t])), postings, lens, avgLen: tools.length ? total / tools.length : 1 };
}

/** BM25 over the index; ties by name, so the order is deterministic. */
export function search(index: SearchIndex, query: string, limit: number): Array<{ tool: Tool; score: number }> {
  const terms = [...new Set(tokens(query))];
  if (terms.length === 0) return index.tools.slice(0, limit).map((tool) => ({ tool, score: 0 }));
  const n = index.tools.length;
  const scores = new Float64Array(n);
  for (const t of terms) {
    const p = index.postings.get(t);
    if (!p) continue;
    const idf = Math.log(1 + (n - p.docs.length + 0.5) / (p.docs.length + 0.5));
    for (let i = 0; i < p.docs.length; i++) {
      const d = p.docs[i]!;
      const f = p.tfs[i]!;
      scores[d]! += idf * ((f * (BM25_K1 + 1)) / (f + BM25_K1 * (1 - BM25_B + (BM25_B * index.lens[d]!) / index.avgLen)));
    }
  }
  const name = (d: number) => index.tools[d]!.name;
  const before = (a: number, b: number) => scores[a]! > scores[b]! || (scores[a] === scores[b] && name(a) < name(b));
  // The best `limit`, kept in order as the documents go by (no sort of every match).
  const top: number[] = [];
  for (let d = 0; d < n; d++) {
    if (scores[d]! <= 0) continue;
    if (top.length === limit && !before(d, top[limit - 1]!)) continue;
    let at = top.length;
    while (at > 0 && before(d, top[at - 1]!)) at--;
    top.splice(at, 0, d);
    if (top.length > limit) top.pop();
  }
  return top.map((d) => ({ tool: index.tools[d]!, score: scores[d]! }));
}

/** Indexes per (tool list): a ToolList hands out the same array until a definition changes. */
const indexes = new WeakMap<Tool[], SearchIndex>();

function indexOf(tools: Tool[]): SearchIndex {
  let ix = indexes.get(tools);
  if (!ix) indexes.set(tools, (ix = buildIndex(tools)));
  return ix;
}

function snippet(tool: Tool): string {
  const first = (tool.description ?? "").split("\n")[0]!.trim();
  return first.length > SNIPPET_MAX ? `${first.slice(0, SNIPPET_MAX - 1)}…` : first;
}

function argsSummary(tool: Tool): string {
  const props = Object.keys((tool.inputSchema.properties ?? {}) as Record<string, unknown>);
  if (props.length === 0) return "no arguments";
  const req = new Set(Array.isArray(tool.inputSchema.required) ? tool.inputSchema.required : []);
  return `args: ${props.map((p) => (req.has(p) ? `${p}*` : p)).join(", ")}`;
}

// ---------------- the meta-tools ----------------

/** What a meta-tool call comes to: its own answer, or the method call it stands for. */
export type DiscoveryOutcome = { result: CallToolResult } | { call: { name: string; args: Record<string, unknown> } };

const asText = (s: string): CallToolResult => ({ content: [{ type: "text", text: s }] });

/**
 * Answers a call of a meta-tool (undefined for any other name). `tools` is the caller's
 * ToolList; `access` the caller under the policy, so search, get and call see what its tools/list shows.
 */
export function discoveryCall(
  bridge: Bridge, tools: ToolList, name: string, args: Record<string, unknown>, access?: Access,
): DiscoveryOutcome | undefined {
  if (!NAMES.has(name)) return undefined;
  const why = bridge.unavailableReason();
  if (why && name !== DISCOVERY_TOOL_NAMES.call) return { result: errorResult(`${name}: ${why}`) };
  const listed = tools.meshTools(access);
  if (name === DISCOVERY_TOOL_NAMES.search) {
    if (typeof args.query !== "string") return { result: errorResult(`${name}: "query" must be a string of keywords (an empty string lists methods by name).`) };
    const limit = args.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) {
      return { result: errorResult(`${name}: "limit" must be an integer from 1 to ${MAX_LIMIT} (or null for ${DEFAULT_LIMIT}).`) };
    }
    const hits = search(indexOf(listed), args.query, limit as number);
    if (hits.length === 0) {
      return { result: asText(`No mesh method matches "${args.query}" (${listed.length} methods). Try other or fewer words, or an empty query to list them by name.`) };
    }
    const lines = hits.map((h, i) => `${i + 1}. ${h.tool.name} — ${snippet(h.tool)} (${argsSummary(h.tool)})`);
    const head = `${hits.length} of ${listed.length} mesh methods${args.query.trim() ? `, best match first` : ", by name"}. Read one with ${DISCOVERY_TOOL_NAMES.get}, run it with ${DISCOVERY_TOOL_NAMES.call}; * marks a required argument.`;
    return {
      result: {
        content: [{ type: "text", text: `${head}\n${lines.join("\n")}` }],
        structuredContent: { total: listed.length, results: hits.map((h) => ({ name: h.tool.name, title: h.tool.title, description: snippet(h.tool), score: Math.round(h.score * 1000) / 1000 })) },
      },
    };
  }
  const target = args.name;
  if (typeof target !== "string" || target === "") {
    return { result: errorResult(`${name}: "name" must be a mesh tool name as ${DISCOVERY_TOOL_NAMES.search} returns it (e.g. weather__forecast).`) };
  }
  if (name === DISCOVERY_TOOL_NAMES.get) {
    const tool = indexOf(listed).byName.get(target);
    if (!tool) return { result: errorResult(`${name}: no mesh method is named "${target}". Find the name with ${DISCOVERY_TOOL_NAMES.search}.`) };
    const entry = bridge.methodByName(target);
    const nodes = entry?.nodes ?? [];
    return {
      result: {
        content: [{ type: "text", text: `${JSON.stringify(tool)}\nOffered now by: ${nodes.join(", ") || "(no node)"}. Run it with ${DISCOVERY_TOOL_NAMES.call} {"name": "${target}", "arguments": {…}}.` }],
        structuredContent: { tool, nodes },
      },
    };
  }
  // mesh_call_tool: the method call it stands for (the server runs it as that tools/call).
  if (NAMES.has(target)) return { result: errorResult(`${name}: "${target}" is a discovery tool; call it directly.`) };
  let callArgs = args.arguments ?? {};
  if (typeof callArgs === "string") {
    try {
      callArgs = callArgs.trim() === "" ? {} : JSON.parse(callArgs);
    } catch (err) {
      return { result: errorResult(`${name}: "arguments" is a string but not JSON (${(err as Error).message}); send the method's arguments as an object or a JSON object string.`) };
    }
  }
  if (typeof callArgs !== "object" || callArgs === null || Array.isArray(callArgs)) {
    return { result: errorResult(`${name}: "arguments" must be an object of the method's arguments (see ${DISCOVERY_TOOL_NAMES.get}).`) };
  }
  return { call: { name: target, args: callArgs as Record<string, unknown> } };
}

/** Whole tools/list arrays per mesh list and built-ins (by name), serialised once (serialized.ts). */
const listings = new WeakMap<Tool[], Map<string, Tool[]>>();

/**
 * The tools/list array: the built-ins, then the mesh list. The same array (and its cached
 * JSON) while neither changes, so that a 10,000-tool list is not re-serialised per request.
 */
export function listing(builtins: Tool[], mesh: Tool[]): Tool[] {
  let byBuiltins = listings.get(mesh);
  if (!byBuiltins) listings.set(mesh, (byBuiltins = new Map()));
  const key = builtins.map((b) => b.name).join(",");
  let all = byBuiltins.get(key);
  if (!all) byBuiltins.set(key, (all = withSerialized([...builtins, ...mesh])));
  return all;
}

/** What tools/list shows of the mesh: the methods, or discovery's meta-tools instead. */
export function listedMeshTools(bridge: Bridge, tools: ToolList, access?: Access): Tool[] {
  return bridge.discoveryActive() ? DISCOVERY_TOOLS : tools.meshTools(access);
}
