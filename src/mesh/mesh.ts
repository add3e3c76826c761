/**
 * `Mesh`: one NATS connection with everything a jb-mesh caller or node needs.
 * The TypeScript counterpart of the Go `mesh.Mesh`.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AdminClient, subscribeAdmin, subscribeFileHandlers, subscribeToolSchema, type AdminHandlers } from "./admin.js";
import { Caller, type CallOptions, type MeshStream, type StreamOptions } from "./call.js";
import { Catalog, listServices, type CatalogOptions, type DiscoverOptions } from "./catalog.js";
import { connectNats, type ConnectOptions } from "./connect.js";
import { FileStore, type FileStoreOptions } from "./files.js";
import { fileToolDefinition } from "./filetool.js";
import { ToolServer, type ToolDefinition } from "./node.js";
import type { CallResult, JsonObject, SchemaResult, ServiceInfo } from "./types.js";

export type LogLevel = "debug" | "info" | "warning" | "error";

export interface MeshOptions extends ConnectOptions {
  /** This process's node name, for serving tools (default: none; required to register tools). */
  node?: string;
  catalog?: CatalogOptions;
  files?: FileStoreOptions;
  /** Resolve file-store keys in file params before calling request/reply handlers (Go node with a store; streams get the key). */
  resolveFileParams?: boolean;
  /** Where the library logs (default: nowhere). Never stdout in a stdio MCP server. */
  log?: (level: LogLevel, message: string) => void;
}

export type ConnectionState = "connected" | "disconnected" | "closed";

export class Mesh {
  readonly caller: Caller;
  readonly admin: AdminClient;
  readonly files: FileStore;
  private toolServer?: ToolServer;
  private liveCatalog?: Catalog;
  private catalogStarting?: Promise<Catalog>;
  private subs: Subscription[] = [];
  private state: ConnectionState = "connected";
  private stateListeners = new Set<(s: ConnectionState) => void>();

  private constructor(readonly nc: NatsConnection, private readonly opts: MeshOptions) {
    this.caller = new Caller(nc, () => this.state === "connected");
    this.admin = new AdminClient(nc);
    this.files = new FileStore(nc, opts.files);
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
        this.setState("disconnected");
        this.caller.connectionLost();
        this.log("warning", `disconnected from NATS (${String(s.server ?? "")}); reconnecting`);
      } else if (s.type === "reconnect") {
        this.setState("connected");
        this.log("info", `reconnected to NATS ${String(s.server ?? "")}`);
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

  /** Request/reply call (load-balanced, or to `opts.node`). See Caller.call. */
  call(tool: string, method: string, params: JsonObject = {}, opts: CallOptions = {}): Promise<CallResult> {
    return this.caller.call(tool, method, params, opts);
  }

  /** Go's CallWithContext: abort publishes `cancel.<call_id>` and rejects at once. */
  callWithSignal(tool: string, method: string, params: JsonObject, signal: AbortSignal, opts: Omit<CallOptions, "signal"> = {}): Promise<CallResult> {
    return this.caller.call(tool, method, params, { timeoutMs: 2 ** 31 - 1, ...opts, signal });
  }

  /** Streaming call: an async iterable of frames ending after the terminal frame. */
  stream(tool: string, method: string, params: JsonObject = {}, opts: StreamOptions = {}): MeshStream {
    return this.caller.stream(tool, method, params, opts);
  }

  /** Publishes `cancel.<callId>`. */
  cancel(callId: string): void {
    this.caller.cancel(callId);
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
    this.liveCatalog?.close();
    await this.toolServer?.close();
    for (const s of this.subs) s.unsubscribe();
    this.caller.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
