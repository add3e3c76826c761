/**
 * The serving side: tools registered exactly as a Go jb-mesh node registers them
 * (one NATS micro service per tool, `tools.<tool>` group, schema in endpoint
 * metadata, node-targeted and `.stream` subscriptions, a `cancel.<call_id>`
 * subscription per call handed to the handler as an AbortSignal).
 */
import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { MeshConfigError } from "./errors.js";
import { FileStore } from "./files.js";
import { resolveFileParams } from "./params.js";
import {
  NODE_JOINED,
  cancelSubject,
  isToken,
  nodeCallSubject,
  nodeStreamSubject,
  streamSubject,
  toolGroup,
} from "./subjects.js";
import { CallRequestWire, type CallRequest, type CallResult, type JsonObject, type MethodSchema, type StreamFrame } from "./types.js";

/** What a handler gets besides the params. */
export interface ToolCallContext {
  tool: string;
  method: string;
  /** This node's name. */
  node: string;
  /** The request as it came over the wire. */
  request: CallRequest;
  /** Aborted when the caller publishes `cancel.<call_id>` (cooperative: the handler decides). */
  signal: AbortSignal;
  /** True when called on a `.stream` subject: `emit` sends frames to the caller. */
  streaming: boolean;
  /** Sends a partial frame (`{chunk, done:false}`); a no-op on plain request/reply calls. */
  emit(chunk: unknown): void;
}

/** Returns the call's result; throwing gives an `ok:false` reply with the error's message. */
export type ToolHandler = (params: JsonObject, ctx: ToolCallContext) => unknown | Promise<unknown>;

export interface ToolMethodDefinition {
  /** Input schema published in endpoint metadata. Omit to publish none (callers then use the fallback). */
  schema?: MethodSchema;
  /** Also serve `tools.<tool>.<method>.stream` (sets `stream: true` in the schema). */
  stream?: boolean;
  handler: ToolHandler;
}

export interface ToolDefinition {
  name: string;
  version?: string;
  description?: string;
  methods: Record<string, ToolMethodDefinition>;
}

interface Registration {
  def: ToolDefinition;
  service?: Service;
  subs: Subscription[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Schemas as published: `stream: true` added for streaming methods. */
export function publishedSchema(m: ToolMethodDefinition): MethodSchema | undefined {
  if (!m.schema && !m.stream) return undefined;
  return m.stream ? { ...(m.schema ?? { type: "object" }), stream: true } : m.schema;
}

export interface ToolServerOptions {
  /** Resolve file-store keys in known file params to temp files on request/reply calls (like the Go node with a store; not on streams). */
  resolveFiles?: FileStore;
  log?: (message: string) => void;
  /** Log each call's start, end and cancel through `log` (a node's live call log). */
  logCalls?: boolean;
}

/** Registers and serves tools for one node over one connection. */
export class ToolServer {
  private readonly regs = new Map<string, Registration>();
  private readonly svcm: Svcm;
  /** In-flight calls by call_id, aborted by `cancel.<call_id>`. */
  private readonly inflight = new Map<string, Set<AbortController>>();
  private cancelSub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    readonly node: string,
    private readonly opts: ToolServerOptions = {},
  ) {
    if (!isToken(node)) throw new MeshConfigError(`node name "${node}" must be one NATS subject token (no dots, spaces or wildcards)`);
    this.svcm = new Svcm(nc);
  }

  /**
   * One `cancel.*` subscription for all calls, made before any tool is served. A
   * per-call `cancel.<call_id>` subscription would race the caller: a cancel published
   * right after the request can reach the server before that SUB and be lost. The
   * wildcard is already in place, and NATS keeps one publisher's request and cancel in
   * order, so the call is registered below before its cancel is delivered.
   */
  private listenForCancels(): void {
    this.cancelSub ??= this.nc.subscribe(cancelSubject("*"), {
      callback: (err, msg) => {
        if (err) return;
        const callId = msg.subject.slice(cancelSubject("").length);
        const calls = this.inflight.get(callId);
        if (calls && this.opts.logCalls) this.log(`cancel.${callId} received: stopping the call`);
        for (const ac of calls ?? []) ac.abort(new Error("cancelled by caller"));
      },
    });
  }

  private log(message: string): void {
    this.opts.log?.(message);
  }

  /** Registers a tool; replaces an earlier registration of the same name. */
  async registerTool(def: ToolDefinition): Promise<void> {
    if (!isToken(def.name)) throw new MeshConfigError(`tool name "${def.name}" must be one NATS subject token`);
    for (const m of Object.keys(def.methods)) {
      if (!isToken(m)) throw new MeshConfigError(`method name "${def.name}.${m}" must be one NATS subject token`);
    }
    if (this.regs.has(def.name)) await this.unregisterTool(def.name);
    this.listenForCancels();
    const reg: Registration = { def, subs: [] };
    try {
      await this.start(reg);
    } catch (err) {
      await this.stop(reg);
      throw err;
    }
    this.regs.set(def.name, reg);
    this.publishEvent("tool.started", { tool: def.name, version: def.version ?? "" });
  }

  private async start(reg: Registration): Promise<void> {
    const { def } = reg;
    const service = await this.svcm.add({
      name: def.name,
      version: def.version ?? "0.0.0",
      description: def.description ?? "",
      metadata: { node: this.node },
    });
    reg.service = service;
    const group = service.addGroup(toolGroup(def.name));
    for (const [method, m] of Object.entries(def.methods)) {
      const schema = publishedSchema(m);
      group.addEndpoint(method, {
        handler: (err: Error | null, msg: ServiceMsg) => {
          if (!err) void this.serveCall(def.name, method, m, msg);
        },
        metadata: schema ? { schema: JSON.stringify(schema) } : undefined,
      });
      const serve = (err: Error | null, msg: Msg) => {
        if (!err) void this.serveCall(def.name, method, m, msg);
      };
      reg.subs.push(this.nc.subscribe(nodeCallSubject(this.node, def.name, method), { callback: serve }));
      if (m.stream) {
        const serveStream = (err: Error | null, msg: Msg) => {
          if (!err) void this.serveStream(def.name, method, m, msg);
        };
        reg.subs.push(this.nc.subscribe(streamSubject(def.name, method), { callback: serveStream }));
        reg.subs.push(this.nc.subscribe(nodeStreamSubject(this.node, def.name, method), { callback: serveStream }));
      }
    }
    // Make sure the server has our interest before anyone is told the tool exists.
    await this.nc.flush();
    this.log(`registered ${def.name} (${Object.keys(def.methods).length} methods) on node ${this.node}`);
  }

  private async stop(reg: Registration): Promise<void> {
    for (const s of reg.subs) s.unsubscribe();
    reg.subs = [];
    const svc = reg.service;
    reg.service = undefined;
    if (svc && !svc.isStopped) await svc.stop().catch(() => {});
  }

  /** Removes a tool; returns false when it was not registered. */
  async unregisterTool(name: string): Promise<boolean> {
    const reg = this.regs.get(name);
    if (!reg) return false;
    this.regs.delete(name);
    await this.stop(reg);
    this.publishEvent("tool.removed", { tool: name });
    return true;
  }

  /** After a reconnect: fresh services (new ids) for every tool, then `events.node.joined`. */
  async reRegister(): Promise<void> {
    if (this.regs.size === 0) return;
    for (const reg of this.regs.values()) {
      await this.stop(reg);
      try {
        await this.start(reg);
      } catch (err) {
        this.log(`failed to re-register ${reg.def.name}: ${errorText(err)}`);
      }
    }
    this.nc.publish(NODE_JOINED, JSON.stringify({ node: this.node, event: "reconnect" }));
  }

  tools(): string[] {
    return [...this.regs.keys()];
  }

  private publishEvent(type: string, data: JsonObject): void {
    if (this.nc.isClosed()) return;
    const [kind, event] = type.split(".");
    const body = { type, node: this.node, timestamp: new Date().toISOString(), data };
    try {
      this.nc.publish(`events.${kind}.${event}`, JSON.stringify(body));
    } catch {
      /* events are best effort */
    }
  }

  /** Parses the request; returns an error text for malformed JSON like the Go node. */
  private parseRequest(msg: Msg): CallRequest | string {
    if (msg.data.length === 0) return { params: {} };
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(msg.data));
    } catch (err) {
      return `invalid request: ${errorText(err)}`;
    }
    const parsed = CallRequestWire.safeParse(json);
    if (!parsed.success) return `invalid request: ${parsed.error.issues[0]?.message ?? "bad shape"}`;
    return { ...parsed.data, params: parsed.data.params ?? {} } as CallRequest;
  }

  /** Runs the handler with a cancel subscription and file resolution around it. */
  private async run(
    tool: string,
    method: string,
    m: ToolMethodDefinition,
    req: CallRequest,
    streaming: boolean,
    emit: (chunk: unknown) => void,
  ): Promise<unknown> {
    const ac = new AbortController();
    const callId = req.call_id?.trim();
    if (callId) {
      const calls = this.inflight.get(callId) ?? new Set();
      this.inflight.set(callId, calls.add(ac));
    }
    let cleanup: (() => Promise<void>) | undefined;
    try {
      // Request/reply only, like the Go node (pkg/mesh RegisterTool): its .stream
      // handler hands the tool the raw key, so tools written for it fetch keys themselves.
      if (this.opts.resolveFiles && !streaming) {
        cleanup = await resolveFileParams(req.params, this.opts.resolveFiles, (w) => this.log(w));
      }
      const ctx: ToolCallContext = { tool, method, node: this.node, request: req, signal: ac.signal, streaming, emit };
      if (!this.opts.logCalls) return await m.handler(req.params, ctx);
      const label = `call ${tool}.${method}${callId ? ` (${callId})` : ""}`;
      const started = performance.now();
      const took = () => `${Math.round(performance.now() - started)} ms`;
      this.log(`${label} started`);
      try {
        const result = await m.handler(req.params, ctx);
        this.log(ac.signal.aborted ? `${label} cancelled by the caller after ${took()}` : `${label} ok in ${took()}`);
        return result;
      } catch (err) {
        this.log(ac.signal.aborted ? `${label} cancelled by the caller after ${took()}` : `${label} failed in ${took()}: ${errorText(err)}`);
        throw err;
      }
    } finally {
      if (callId) {
        const calls = this.inflight.get(callId);
        calls?.delete(ac);
        if (calls?.size === 0) this.inflight.delete(callId);
      }
      await cleanup?.();
    }
  }

  private async serveCall(tool: string, method: string, m: ToolMethodDefinition, msg: Msg): Promise<void> {
    const req = this.parseRequest(msg);
    let reply: CallResult;
    if (typeof req === "string") {
      reply = { ok: false, error: req, node: this.node };
    } else {
      try {
        const result = await this.run(tool, method, m, req, false, () => {});
        reply = { ok: true, result, node: this.node };
      } catch (err) {
        reply = { ok: false, error: errorText(err), node: this.node };
      }
    }
    this.respond(msg, reply);
  }

  private async serveStream(tool: string, method: string, m: ToolMethodDefinition, msg: Msg): Promise<void> {
    if (!msg.reply) return;
    const inbox = msg.reply;
    const send = (frame: StreamFrame) => this.publish(inbox, frame);
    const req = this.parseRequest(msg);
    if (typeof req === "string") return send({ error: req, done: true, node: this.node });
    let ended = false;
    const emit = (chunk: unknown) => {
      if (!ended) send({ chunk, done: false, node: this.node });
    };
    try {
      const result = await this.run(tool, method, m, req, true, emit);
      ended = true;
      send({ result, done: true, node: this.node });
    } catch (err) {
      ended = true;
      send({ error: errorText(err), done: true, node: this.node });
    }
  }

  private respond(msg: Msg, body: unknown): void {
    if (!msg.reply) return;
    this.publish(msg.reply, body);
  }

  private publish(subject: string, body: unknown): void {
    try {
      // JSON.stringify drops `undefined` (Go's omitempty does the same for nil).
      this.nc.publish(subject, encoder.encode(JSON.stringify(body)));
    } catch (err) {
      this.log(`reply on ${subject} failed: ${errorText(err)}`);
    }
  }

  async close(): Promise<void> {
    const serving = this.regs.size > 0;
    for (const reg of this.regs.values()) await this.stop(reg);
    this.regs.clear();
    // Like jb-mesh's Node.Close (pkg/node/node.go): say so, so catalogs drop our tools at once
    // instead of at their next periodic discovery. After stopping, so a refresh sees us gone.
    if (serving) this.publishEvent("node.left", { reason: "shutdown" });
    this.cancelSub?.unsubscribe();
    this.cancelSub = undefined;
  }
}
