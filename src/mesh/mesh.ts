/**
 * `Mesh`: one NATS connection with everything a jb-mesh caller or node needs.
 * The TypeScript counterpart of the Go `mesh.Mesh`.
 */
import { RequestCancels } from "./request-cancels.js";
import { nuid, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { AdminClient, subscribeAdmin, subscribeFileHandlers, subscribeToolSchema, type AdminHandlers } from "./admin.js";
import { NodePicker, PickedStream, isSetupError } from "./balance.js";
import { Caller, MeshStream, extractCorr, type CallOptions, type CallWatch, type StreamOptions } from "./call.js";
import { CallLog, CallRecords, DEFAULT_REPLY_GRACE_MS, ReplyDroppedError, recordAddendum, type NodeCallRecord } from "./logstore.js";
import { Catalog, listServices, RECONNECT_GRACE_MS, type CatalogOptions, type DiscoverOptions } from "./catalog.js";
import { NodeGoneError, NoRespondersError, ReplyLostError } from "./errors.js";
import { Liveness, type LivenessOptions } from "./liveness.js";
import { isFileKeyParam } from "./params.js";
import { callSubject, nodeCallSubject } from "./subjects.js";
import { connectNats, type ConnectOptions } from "./connect.js";
import { FileStore, type FileStoreOptions } from "./files.js";
import { fileToolDefinition } from "./filetool.js";
import { ToolServer, type ToolDefinition } from "./node.js";
import { TaskStore, type TaskStoreOptions } from "./tasks.js";
import { MeshEvents, WebhookStore, type EventLogOptions } from "./events/index.js";
import type { CallResult, JsonObject, SchemaResult, ServiceInfo } from "./types.js";

export type LogLevel = "debug" | "info" | "warning" | "error";

export interface MeshOptions extends ConnectOptions {
  /** This process's node name, for serving tools (default: none; required to register tools). */
  node?: string;
  catalog?: CatalogOptions;
  files?: FileStoreOptions;
  /** Resolve file-store keys in file params before calling request/reply handlers (Go node with a store; streams get the key). */
  resolveFileParams?: boolean;
  /** Log each served call (start, outcome, cancel) at info level through `log`. */
  logCalls?: boolean;
  /** Durable tasks: where records and captured replies live, and for how long. */
  tasks?: TaskStoreOptions;
  /** Mesh events (the capture stream behind MCP events): its name and limits. */
  events?: EventLogOptions;
  /** Where the library logs (default: nowhere). Never stdout in a stdio MCP server. */
  log?: (level: LogLevel, message: string) => void;
  /** Probing of the nodes that serve in-flight calls (see liveness.ts). */
  liveness?: LivenessOptions;
  /**
   * After a NATS outage, a stream must send a frame within this long to prove it is
   * still alive (its final frame may have been lost); default 6000 ms.
   */
  outageRecheckMs?: number;
  /**
   * After a node's call record (logs.call.*) says the call is over, how long its reply
   * or final frame may still take before the call ends without it (default 1500 ms).
   * 0: do not read the nodes' records.
   */
  replyGraceMs?: number;
  /** Publish one record per call made through `Mesh` users (CallLog) as this source (default: `name`, else "mesh-mcp"). */
  callLogSource?: string;
}

/** Options of a call or stream through `Mesh` (picking a node among `nodes`). */
export interface MeshCallOptions extends CallOptions {
  /**
   * Without `node`: pick one of these nodes (default: the catalog's nodes for the
   * method). Empty or unknown → the plain load-balanced subject.
   */
  nodes?: readonly string[];
}

export interface MeshStreamOptions extends StreamOptions {
  nodes?: readonly string[];
  /** The stream lived through a NATS outage of `ms`: frames sent in it are lost. */
  onOutage?: (ms: number) => void;
}

export const OUTAGE_RECHECK_MS = 6000;

export type ConnectionState = "connected" | "disconnected" | "closed";

export class Mesh {
  readonly caller: Caller;
  readonly admin: AdminClient;
  readonly files: FileStore;
  /** Cancels of MCP requests between mesh-mcp replicas (request-cancels.ts). */
  readonly requestCancels: RequestCancels;
  private toolServer?: ToolServer;
  private liveCatalog?: Catalog;
  private catalogStarting?: Promise<Catalog>;
  private taskStore?: Promise<TaskStore>;
  private eventStore?: Promise<MeshEvents>;
  private hookStore?: Promise<WebhookStore>;
  private subs: Subscription[] = [];
  private state: ConnectionState = "connected";
  private stateListeners = new Set<(s: ConnectionState) => void>();
  private readonly picker = new NodePicker();
  private readonly liveness: Liveness;
  private disconnectedAt = 0;
  private reconnectedAt = 0;
  private outageListeners = new Set<(ms: number) => void>();
  private readonly records: CallRecords;
  /** Publishes call records in jb-mesh's log store format (logs.call.<source>.<tool>.<method>). */
  readonly callLog: CallLog;

  private constructor(readonly nc: NatsConnection, private readonly opts: MeshOptions) {
    this.caller = new Caller(nc, () => this.state === "connected");
    const source = opts.callLogSource ?? opts.name ?? "mesh-mcp";
    this.records = new CallRecords(nc, (m) => this.log("warning", m), source);
    this.callLog = new CallLog(nc, source);
    this.admin = new AdminClient(nc);
    this.files = new FileStore(nc, opts.files);
    this.requestCancels = new RequestCancels(nc);
    // Right after a reconnect nodes re-register (and may still be reconnecting): no verdicts then.
    const settled = () => this.state === "connected" && Date.now() - this.reconnectedAt > RECONNECT_GRACE_MS;
    this.liveness = new Liveness(nc, (node, tool) => this.liveCatalog?.instanceOf(node, tool), settled, opts.liveness);
    void this.watchStatus();
  }

  /** Connects (reconnecting forever afterwards) and returns the mesh. */
  static async connect(opts: MeshOptions = {}): Promise<Mesh> {
    const nc = await connectNats({ ...opts, name: opts.name ?? opts.node });
    return new Mesh(nc, opts);
  }

  /** Wraps an existing connection (the caller keeps ownership of its options). */
  static fromConnection(nc: NatsConnection, opts: MeshOptions = {}): Mesh {
    return new Mesh(nc, opts);
  }

  private log(level: LogLevel, message: string): void {
    this.opts.log?.(level, message);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") {
        if (this.state === "connected") this.disconnectedAt = Date.now();
        this.setState("disconnected");
        this.caller.connectionLost();
        this.log("warning", `disconnected from NATS (${String(s.server ?? "")}); reconnecting`);
      } else if (s.type === "reconnect") {
        this.setState("connected");
        this.reconnectedAt = Date.now();
        const outageMs = this.disconnectedAt ? this.reconnectedAt - this.disconnectedAt : 0;
        this.log("info", `reconnected to NATS ${String(s.server ?? "")} after ${outageMs} ms`);
        for (const l of [...this.outageListeners]) l(outageMs);
        this.liveCatalog?.reconnected();
        void this.toolServer?.reRegister().catch((e) => this.log("error", `re-registration failed: ${(e as Error).message}`));
      }
    }
    this.setState("closed");
  }

  private setState(s: ConnectionState): void {
    if (s === this.state) return;
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }

  /** Connection state as last reported by the client. */
  get connectionState(): ConnectionState {
    return this.nc.isClosed() ? "closed" : this.state;
  }

  get connected(): boolean {
    return this.connectionState === "connected";
  }

  /** The server URL currently connected to. */
  get server(): string {
    return this.nc.getServer();
  }

  /** What the connected server says of itself (name, version, JetStream on or off). */
  get serverInfo(): { name: string; version: string; jetstream: boolean } | undefined {
    const info = this.nc.info;
    return info ? { name: info.server_name, version: info.version, jetstream: Boolean(info.jetstream) } : undefined;
  }

  onConnectionState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** The node name this mesh serves tools as (empty for a pure caller). */
  get node(): string {
    return this.opts.node ?? "";
  }

  // ---------------- calling ----------------

  /**
   * Request/reply call. With `opts.node`, on that node; else on one node picked from the
   * catalog (balance.ts: not one that just failed, fewest in flight, least recently used), moving on to the next when a
   * node has no responder or answers a setup error ("tool X is not running"); with no
   * catalog, on the load-balanced subject. The serving node is watched: if it leaves the
   * mesh, or a NATS outage may have lost the reply, the call fails within seconds.
   */
  async call(tool: string, method: string, params: JsonObject = {}, opts: MeshCallOptions = {}): Promise<CallResult> {
    const nodes = opts.node ? [] : this.candidates(tool, method, opts.nodes);
    let node = opts.node ?? this.picker.pick(tool, nodes, undefined, method);
    const tried = new Set<string>();
    // A corr only this call carries: the node logs it, and its record finds the call.
    const corr = opts.corr ?? extractCorr(params) ?? nuid.next();
    for (;;) {
      const subjectNode = node;
      const run = async () => {
        const done = subjectNode ? this.picker.started(subjectNode, tool, method) : undefined;
        const logged: { record?: NodeCallRecord } = {};
        try {
          const r = await this.caller.call(tool, method, params, {
            ...opts, corr, node: subjectNode, watch: this.watchCall(tool, method, subjectNode, opts.watch, corr, logged),
          });
          if (!r.ok && r.error !== undefined) {
            const more = recordAddendum(r.error, logged.record);
            if (more) return { ...r, error: r.error + more };
          }
          return r;
        } finally {
          done?.();
        }
      };
      if (subjectNode === undefined || opts.node) return run();
      tried.add(subjectNode);
      let next: string | undefined;
      try {
        const r = await run();
        if (r.ok || !isSetupError(r.error) || !(next = this.picker.pick(tool, nodes, tried, method))) return r;
        this.log("info", `${tool}.${method}: node ${subjectNode} cannot serve it (${r.error}); trying node ${next}`);
      } catch (err) {
        if (!(err instanceof NoRespondersError) || !(next = this.picker.pick(tool, nodes, tried, method))) throw err;
        this.log("info", `${tool}.${method}: node ${subjectNode} no longer answers; trying node ${next}`);
      }
      this.picker.failedOn(subjectNode, tool);
      node = next;
    }
  }

  /** The `corr` a call of `params` carries: the one in its params (like the Go caller), else a fresh one only it has. */
  corrFor(params: JsonObject): string {
    return extractCorr(params) ?? nuid.next();
  }

  /** Go's CallWithContext: abort publishes `cancel.<call_id>` and rejects at once. */
  callWithSignal(tool: string, method: string, params: JsonObject, signal: AbortSignal, opts: Omit<MeshCallOptions, "signal"> = {}): Promise<CallResult> {
    return this.call(tool, method, params, { timeoutMs: 2 ** 31 - 1, ...opts, signal });
  }

  /**
   * Streaming call: an async iterable of frames ending after the final frame (`done`, or
   * any frame with `error`). It runs on one node: `opts.node`, or one picked like `call`
   * picks (a `.stream` subject has no queue group: every node would run the job), moving
   * on while a node answers a setup error. Watched like `call`.
   */
  stream(tool: string, method: string, params: JsonObject = {}, opts: MeshStreamOptions = {}): PickedStream {
    const nodes = opts.node ? [] : this.candidates(tool, method, opts.nodes);
    const corr = opts.corr ?? extractCorr(params) ?? nuid.next();
    const open = (node: string | undefined) => {
      const o: StreamOptions = { ...opts, node, corr };
      const watch = this.watchStream(tool, node, opts.onOutage, opts.watch, { method, corr });
      // The node counts as busy with this stream while it is watched (from start to end).
      o.watch = (ctl) => {
        const done = node ? this.picker.started(node, tool, method) : undefined;
        const stop = watch(ctl);
        return () => (stop(), done?.());
      };
      return this.caller.stream(tool, method, params, o);
    };
    const first = open(opts.node ?? this.picker.pick(tool, nodes, undefined, method));
    return new PickedStream(
      (node) => open(node),
      (tried) => (nodes.length ? this.picker.pick(tool, nodes, tried, method) : undefined),
      (node) => this.picker.failedOn(node, tool),
      first,
    );
  }

  private candidates(tool: string, method: string, given?: readonly string[]): readonly string[] {
    if (given) return given;
    return this.liveCatalog?.get(tool, method)?.nodes ?? [];
  }

  /** Watches a request/reply call: its node's liveness, and NATS outages (which may have eaten the reply). */
  private watchCall(tool: string, method: string, node: string | undefined, extra: CallWatch | undefined, corr: string, logged: { record?: NodeCallRecord }): CallWatch {
    return (ctl) => {
      const stops: Array<() => void> = [];
      if (extra) stops.push(extra(ctl));
      stops.push(this.watchRecord(tool, method, node, corr, false, ctl.fail, logged));
      const subject = node ? nodeCallSubject(node, tool, method) : callSubject(tool, method);
      if (node && this.liveCatalog?.instanceOf(node, tool)) {
        stops.push(this.liveness.watch(node, tool, (detail) => ctl.fail(new NodeGoneError(subject, node, tool, detail))));
      }
      // jb-mesh cannot resend a reply nor say whether a job still runs: cancel and say so.
      const onOutage = (ms: number) => {
        ctl.fail(new ReplyLostError(subject, ms, node ?? ""));
        if (ctl.callId) this.caller.cancelAgain(ctl.callId);
      };
      this.outageListeners.add(onOutage);
      stops.push(() => this.outageListeners.delete(onOutage));
      return () => stops.forEach((f) => f());
    };
  }

  /** Watches a stream: its node's liveness; after an outage a live stream must show a frame soon. */
  private watchStream(tool: string, node: string | undefined, onOutage: ((ms: number) => void) | undefined, extra: CallWatch | undefined, rec: { method: string; corr: string }): CallWatch {
    return (ctl) => {
      const stops: Array<() => void> = [];
      if (extra) stops.push(extra(ctl));
      // Sent to every node (no node picked), a stream may run on several: only the first to send a frame counts.
      const ours = (r: NodeCallRecord) => node !== undefined || (ctl.stream?.node !== undefined && r.node === ctl.stream.node);
      stops.push(this.watchRecord(tool, rec.method, node, rec.corr, true, ctl.fail, {}, ours));
      const subject = ctl.stream?.subject ?? tool;
      if (node && this.liveCatalog?.instanceOf(node, tool)) {
        stops.push(this.liveness.watch(node, tool, (detail) => ctl.fail(new NodeGoneError(subject, node, tool, detail))));
      }
      const outage = (ms: number) => {
        const within = this.opts.outageRecheckMs ?? OUTAGE_RECHECK_MS;
        ctl.stream?.expectFrame(within, () => {
          if (ctl.callId) this.caller.cancelAgain(ctl.callId);
          return new ReplyLostError(subject, ms, node ?? ctl.stream?.node ?? "");
        }, () => onOutage?.(ms));
      };
      this.outageListeners.add(outage);
      stops.push(() => this.outageListeners.delete(outage));
      return () => stops.forEach((f) => f());
    };
  }

  /**
   * The node's own record of the call (logs.call.*): it goes out just before the reply,
   * so a call still waiting `replyGraceMs` after it will not get one (NATS refused a
   * reply over max_payload; a stream's final frame never came). `logged` keeps the
   * record for the error text of a failed reply.
   */
  private watchRecord(
    tool: string, method: string, node: string | undefined, corr: string, stream: boolean,
    fail: (err: Error) => void, logged: { record?: NodeCallRecord }, accept: (r: NodeCallRecord) => boolean = () => true,
  ): () => void {
    const graceMs = this.opts.replyGraceMs ?? DEFAULT_REPLY_GRACE_MS;
    if (graceMs <= 0) return () => {};
    let timer: NodeJS.Timeout | undefined;
    const stop = this.records.watch(corr, tool, method, node, (record) => {
      if (!accept(record)) return;
      logged.record = record;
      clearTimeout(timer);
      timer = setTimeout(() => fail(new ReplyDroppedError(record, this.nc.info?.max_payload, graceMs, stream)), graceMs);
      timer.unref?.();
    });
    return () => (stop(), clearTimeout(timer));
  }

  /** The params a serving node would fetch from the file store (PROTOCOL.md, "File store"). */
  fileKeyParams(params: JsonObject): string[] {
    return Object.keys(params).filter((k) => isFileKeyParam(k, params[k]));
  }

  /** Publishes `cancel.<callId>`. */
  cancel(callId: string): void {
    this.caller.cancel(callId);
  }

  /**
   * Durable tasks on this mesh's JetStream (opened on first use, then shared).
   * Rejects with a MeshError naming the fix when JetStream is not there.
   */
  tasks(): Promise<TaskStore> {
    this.taskStore ??= TaskStore.open(this.nc, this.caller, {
      log: (m) => this.log("warning", m),
      alive: (node, tool) => this.liveness.alive(node, tool),
      watchNode: (node, tool, onGone) => this.liveness.watch(node, tool, onGone),
      ...this.opts.tasks,
    }).catch((err: unknown) => {
      this.taskStore = undefined; // try again on the next use
      throw err;
    });
    return this.taskStore;
  }

  /**
   * The mesh's events (the capture stream, opened on first use, then shared). Rejects
   * with a MeshError naming the fix when JetStream is not there.
   */
  events(): Promise<MeshEvents> {
    this.eventStore ??= (async () => {
      // The file store's and the task bucket's streams are sourced: make them exist first,
      // so their changes flow from the start (a source of a missing stream waits long).
      await Promise.all([this.files.mode().catch(() => undefined), this.tasks().catch(() => undefined)]);
      return MeshEvents.open(this.nc, { log: (m) => this.log("warning", m), filesBucket: this.files.bucket, tasksBucket: this.opts.tasks?.bucket, ...this.opts.events });
    })().catch((err: unknown) => {
      this.eventStore = undefined; // try again on the next use
      throw err;
    });
    return this.eventStore;
  }

  /** Webhook subscriptions of mesh events (a KV bucket and one consumer each; opened on first use). */
  webhooks(): Promise<WebhookStore> {
    this.hookStore ??= this.events().then((ev) => WebhookStore.open(this.nc, ev)).catch((err: unknown) => {
      this.hookStore = undefined;
      throw err;
    });
    return this.hookStore;
  }

  // ---------------- discovery ----------------

  /** One discovery pass over `$SRV.INFO`: every service instance that answers. */
  listServices(opts: DiscoverOptions = {}): Promise<ServiceInfo[]> {
    return listServices(this.nc, { ...this.opts.catalog, ...opts }, (e) => this.log("warning", e.message));
  }

  /** The live catalog (created and started on first use, then shared). */
  catalog(): Promise<Catalog> {
    if (this.liveCatalog) return Promise.resolve(this.liveCatalog);
    this.catalogStarting ??= (async () => {
      const cat = new Catalog(this.nc, {
        ...this.opts.catalog,
        onWarning: (m) => {
          this.log("warning", m);
          this.opts.catalog?.onWarning?.(m);
        },
      });
      this.liveCatalog = cat;
      // A node that leaves (or a tool that stops) may be serving a call: look now, not at the next probe.
      cat.onLifecycleEvent((subject) => {
        if (/\.(left|stopped|crashed|removed)$/.test(subject)) this.liveness.checkNow();
      });
      cat.onChange((c) => c.removed.length + c.changed.length > 0 && this.liveness.checkNow());
      await cat.start();
      return cat;
    })();
    return this.catalogStarting;
  }

  /** `node.<node>.tools.<tool>.schema`: the node's method schemas for a tool. */
  getToolSchema(node: string, tool: string, timeoutMs?: number): Promise<SchemaResult> {
    return this.admin.toolSchema(node, tool, timeoutMs);
  }

  // ---------------- serving ----------------

  private toolsOf(): ToolServer {
    if (!this.toolServer) {
      if (!this.opts.node) throw new Error("set `node` in the mesh options to serve tools");
      this.toolServer = new ToolServer(this.nc, this.opts.node, {
        resolveFiles: this.opts.resolveFileParams ? this.files : undefined,
        log: (m) => this.log("info", m),
        logCalls: this.opts.logCalls,
      });
    }
    return this.toolServer;
  }

  /**
   * Registers a tool as a micro service of this node (re-registered after reconnects).
   * Bad names or a missing `node` reject (async), never throw synchronously.
   */
  async registerTool(def: ToolDefinition): Promise<void> {
    return this.toolsOf().registerTool(def);
  }

  async unregisterTool(name: string): Promise<boolean> {
    return this.toolsOf().unregisterTool(name);
  }

  /** Serves `files.*` from `store` (default: this mesh's own file store), which must reach JetStream. */
  subscribeFileHandlers(store: FileStore = this.files): void {
    this.subs.push(...subscribeFileHandlers(this.nc, store));
    void store.mode().then(
      (mode) => mode !== "objectstore" && this.log("warning", "files.* is not served: this node's file store has no JetStream Object Store"),
      (err) => this.log("warning", `files.* is not served: ${(err as Error).message}`),
    );
  }

  /** Registers the built-in `files` tool (put/get/head/delete/list). */
  registerFileTool(store: FileStore = this.files): Promise<void> {
    return this.registerTool(fileToolDefinition(store));
  }

  /** Serves `node.<node>.tools.*.schema`. */
  subscribeToolSchema(handler: (tool: string) => Promise<Record<string, unknown>>): void {
    this.subs.push(subscribeToolSchema(this.nc, this.toolsOf().node, handler));
  }

  /** Serves the node administration requests for which a handler is given. */
  subscribeAdmin(handlers: AdminHandlers): void {
    this.subs.push(...subscribeAdmin(this.nc, this.toolsOf().node, handlers));
  }

  /** Stops serving, drains the connection and closes it. */
  async close(): Promise<void> {
    this.liveness.close();
    this.requestCancels.close();
    this.records.close();
    this.callLog.flush();
    this.outageListeners.clear();
    await this.files.close();
    this.liveCatalog?.close();
    await this.taskStore?.then((t) => t.close(), () => {});
    await this.toolServer?.close();
    for (const s of this.subs) s.unsubscribe();
    this.caller.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
