/**
 * The bridge: the state one mesh-mcp process shares across all MCP sessions —
 * one mesh connection, one live catalog, the tool-name table, the visible tool
 * list, the in-flight calls, and the file-store watch. Sessions (mcp/server.ts)
 * read from it and subscribe to its changes.
 */
// Types only: the mesh library (and NATS with it) loads when the first connect starts,
// so that a stdio client's `initialize` does not wait for it.
import type { EventsOptions } from "./events.js";
import type { Catalog, CatalogChange, FileWatchEvent, Mesh, MeshOptions, MethodEntry } from "../mesh/index.js";
import { createHash } from "node:crypto";
import type { Level, Logger } from "./log.js";
import { MethodFilter } from "./filters.js";
import { ToolNameTable } from "./naming.js";
import { BUILTIN_TOOL_NAMES } from "./builtins.js";
import { DISCOVERY_TOOL_NAMES } from "./naming.js";
import { auditFields, auditRecord, type AuditDetail } from "./audit.js";
import type { Policy } from "./policy.js";

export interface BridgeOptions {
  mesh: MeshOptions;
  include?: string[];
  exclude?: string[];
  /** Only these nodes; calls are pinned to them. */
  nodes?: string[];
  admin?: boolean;
  allowDirs?: string[];
  callTimeoutMs?: number;
  streamIdleMs?: number;
  keepaliveMs?: number;
  inlineImageMax?: number;
  /** Add resource_link content for files in results (off: model providers reject links they cannot fetch). */
  resourceLinks?: boolean;
  resourceMax?: number;
  /** One stderr line per call start and end (the demo's live log); off by default. */
  logCalls?: boolean;
  /** MCP tasks over durable mesh tasks. */
  tasks?: {
    disabled?: boolean;
    /** `<tool>.<method>` globs that may run as tasks besides streaming methods. */
    tools?: string[];
    /** pollInterval hint for clients (ms). */
    pollMs?: number;
    /** The task owner identity where the transport has none (stdio; HTTP without a token). */
    owner?: string;
    /** Concurrent working tasks per identity (this process); 0: no bound. */
    maxPerIdentity?: number;
  };
  /** MCP events (the Events extension over the mesh's event log). */
  events?: EventsOptions;
  /** Results larger than this (JSON bytes) go into the file store as a link + preview (0: never). */
  resultMax?: number;
  /** Debounce of tools/list_changed after catalog changes. */
  listChangedDebounceMs?: number;
  /** List the optional, nullable `_node` argument in every mesh tool's schema (--node-arg). */
  nodeArg?: boolean;
  /**
   * Progressive discovery (discovery.ts): "on" lists the search/get/call meta-tools
   * instead of the mesh methods; "auto" does so above `threshold` visible methods.
   */
  discovery?: { mode: "auto" | "on" | "off"; threshold: number };
  /** Who may do what (the config file's `policy`); absent: everything the flags expose. */
  policy?: Policy;
  /** One audit record per call to the log (audit.ts). */
  audit?: boolean;
}

/** The same mesh warning is repeated at most this often. */
const WARNING_REPEAT_MS = 10 * 60_000;

export type BridgeState = "connecting" | "connected" | "disconnected" | "closed";

/** How a mesh tool call ended (metrics): `invalid`/`unavailable` never reached the mesh. */
export type CallOutcome = "ok" | "error" | "cancelled" | "timeout" | "no_responders" | "invalid" | "unavailable";
export type CallObserver = (key: string, outcome: CallOutcome, ms: number, detail: CallDetail) => void;
/** Who answered a call and for whom (the log line of every call, its audit record). */
export interface CallDetail extends AuditDetail {
  node?: string;
  session?: string;
  /** The error text of a failure (its first line is logged). */
  error?: string;
}

export { globToRegExp } from "./filters.js";

export class Bridge {
  mesh?: Mesh;
  catalog?: Catalog;
  state: BridgeState = "connecting";
  lastError?: string;
  /** The last attempt failed on credentials: "start nats-server" would mislead. */
  private authFailed = false;
  /** A problem no retry can fix (bad options); set once, reported on every call. */
  private fatal?: string;
  readonly names = new ToolNameTable(new Set([...BUILTIN_TOOL_NAMES, ...Object.values(DISCOVERY_TOOL_NAMES)]));
  /**
   * Moves when a visible method's definition changes (appears, goes, its schema or
   * description), never when only the nodes offering it change: what caches of tool
   * definitions key on, and what tools/list_changed follows.
   */
  toolsGeneration = 0;
  private definitions = "";
  /** Every in-flight call's controller: shutdown aborts them (which publishes their cancels). */
  readonly inflight = new Set<{ abort(reason?: unknown): void }>();
  private visible: MethodEntry[] = [];
  /** `tool.method` → visible entry, so a call's lookup does not scan the list. */
  private visibleByKey = new Map<string, MethodEntry>();
  private toolListeners = new Set<() => void>();
  private fileListeners = new Set<(ev: FileWatchEvent) => void>();
  private callObservers = new Set<CallObserver>();
  private readyWaiters: Array<(ok: boolean) => void> = [];
  private debounce?: NodeJS.Timeout;
  private stopWatch = new AbortController();
  private closed = false;
  private readonly filter: MethodFilter;

  constructor(readonly opts: BridgeOptions, readonly log: Logger) {
    this.filter = new MethodFilter(opts.include, opts.exclude);
  }

  /** Warnings from the mesh library already logged, and when (see meshLog). */
  private recentWarnings = new Map<string, number>();

  /**
   * The mesh library's log. Discovery repeats (events, every --refresh-interval), and so
   * would its warnings about one bad node: the same warning is logged once per 10 minutes.
   */
  private meshLog(level: Level, message: string): void {
    if (level === "warning") {
      const now = Date.now();
      const last = this.recentWarnings.get(message);
      if (last !== undefined && now - last < WARNING_REPEAT_MS) return;
      if (this.recentWarnings.size >= 1000) this.recentWarnings.clear();
      this.recentWarnings.set(message, now);
    }
    this.log.log(level, message);
  }

  /** Uses an already-connected mesh (tests, embedding). */
  static async withMesh(mesh: Mesh, opts: Omit<BridgeOptions, "mesh">, log: Logger): Promise<Bridge> {
    const b = new Bridge({ ...opts, mesh: {} }, log);
    await b.attach(mesh);
    return b;
  }

  /** Connects in the background, retrying until it works; never throws. */
  start(): void {
    void this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    const urls = String(this.opts.mesh.servers ?? "nats://localhost:4222");
    let attempt = 0;
    while (!this.closed && !this.mesh) {
      try {
        const { Mesh: MeshClass } = await import("../mesh/index.js");
        const mesh = await MeshClass.connect({
          log: (level, message) => this.meshLog(level, message),
          ...this.opts.mesh,
          waitOnFirstConnect: false,
        });
        if (this.closed) {
          await mesh.close();
          return;
        }
        await this.attach(mesh);
        return;
      } catch (err) {
        this.lastError = (err as Error).message;
        this.authFailed = err instanceof Error && err.name === "NatsAuthError";
        // Whoever waits for the first catalog learns now that NATS is not there (no point waiting longer).
        for (const w of this.readyWaiters.splice(0)) w(false);
        if (err instanceof Error && err.name === "MeshConfigError") {
          // Retrying cannot fix contradictory options: say so on every call instead.
          this.fatal = `the NATS options are invalid: ${err.message}. Fix them and restart mesh-mcp.`;
          this.log.error(this.fatal);
          return;
        }
        if (attempt++ === 0) this.log.warn(`${this.lastError} — retrying every 2 s`);
        else this.log.debug(`connect attempt ${attempt} to ${urls} failed: ${this.lastError}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  private async attach(mesh: Mesh): Promise<void> {
    this.mesh = mesh;
    this.state = "connected";
    this.lastError = undefined;
    this.log.info(`connected to NATS ${mesh.server}`);
    mesh.onConnectionState((s) => {
      this.state = s === "connected" ? "connected" : s === "closed" ? "closed" : "disconnected";
    });
    const catalog = await mesh.catalog();
    this.catalog = catalog;
    catalog.onChange((change) => this.onCatalogChange(change));
    this.recompute();
    this.log.info(`catalog: ${catalog.methods().length} methods on ${catalog.nodes().size} nodes (${catalog.lastDiscoveryMs.toFixed(0)} ms)`);
    // The first discovery is done: a filter that matches nothing now is most likely a mistake.
    for (const problem of this.filter.unmatched(catalog.methods())) this.log.warn(problem);
    for (const w of this.readyWaiters.splice(0)) w(true);
    this.notifyTools();
    void this.watchFiles(mesh);
  }

  private async watchFiles(mesh: Mesh): Promise<void> {
    try {
      for await (const ev of mesh.files.watch(this.stopWatch.signal)) {
        for (const l of this.fileListeners) l(ev);
      }
    } catch (err) {
      if (!this.closed) this.log.warn(`file store watch stopped: ${(err as Error).message}`);
    }
  }

  /**
   * Resolves true once connected and the catalog is loaded; false after `timeoutMs`, or
   * at once when a connection attempt has already failed (NATS known to be unreachable).
   */
  ready(timeoutMs = 5000): Promise<boolean> {
    if (this.catalog) return Promise.resolve(true);
    if (!this.mesh && this.lastError !== undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push((ok) => (clearTimeout(t), resolve(ok)));
    });
  }

  private onCatalogChange(change: CatalogChange): void {
    const describe = (l: MethodEntry[]) => l.map((e) => `${e.tool}.${e.method}`).join(", ");
    if (change.added.length) this.log.info(`mesh: added ${describe(change.added)}`);
    if (change.removed.length) this.log.info(`mesh: removed ${describe(change.removed)}`);
    if (change.changed.length) this.log.debug(`mesh: changed ${describe(change.changed)}`);
    for (const e of [...change.added, ...change.changed]) {
      if (e.schemaProblem) this.log.warn(`${e.tool}.${e.method}: ${e.schemaProblem}; using ${e.schemaSource === "fallback" ? "the node's schema subject" : "an open object schema"}`);
    }
    // list_changed only when what tools/list shows changed: a definition (not a node
    // joining or leaving a method), or the switch to or from discovery's meta-tools.
    const before = this.listedShape();
    this.recompute();
    if (this.listedShape() === before) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.notifyTools(), this.opts.listChangedDebounceMs ?? 300);
  }

  /** What tools/list shows, as far as list_changed is concerned. */
  private listedShape(): string {
    return this.discoveryActive() ? "discovery" : `methods ${this.toolsGeneration}`;
  }

  /** Whether tools/list shows discovery's meta-tools instead of the mesh methods. */
  discoveryActive(): boolean {
    const d = this.opts.discovery;
    if (!d || d.mode === "off") return false;
    return d.mode === "on" || this.visible.length > d.threshold;
  }

  private notifyTools(): void {
    for (const l of this.toolListeners) l();
  }

  private isVisible(e: MethodEntry): boolean {
    return this.filter.visible(e);
  }

  private recompute(): void {
    const catalog = this.catalog?.methods() ?? [];
    const only = this.opts.nodes?.length ? new Set(this.opts.nodes) : undefined;
    this.visible = catalog
      .filter((e) => this.isVisible(e))
      .map((e) => (only ? { ...e, nodes: e.nodes.filter((n) => only.has(n)) } : e))
      .filter((e) => e.nodes.length > 0);
    this.visibleByKey = new Map(this.visible.map((e) => [`${e.tool}.${e.method}`, e]));
    this.names.sync(this.visible);
    // Everything a tool definition is made of, and nothing about nodes or versions.
    // Kept as a digest: the JSON of 10,000 schemas is megabytes.
    const definitions = createHash("sha256").update(JSON.stringify(this.visible.map((e) => [e.tool, e.method, e.schema, e.stream, e.toolDescription]))).digest("base64");
    if (definitions !== this.definitions) {
      this.definitions = definitions;
      this.toolsGeneration++;
    }
  }

  /** The mesh methods an agent may see, after filters, sorted by key. */
  methods(): MethodEntry[] {
    return this.visible;
  }

  /** The visible method behind an MCP tool name. */
  methodByName(name: string): MethodEntry | undefined {
    const key = this.names.keyOf(name);
    return key ? this.visibleByKey.get(key) : undefined;
  }

  onToolsChanged(listener: () => void): () => void {
    this.toolListeners.add(listener);
    return () => this.toolListeners.delete(listener);
  }

  onFileEvent(listener: (ev: FileWatchEvent) => void): () => void {
    this.fileListeners.add(listener);
    return () => this.fileListeners.delete(listener);
  }

  /** Observes every finished mesh tool call (the HTTP transport's metrics). */
  onCallDone(observer: CallObserver): () => void {
    this.callObservers.add(observer);
    return () => this.callObservers.delete(observer);
  }

  /** Reported by the call path (mcp/tools.ts) when a call goes out to the mesh (logged with --log-calls). */
  callStarted(key: string, node: string | undefined, session?: string): void {
    if (this.opts.logCalls) this.log.log("info", `call ${key} → ${node ? `node ${node}` : "any node"}`, { session, tool: key, node });
  }

  /**
   * Reported by the call path (mcp/tools.ts) when a call ends: logged (debug when ok,
   * info otherwise; with --log-calls info and warning) and observed. The line goes to
   * the calling session's client only.
   */
  callDone(key: string, outcome: CallOutcome, ms: number, detail: CallDetail = {}): void {
    const level = this.opts.logCalls ? (outcome === "ok" || outcome === "cancelled" ? "info" : "warning") : outcome === "ok" ? "debug" : "info";
    if (this.log.wants(level)) {
      const took = ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
      const why = detail.error ? `: ${detail.error.split("\n")[0]}` : "";
      this.log.log(level, `call ${key} ${outcome.replace("_", " ")} in ${took}${detail.node ? ` (node ${detail.node})` : ""}${why}`, {
        session: detail.session, tool: key, node: detail.node, outcome, ms: Math.round(ms),
      });
    }
    if (this.opts.audit) {
      const record = auditRecord(key, outcome, ms, detail);
      this.log.local("info", record.message, auditFields(record));
    }
    for (const o of this.callObservers) {
      try {
        o(key, outcome, ms, detail);
      } catch {
        // an observer must not break a call
      }
    }
  }

  /** Aborted when the bridge shuts down (long-lived requests such as events/stream end with it). */
  get shutdownSignal(): AbortSignal {
    return this.stopWatch.signal;
  }

  /** The audit record of a built-in tool call (upload, admin): mesh calls get theirs in callDone. */
  auditBuiltin(name: string, ok: boolean, ms: number, detail: AuditDetail): void {
    if (!this.opts.audit) return;
    const record = auditRecord(name, ok ? "ok" : "error", ms, detail);
    this.log.local("info", record.message, auditFields(record));
  }

  /** True once shutdown() began: transports refuse new work from then on. */
  get closing(): boolean {
    return this.closed;
  }

  /** What is wrong right now, phrased for an agent, or undefined when the mesh is usable. */
  unavailableReason(): string | undefined {
    if (this.closed) return "mesh-mcp is shutting down.";
    if (this.fatal) return this.fatal;
    if (!this.mesh && this.authFailed) {
      return `${this.lastError?.replace(/^not connected to NATS:\s*/i, "")} mesh-mcp retries every 2 s; restart it with the right credentials.`;
    }
    if (!this.mesh) {
      const detail = this.lastError?.replace(/^not connected to NATS:\s*/i, "").replace(/[.\s]+$/, "");
      return `not connected to NATS yet${detail ? ` (${detail})` : ""}. ` +
        `mesh-mcp keeps retrying; start nats-server or fix NATS_URL / --nats, then call again.`;
    }
    if (this.state !== "connected") return "the NATS connection dropped and is reconnecting; call again in a few seconds.";
    return undefined;
  }

  /** Aborts every in-flight call (publishing their cancels), stops watching, drains NATS. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.debounce);
    for (const ac of this.inflight) ac.abort(new Error("mesh-mcp is shutting down"));
    this.stopWatch.abort();
    this.toolListeners.clear();
    this.fileListeners.clear();
    await this.mesh?.close().catch(() => {});
    this.state = "closed";
  }
}
