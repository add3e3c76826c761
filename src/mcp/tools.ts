/**
 * Catalog → MCP tools, and the path of one call:
 * look up the name → validate (ajv) → mesh call or stream → results.ts.
 */
import { createRequire } from "node:module";
import type { Ajv, ValidateFunction } from "ajv";
import type { Ajv2019 } from "ajv/dist/2019.js";
import type { Ajv2020 } from "ajv/dist/2020.js";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { MeshCancelledError, MeshTimeoutError, NoRespondersError, StreamInactivityError } from "../mesh/errors.js";
import type { JsonObject, MethodEntry, StreamFrame } from "../mesh/index.js";
import type { Bridge, CallOutcome } from "./bridge.js";
import { entryFor, methodsFor, principalHeaders } from "./authorize.js";
import type { Access } from "./policy.js";
import { publishCallRecord } from "./call-log.js";
import { KeptChunks } from "./stream-chunks.js";
import { isLargeSchema, validateLarge } from "./validate-large.js";
import { errorResult, nodeErrorResult, okResult, textOf, thrownResult } from "./results.js";
import { normalizeManifestTypes } from "./schema-types.js";
import { sharedSchema } from "./shared-schema.js";
import { contentBytes } from "./audit.js";
import { randomUUID } from "node:crypto";
import { tracer, type RequestSpan } from "./otel.js";

/** The argument an agent uses to pin a call to one node (listed only with --node-arg; always accepted). */
export const NODE_ARG = "_node";
/** The same, for programmatic clients, in `params._meta`. */
export const NODE_META = "mesh-mcp/node";

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * jb-mesh property fragments may carry `required: true` (not valid JSON Schema,
 * and rejected by strict clients): lift those into the parent's `required` list.
 */
function liftBooleanRequired(schema: Record<string, unknown>): void {
  const props = schema.properties;
  if (typeof props !== "object" || props === null) return;
  const req = new Set<string>(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  for (const [name, frag] of Object.entries(props as Record<string, unknown>)) {
    if (typeof frag !== "object" || frag === null) continue;
    const f = frag as Record<string, unknown>;
    if (typeof f.required === "boolean") {
      if (f.required) req.add(name);
      delete f.required;
    }
    liftBooleanRequired(f);
    if (typeof f.items === "object" && f.items !== null) liftBooleanRequired(f.items as Record<string, unknown>);
  }
  if (req.size > 0) schema.required = [...req];
}

/**
 * Builds the method's input schema as MCP wants it: an object schema without `stream`.
 * Nothing about nodes goes in (no `_node` enum): a node joining or leaving must not
 * change a tool's definition (see NODE_ARG_PROPERTY for the opt-in pinning argument).
 */
function buildInputSchema(entry: MethodEntry): Tool["inputSchema"] {
  const s = clone(entry.schema) as Record<string, unknown>;
  delete s.stream;
  delete s.description; // it becomes the tool's description
  normalizeManifestTypes(s);
  if (s.type !== "object") s.type = "object";
  liftBooleanRequired(s);
  return s as Tool["inputSchema"];
}

/**
 * `_node` as listed with --node-arg: no node names (they change with the fleet, the
 * definition must not), and nullable, so that a strict-mode conversion (OpenAI strict:
 * every property required) still lets the model leave the choice to mesh-mcp with null.
 */
export const NODE_ARG_PROPERTY = {
  type: ["string", "null"],
  description: "Optional: the mesh node to run on (mesh://tools lists them); null or absent: any node that offers it.",
} as const;

/** The listed schema with the opt-in `_node` property (the call path validates without it). */
function withNodeArg(schema: Tool["inputSchema"]): Tool["inputSchema"] {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  if (NODE_ARG in props) return schema;
  return { ...schema, properties: { ...props, [NODE_ARG]: NODE_ARG_PROPERTY } };
}

/** Input schemas per catalog entry: entries are immutable once published (a change brings new ones). */
const inputSchemas = new WeakMap<MethodEntry, Tool["inputSchema"]>();

/**
 * The method's input schema as MCP wants it (an object schema without `stream`),
 * built once per catalog entry: tools/list and every call's validation share it.
 */
export function inputSchemaOf(entry: MethodEntry): Tool["inputSchema"] {
  let s = inputSchemas.get(entry);
  if (!s) inputSchemas.set(entry, (s = sharedSchema(buildInputSchema(entry))));
  return s;
}

/**
 * The tool's description: what the method says of itself, and whether it streams.
 * Nothing that changes with the fleet (nodes; the version, which differs between nodes
 * during a rolling upgrade): mesh://tools and mesh://nodes say which node offers what.
 */
export function describe(entry: MethodEntry): string {
  const base = entry.schema.description?.trim() || `${entry.toolDescription || entry.tool}: method ${entry.method}.`;
  return entry.stream ? `${base}\n\nStreams progress while it runs.` : base;
}

/** Hints that differ from the spec's defaults (openWorldHint defaults to true); the title is the tool's own `title`. */
function annotations(entry: MethodEntry): Tool["annotations"] | undefined {
  if (entry.tool === "files") {
    const ro = ["get", "head", "list"].includes(entry.method);
    return { readOnlyHint: ro, destructiveHint: entry.method === "delete", idempotentHint: ro || entry.method === "put", openWorldHint: false };
  }
  return undefined;
}

export interface ToolShape {
  /** List the opt-in `_node` argument (--node-arg). */
  nodeArg?: boolean;
}

/**
 * The MCP definition of a mesh method. It depends on the method alone (name, schema,
 * descriptions, streaming), never on which nodes offer it: byte-identical while the
 * method is unchanged, whatever the fleet does. Nothing is said twice: no `title` (it
 * would be the name re-spaced; annotations.title neither), and `_meta["mesh-mcp/key"]`
 * only when the name is not plainly `<tool>__<method>` (shortened or sanitised);
 * mesh://tools maps every name to its tool, method and nodes.
 */
export function toMcpTool(entry: MethodEntry, name: string, shape: ToolShape = {}): Tool {
  const schema = inputSchemaOf(entry);
  const hints = annotations(entry);
  return {
    name,
    description: describe(entry),
    inputSchema: shape.nodeArg ? withNodeArg(schema) : schema,
    ...(hints ? { annotations: hints } : {}),
    ...(name === `${entry.tool}__${entry.method}` ? {} : { _meta: { "mesh-mcp/key": `${entry.tool}.${entry.method}` } }),
  };
}

/**
 * The one seam for "which mesh methods may this caller see": tools/list, the discovery
 * meta-tools' search and get all go through it, so the policy (authorize.ts) applies to
 * all of them, on top of the bridge's filters (--include/--exclude/--node).
 */
export function visibleMethods(bridge: Bridge, access?: Access): MethodEntry[] {
  return access ? methodsFor(bridge, access) : bridge.methods();
}

/**
 * The key of a caller's view of the catalog. The policy decides on the roles alone
 * (policy.ts's Access), so principals with the same roles share one cached list.
 */
export function viewKey(access?: Access): string {
  return !access || access.unrestricted ? "" : JSON.stringify(access.roles);
}

/** Views kept per bridge; beyond, the cache starts over (a view costs a list build). */
const MAX_VIEWS = 256;
/** Built lists per bridge and view (and decoration), shared by every session and per-request server. */
const sharedLists = new WeakMap<Bridge, Map<string, { generation: number; catalog?: MethodEntry[]; tools: Tool[] }>>();

/**
 * MCP tool definitions per definitions generation (bridge.toolsGeneration moves only
 * when a definition changes, not when nodes come and go) and per caller view, shared
 * across sessions, so tools/list stays cheap (2026 HTTP builds a server per request).
 */
export class ToolList {
  /**
   * `decorate`: adds what a session knows and the catalog does not (e.g. task support);
   * `variant` names it for the shared cache (same name, same decoration).
   */
  constructor(private readonly bridge: Bridge, private readonly decorate?: (tool: Tool, entry: MethodEntry) => Tool, private readonly variant = decorate ? "decorated" : "plain") {}

  /** The mesh tools `access` may call (every visible one without a policy). */
  meshTools(access?: Access): Tool[] {
    const generation = this.bridge.toolsGeneration;
    let views = sharedLists.get(this.bridge);
    if (!views) sharedLists.set(this.bridge, (views = new Map()));
    const view = viewKey(access);
    const key = `${this.variant}\u0000${view}`;
    // A restricted view also depends on which nodes offer a method (a policy may allow some
    // nodes only), so it is rebuilt on every catalog change, not only on definition changes.
    const catalog = view === "" ? undefined : this.bridge.methods();
    const hit = views.get(key);
    if (hit?.generation === generation && hit.catalog === catalog) return hit.tools;
    const shape: ToolShape = { nodeArg: this.bridge.opts.nodeArg };
    const tools: Tool[] = [];
    for (const e of visibleMethods(this.bridge, access)) {
      const name = this.bridge.names.nameOf(e.tool, e.method);
      if (!name) continue;
      const tool = toMcpTool(e, name, shape);
      tools.push(this.decorate ? this.decorate(tool, e) : tool);
    }
    if (views.size >= MAX_VIEWS && !views.has(key)) views.clear();
    views.set(key, { generation, catalog, tools });
    return tools;
  }
}

// ---------------- validation ----------------

const AJV_OPTIONS = { strict: false, allErrors: true, validateFormats: false } as const;
// Loaded (synchronously, CommonJS) when the first schema is compiled: start-up needs none of them.
const load = createRequire(import.meta.url);
let ajv: Ajv | undefined;
/** 2020-12 is the dialect of 2026-07-28; draft-07 (the default Ajv) cannot compile it. Built on first use. */
let ajv2020: Ajv2020 | undefined;
let ajv2019: Ajv2019 | undefined;

/** The validator for the dialect the schema declares in `$schema` (draft-07 when it declares none). */
function compilerFor(schema: object): { compile(s: object): ValidateFunction } {
  const dialect = (schema as { $schema?: unknown }).$schema;
  if (typeof dialect === "string" && dialect.includes("2020-12")) return (ajv2020 ??= new (load("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js")).Ajv2020(AJV_OPTIONS));
  if (typeof dialect === "string" && dialect.includes("2019-09")) return (ajv2019 ??= new (load("ajv/dist/2019.js") as typeof import("ajv/dist/2019.js")).Ajv2019(AJV_OPTIONS));
  return (ajv ??= new (load("ajv") as typeof import("ajv")).Ajv(AJV_OPTIONS));
}
const validators = new Map<string, ValidateFunction | null>();
/** The same validators by schema object, so a schema seen before costs no JSON.stringify. */
const validatorsBySchema = new WeakMap<object, ValidateFunction | null>();

/** Validates args against the tool's input schema; returns error lines, or [] when valid. */
export function validateArgs(schema: Tool["inputSchema"], args: JsonObject, warn: (m: string) => void): string[] {
  // A large schema is checked key by key, compiling only what the call uses (validate-large.ts says why).
  if (isLargeSchema(schema)) return validateLarge(schema, args, { compile: (sub) => compiledOnce(sub, warn) ?? undefined, warn });
  const v = compiledOnce(schema, warn);
  if (!v || v(args)) return [];
  return (v.errors ?? []).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "arguments";
    const extra = e.keyword === "enum" ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")})` : "";
    return `${where} ${e.message}${extra}`;
  });
}

/** The compiled validator of `schema`, cached (null: it cannot be compiled; said once). */
function compiledOnce(schema: object, warn: (m: string) => void): ValidateFunction | null {
  let v = validatorsBySchema.get(schema);
  if (v === undefined) {
    const key = JSON.stringify(schema);
    v = validators.get(key);
    if (v === undefined) {
      try {
        v = compilerFor(schema).compile(schema);
      } catch (err) {
        warn(`cannot compile input schema (${(err as Error).message}); arguments go unvalidated`);
        v = null;
      }
      if (validators.size > 5000) validators.clear();
      validators.set(key, v);
    }
    validatorsBySchema.set(schema, v);
  }
  return v;
}

// ---------------- calling ----------------

export interface CallContext {
  /** The MCP session the call came from: its log lines go to that session only. */
  session?: string;
  signal: AbortSignal;
  /**
   * Aborts `signal`, from a caller that owns it (the stdio fast path): the call then
   * needs no controller of its own (each costs a few µs, linked or not).
   */
  abort?: (reason?: unknown) => void;
  progressToken?: string | number;
  sendProgress(progress: number, total?: number, message?: string): Promise<void>;
  /**
   * Resolves once the client has dispatched the progress sent so far (a ping round
   * trip), so the result cannot overtake it. The SDK 1.x client handles a notification
   * a microtask later than a response that arrives in the same read, and drops progress
   * for a call it has already finished ("unknown token", typescript-sdk#2580).
   */
  flushProgress?(): Promise<void>;
  meta?: Record<string, unknown>;
  /** The request's span (otel-requests.ts), when the request came through the SDK while tracing: the mesh-call span goes under it. */
  span?: RequestSpan;
  /** The caller under the policy: its identity goes to the mesh as headers, and into the audit record. */
  access?: Access;
  /** The MCP client's name and version (audit record). */
  client?: { name?: string; version?: string };
  /** Who asked, for the status page and logs: the principal's name, else the client's name/version. */
  caller?: string;
}

/** The NATS headers of a call: the trace context and the caller's identity. */
export function callHeaders(ctx: Pick<CallContext, "meta" | "access">): Record<string, string> | undefined {
  const trace = traceHeaders(ctx.meta);
  const who = ctx.access ? principalHeaders(ctx.access) : undefined;
  return who ? (trace ? { ...trace, ...who } : who) : trace;
}

// W3C Trace Context (the spec's `_meta.traceparent` / `_meta.tracestate`, SEP-414).
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACESTATE_MAX = 512;

/**
 * The client's trace context as NATS request headers, so one trace spans agent,
 * bridge and node. Malformed values are dropped rather than passed on.
 */
export function traceHeaders(meta: Record<string, unknown> | undefined): Record<string, string> | undefined {
  const parent = meta?.traceparent;
  if (typeof parent !== "string" || !TRACEPARENT.test(parent)) return undefined;
  const state = meta?.tracestate;
  const out: Record<string, string> = { traceparent: parent };
  if (typeof state === "string" && state.length <= TRACESTATE_MAX && !/[\r\n]/.test(state)) out.tracestate = state;
  return out;
}

/** Most characters of a progress message: a status line, not a payload (a node may send megabytes). */
const PROGRESS_MESSAGE_MAX = 4096;
const boundMessage = (m: string): string => (m.length <= PROGRESS_MESSAGE_MAX ? m : `${m.slice(0, PROGRESS_MESSAGE_MAX)}… (${m.length - PROGRESS_MESSAGE_MAX} more characters)`);

/** Progress fields a chunk may carry: `progress`, `total`, `message`. */
export function progressOf(chunk: unknown): { progress?: number; total?: number; message?: string } {
  if (typeof chunk !== "object" || chunk === null) {
    return { message: typeof chunk === "string" ? boundMessage(chunk) : chunk === undefined ? undefined : JSON.stringify(chunk) };
  }
  const c = chunk as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : undefined);
  const message = typeof c.message === "string" ? boundMessage(c.message) : undefined;
  return { progress: num(c.progress), total: num(c.total), message };
}

/** Most characters of the chunk summary added to a streamed result without progress. */
const CHUNK_SUMMARY_MAX = 16_384;

/** Where a call went (each attempt, as it goes out) and which node answered. */
interface Answered {
  node?: string;
  /** The mesh call id when we choose it (the audit record's), else the mesh picks one. */
  callId?: string;
  /** NATS request headers: the trace context (the mesh-call span's when tracing, else the client's). */
  headers?: Record<string, string>;
  attempt?: (node: string | undefined, callId: string | undefined) => void;
}

/** A signal and the way to abort it (an AbortController, or a caller's own). */
interface Abortable {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}

/**
 * What the name of a tools/call is: one of `builtins`, a visible mesh method, or
 * neither — then `missing` is the result the agent gets (why the mesh is unavailable,
 * or that no such tool exists). Shared by both revisions' servers and the fast paths.
 * `access`: the caller's view under the policy (authorize.ts); a method it may not call
 * is missing exactly as an unknown one (same text: no existence leak), and `entry` has
 * only the nodes it may use. `builtins` are the ones the caller may see already.
 */
export function findTool<B extends { tool: { name: string } }>(
  bridge: Bridge, builtins: readonly B[], name: string, access?: Access,
): { builtin?: B; entry?: MethodEntry; missing?: CallToolResult } {
  const builtin = builtins.find((b) => b.tool.name === name);
  if (builtin) return { builtin };
  const found = bridge.methodByName(name);
  const entry = found && access ? entryFor(access, found) : found;
  if (entry) return { entry };
  const why = bridge.unavailableReason();
  if (why) return { missing: errorResult(`${name}: ${why}`) };
  return { missing: errorResult(`unknown tool "${name}": it is not (or no longer) in the mesh. List the tools again; read mesh://tools for what the mesh offers now.`) };
}

/** What a thrown call error means for metrics. */
function outcomeOf(err: unknown): CallOutcome {
  if (err instanceof MeshTimeoutError || err instanceof StreamInactivityError) return "timeout";
  if (err instanceof MeshCancelledError) return err.cause instanceof MeshTimeoutError ? "timeout" : "cancelled";
  if (err instanceof NoRespondersError) return "no_responders";
  return "error";
}

/**
 * The node and the validated params of a call. `pin`: choose a node when none was
 * asked for (tasks: their liveness is watched on one node).
 */
export function prepareCall(
  bridge: Bridge, entry: MethodEntry, args: JsonObject, meta: Record<string, unknown> | undefined, pin: boolean,
): { params: JsonObject; node: string | undefined } | { problem: string } {
  const key = `${entry.tool}.${entry.method}`;
  const params = { ...args };
  // null or "" is "no preference" (what a strict-mode model sends for the nullable _node).
  const asked = (v: unknown) => (v === null || v === "" ? undefined : v);
  const wanted = asked(params[NODE_ARG]) ?? asked(meta?.[NODE_META]);
  delete params[NODE_ARG];
  if (wanted !== undefined && typeof wanted !== "string") {
    return { problem: `${key}: ${NODE_ARG} must be a node name (a string) or null; read mesh://tools for the nodes that offer it.` };
  }
  let node = wanted;
  if (node !== undefined && !entry.nodes.includes(node)) {
    return { problem: `${key}: node "${node}" does not offer this method; it is offered by ${entry.nodes.join(", ")}.` };
  }
  if (node === undefined && pin) node = entry.nodes[Math.floor(Math.random() * entry.nodes.length)];
  const problems = validateArgs(inputSchemaOf(entry), params, (m) => bridge.log.warn(`${key}: ${m}`));
  if (problems.length) {
    return { problem: `${key}: invalid arguments:\n- ${problems.join("\n- ")}\nFix them and call again (see the tool's input schema).` };
  }
  return { params, node };
}

/** Calls a visible mesh method for an MCP client. Never throws: every failure is an isError result. */
export async function callMeshTool(bridge: Bridge, entry: MethodEntry, args: JsonObject, ctx: CallContext): Promise<CallToolResult> {
  const key = `${entry.tool}.${entry.method}`;
  const started = performance.now();
  // Tracing (otel.ts): undefined when off, and then the client's trace context goes on as it came.
  const traced = tracer?.startCall(
    { name: bridge.names.nameOf(entry.tool, entry.method) ?? key, tool: entry.tool, method: entry.method, caller: ctx.caller },
    traceHeaders(ctx.meta) ?? {},
    ctx.span,
  );
  const audit = bridge.opts.audit;
  const trace = traced ? traced.headers : traceHeaders(ctx.meta);
  const who = ctx.access ? principalHeaders(ctx.access) : undefined;
  const answered: Answered = {
    headers: who ? (trace ? { ...trace, ...who } : who) : trace,
    // The audit record's call id: ours, so it is known whichever node answers.
    callId: audit ? randomUUID() : undefined,
    attempt: (node, callId) => {
      if (live) Object.assign(live, { node: node ?? live.node, callId });
      traced?.attempt(node, callId);
    },
  };
  let live: ReturnType<Bridge["callStarted"]> | undefined;
  let bytesOut: number | undefined;
  let corr: string | undefined;
  const done = (outcome: CallOutcome, ms: number, error?: string) => {
    traced?.end(outcome, answered.node, error);
    bridge.callDone(key, outcome, ms, {
      node: answered.node, session: ctx.session, error, caller: ctx.caller, live,
      principal: ctx.access?.principal, roles: ctx.access?.roles, client: ctx.client,
      callId: answered.callId, corr, bytesIn: audit ? JSON.stringify(args).length : undefined, bytesOut,
    });
  };
  const rejected = (outcome: CallOutcome, text: string) => (done(outcome, 0, text), errorResult(text));
  const why = bridge.unavailableReason();
  if (why) return rejected("unavailable", `${key}: ${why}`);
  const mesh = bridge.mesh!;

  const prepared = prepareCall(bridge, entry, args, ctx.meta, false);
  if ("problem" in prepared) return rejected("invalid", prepared.problem);
  const { params, node } = prepared;
  const callCorr = mesh.corrFor(params);
  corr = callCorr;

  // One abortable signal for the call (client cancel, shutdown, a stream's deadline):
  // the caller's own when it can abort it (ctx.abort), else a controller linked to it.
  let ac: Abortable;
  let unlink: (() => void) | undefined;
  if (ctx.abort) {
    ac = { signal: ctx.signal, abort: ctx.abort };
  } else {
    const own = new AbortController();
    const onAbort = () => own.abort(ctx.signal.reason);
    if (ctx.signal.aborted) own.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    unlink = () => ctx.signal.removeEventListener("abort", onAbort);
    ac = own;
  }
  bridge.inflight.add(ac);
  const resultOpts = { files: mesh.files, inlineImageMax: bridge.opts.inlineImageMax ?? 1 << 20, resourceLinks: bridge.opts.resourceLinks, resultMax: bridge.opts.resultMax };
  let outcome: CallOutcome = "error";
  let result: CallToolResult | undefined;
  let streamed = false;
  live = bridge.callStarted(key, node, ctx.session, ctx.caller);
  try {
    // Go nodes fetch file-store keys into local files for request/reply calls only; a
    // stream would hand the tool the bare key. The method's request/reply subject serves
    // the same method, so a stream with file inputs goes there (without progress).
    const fileInputs = entry.stream ? mesh.fileKeyParams(params) : [];
    streamed = entry.stream && fileInputs.length === 0;
    result = streamed
      ? await runStream(bridge, entry, params, node, ac, ctx, resultOpts, answered, callCorr)
      : await runCall(bridge, entry, params, node, ac.signal, ctx, resultOpts, answered, callCorr);
    if (fileInputs.length) {
      result.content.push({ type: "text", text: `(called without streaming so the node fetches ${fileInputs.join(", ")} from the file store: jb-mesh nodes do not resolve file keys for streams; no progress was sent)` });
    }
    if (!result.isError) outcome = "ok";
    return result;
  } catch (err) {
    outcome = outcomeOf(err);
    result = thrownResult(err, key);
    return result;
  } finally {
    unlink?.();
    bridge.inflight.delete(ac);
    const detail = result?.isError ? textOf(result.content.find((c) => c.type === "text")?.text ?? "") : undefined;
    if (audit) bytesOut = contentBytes(result?.content as never);
    const ms = performance.now() - started;
    done(outcome, ms, detail);
    // The mesh log store's record names the caller too (name and roles; never a token).
    const who = ctx.access?.principal;
    const principal = who && who.source !== "anonymous" ? { name: who.name, roles: [...(ctx.access!.roles ?? who.roles)] } : undefined;
    publishCallRecord(bridge, { tool: entry.tool, method: entry.method, node: answered.node ?? node, corr: callCorr, ms, outcome, error: detail, stream: streamed, principal });
  }
}

async function runCall(
  bridge: Bridge, entry: MethodEntry, params: JsonObject, node: string | undefined,
  signal: AbortSignal, ctx: CallContext, resultOpts: Parameters<typeof okResult>[1], answered: Answered, corr: string,
): Promise<CallToolResult> {
  const key = `${entry.tool}.${entry.method}`;
  // Keep-alive progress so clients that reset their timeout on progress do not give up.
  const every = bridge.opts.keepaliveMs ?? 15_000;
  let ticks = 0;
  const started = Date.now();
  const keepalive = ctx.progressToken !== undefined && every > 0
    ? setInterval(() => {
        ticks++;
        const secs = Math.round((Date.now() - started) / 1000);
        // While NATS is down the answer cannot arrive: say so instead of "still running".
        // A jb-service method that returns None never answers (docs/tool-authors.md): say so once it is long.
        const message = bridge.state === "connected"
          ? `${key} still running on the mesh (${secs} s)${secs >= 60 ? "; no answer yet (a tool method that returns None never answers: cancel the call if it should be done)" : ""}`
          : `${key}: the NATS connection is down (call started ${secs} s ago); once it is back the call is checked and ends if its answer was lost`;
        void ctx.sendProgress(ticks, undefined, message).catch(() => {});
      }, every)
    : undefined;
  try {
    const reply = await bridge.mesh!.call(entry.tool, entry.method, params, {
      node,
      nodes: entry.nodes,
      signal,
      callId: answered.callId,
      headers: answered.headers,
      onAttempt: answered.attempt,
      timeoutMs: bridge.opts.callTimeoutMs ?? 3_600_000,
      corr,
    });
    answered.node = reply.node || undefined;
    if (!reply.ok) return nodeErrorResult(reply.error, reply.node, key);
    return await okResult(reply.result, resultOpts);
  } finally {
    clearInterval(keepalive);
  }
}

async function runStream(
  bridge: Bridge, entry: MethodEntry, params: JsonObject, node: string | undefined,
  ac: Abortable, ctx: CallContext, resultOpts: Parameters<typeof okResult>[1], answered: Answered, corr: string,
): Promise<CallToolResult> {
  const key = `${entry.tool}.${entry.method}`;
  const outages: number[] = [];
  const stream = bridge.mesh!.stream(entry.tool, entry.method, params, {
    node,
    nodes: entry.nodes,
    signal: ac.signal,
    callId: answered.callId,
    headers: answered.headers,
    onAttempt: answered.attempt,
    inactivityTimeoutMs: bridge.opts.streamIdleMs ?? 120_000,
    corr,
    onOutage: (ms) => {
      // Said, not skipped: chunks the node sent while NATS was down are gone.
      outages.push(ms);
      const message = `NATS was down for ${(ms / 1000).toFixed(1)} s during ${key}: progress sent in that time is lost; the stream goes on`;
      bridge.log.warn(message, { session: ctx.session, tool: key });
      if (ctx.progressToken !== undefined) void ctx.sendProgress(last = last + 1, undefined, message).catch(() => {});
    },
  });
  const kept = new KeptChunks();
  let count = 0;
  let last = 0;
  // The whole call is bounded by --call-timeout too, not only by inactivity.
  const limit = bridge.opts.callTimeoutMs ?? 3_600_000;
  const deadline = setTimeout(() => ac.abort(new MeshTimeoutError(stream.subject, limit)), limit);
  let terminal: StreamFrame | undefined;
  try {
    for await (const frame of stream) {
      // A frame with `error` is final whatever `done` says (a Python tool that raised).
      if (frame.done || frame.error !== undefined) {
        terminal = frame;
        break;
      }
      count++;
      kept.add(frame.chunk);
      if (ctx.progressToken !== undefined) {
        const p = progressOf(frame.chunk);
        // progress must increase: use the chunk's own figure when it does, else the chunk count.
        const progress = p.progress !== undefined && p.progress > last ? p.progress : Math.max(count, last + 1);
        last = progress;
        void ctx.sendProgress(progress, p.total, p.message).catch(() => {});
      }
    }
  } finally {
    clearTimeout(deadline);
    kept.release();
  }
  if (count > 0 && ctx.progressToken !== undefined) await ctx.flushProgress?.();
  answered.node = terminal?.node || undefined;
  if (!terminal) return errorResult(`${key}: the stream ended without a terminal frame`);
  if (terminal.error !== undefined) {
    const tb = terminal.traceback && !terminal.error.includes(terminal.traceback) ? `\n${terminal.traceback}` : "";
    return nodeErrorResult(`${terminal.error}${tb}`, terminal.node ?? stream.node ?? "", key);
  }
  // Chunks are part of the result when the terminal result lacks them (nothing is lost without progress).
  if (terminal.result === undefined || terminal.result === null) {
    if (kept.overflow) {
      return errorResult(
        `${key}: the stream's final frame has no result, so its ${count} chunks are the result, but they are more than mesh-mcp keeps ` +
          `(${kept.overflow}; ${kept.notKept} chunks not kept). Have the tool return its result in the final frame, ` +
          `or put large output in the mesh file store and return its key.`,
      );
    }
    return okResult({ chunks: kept.chunks }, resultOpts);
  }
  const out = await okResult(terminal.result, resultOpts);
  if (outages.length) out.content.push({ type: "text", text: `(progress sent during ${outages.length} NATS outage(s) of ${outages.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} was lost)` });
  if (ctx.progressToken === undefined && kept.chunks.length > 0) {
    const shown = kept.chunks;
    const chunks = textOf(count > 20 ? [...shown.slice(0, 20), `… ${count - 20} more`] : shown);
    // Bounded like the result itself: chunks are a summary here, not a second payload.
    const summary = chunks.length > CHUNK_SUMMARY_MAX ? `${chunks.slice(0, CHUNK_SUMMARY_MAX)}\n… (${chunks.length - CHUNK_SUMMARY_MAX} more characters)` : chunks;
    out.content.push({ type: "text", text: `(${count} progress chunks)\n${summary}` });
  }
  return out;
}
