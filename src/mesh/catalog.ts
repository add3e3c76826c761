/**
 * Discovery and the live catalog: `$SRV.INFO` answers grouped into
 * tools → methods → the nodes that offer them, with each method's schema.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { parseReply } from "./call.js";
import { MalformedReplyError } from "./errors.js";
import { LIMITS, nameProblem, schemaShapeProblem, schemaTextProblem } from "./limits.js";
import { isToken, NODE_EVENTS, SRV_INFO, SRV_PING, TOOL_EVENTS, toolSchemaSubject } from "./subjects.js";
import {
  MethodSchemaWire,
  SchemaResultWire,
  ServiceInfoWire,
  type MethodSchema,
  type ServiceInfo,
} from "./types.js";

export interface DiscoverOptions {
  /** Stop collecting once no answer arrived for this long (default 50 ms). */
  stallMs?: number;
  /** Upper bound on the whole discovery (default 2000 ms). */
  maxWaitMs?: number;
  /** Only this tool (`$SRV.INFO.<tool>`). */
  tool?: string;
}

/**
 * Requests `$SRV.INFO` and returns every micro service instance that answers. It
 * returns as soon as answers stop arriving (a short stall), not after a fixed sleep.
 * Answers that are not valid service info are skipped and reported through `onBad`.
 */
export async function listServices(
  nc: NatsConnection,
  opts: DiscoverOptions = {},
  onBad?: (err: Error) => void,
): Promise<ServiceInfo[]> {
  const subject = opts.tool ? `${SRV_INFO}.${opts.tool}` : SRV_INFO;
  const out: ServiceInfo[] = [];
  let iter: AsyncIterable<import("@nats-io/transport-node").Msg>;
  try {
    iter = await nc.requestMany(subject, "", {
      strategy: "stall",
      stall: opts.stallMs ?? 50,
      maxWait: opts.maxWaitMs ?? 2000,
    });
  } catch (err) {
    if (isNoResponders(err)) return out;
    throw err;
  }
  try {
    for await (const msg of iter) {
      if (msg.headers?.code === 503) break;
      try {
        if (msg.data.length > LIMITS.infoBytes) {
          throw new Error(`an answer of ${msg.data.length} bytes, over the limit of ${LIMITS.infoBytes}`);
        }
        const info = parseReply(subject, msg.data, ServiceInfoWire);
        const problem = serviceProblem(info);
        if (problem) throw new Error(`service ${JSON.stringify(info.name.slice(0, 60))} on node ${JSON.stringify(nodeOf(info).slice(0, 60))}: ${problem}`);
        out.push(info);
      } catch (err) {
        onBad?.(err as Error);
      }
    }
  } catch (err) {
    if (!isNoResponders(err)) throw err;
  }
  return out;
}

/** Why a service instance is left out (names, method count), or undefined. */
function serviceProblem(info: ServiceInfo): string | undefined {
  const endpoints = info.endpoints ?? [];
  if (endpoints.length > LIMITS.endpoints) return `${endpoints.length} methods, over the limit of ${LIMITS.endpoints}`;
  return nameProblem("tool", info.name) ?? nameProblem("node", nodeOf(info)) ??
    endpoints.map((e) => nameProblem("method", e.name)).find((p) => p !== undefined);
}

function isNoResponders(err: unknown): boolean {
  const e = err as { isNoResponders?: () => boolean; code?: unknown; message?: string } | undefined;
  return Boolean(e?.isNoResponders?.() || e?.code === 503 || /no responders/i.test(e?.message ?? ""));
}

/** Where a method's schema came from. */
export type SchemaSource = "metadata" | "fallback" | "none";

/** One (tool, method) of the mesh, with every node that offers it. */
export interface MethodEntry {
  tool: string;
  method: string;
  /** The effective input schema (`{type:"object"}` when nothing better is known). */
  schema: MethodSchema;
  schemaSource: SchemaSource;
  /** Why the schema is not from metadata, when a node's metadata was unusable. */
  schemaProblem?: string;
  /** The method serves the `.stream` subjects. */
  stream: boolean;
  /** Nodes offering it, sorted. */
  nodes: string[];
  /** The tool's (service) description and version, from the first node. */
  toolDescription: string;
  version: string;
}

export interface CatalogChange {
  added: MethodEntry[];
  removed: MethodEntry[];
  changed: MethodEntry[];
}

export interface CatalogOptions extends DiscoverOptions {
  /**
   * Periodic check (default 5 s; 0 disables): a `$SRV.PING` sweep (a few bytes per
   * instance), and a full `$SRV.INFO` rediscovery only when the set of instances changed.
   */
  refreshIntervalMs?: number;
  /** Debounce of event-driven refreshes (default 150 ms); a second and third look follow. */
  debounceMs?: number;
  /** Timeout of one fallback schema request (default 1000 ms). */
  schemaTimeoutMs?: number;
  /** How long after a reconnect missing instances are kept (default 5 s). */
  reconnectGraceMs?: number;
  /** Called for recoverable problems (malformed info, schema fallbacks). */
  onWarning?: (message: string) => void;
}

export const ANY_OBJECT: MethodSchema = { type: "object" };

export const DEFAULT_REFRESH_INTERVAL_MS = 5000;

/**
 * After a lifecycle event, look again after these delays (the first is the debounce):
 * `tool.started` precedes the registration and `node.left` precedes the unregistration,
 * by up to seconds, so the first look can come too early.
 */
export const EVENT_FOLLOW_UPS_MS = [1500, 4000];

/** Up to this many new instances, a sweep asks each for its INFO instead of a full pass. */
export const SWEEP_TARGETED_MAX = 50;

/** After a reconnect, instances that went missing are kept this long (nodes re-register). */
export const RECONNECT_GRACE_MS = 5000;

/** Stall of the confirming discovery passes (see Catalog.discoverOnce). */
export const PATIENT_STALL_MS = 250;

export function methodKey(tool: string, method: string): string {
  return `${tool}.${method}`;
}

interface ParsedSchema {
  schema?: MethodSchema;
  problem?: string;
}

/** Parses endpoint metadata `schema`, which must be a JSON string of a MethodSchema object. */
export function parseSchemaMetadata(raw: string | undefined): ParsedSchema {
  if (raw === undefined || raw === "") return {};
  const tooBig = schemaTextProblem(raw);
  if (tooBig) return { problem: tooBig };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { problem: `schema metadata is not valid JSON: ${JSON.stringify(raw.slice(0, 60))}` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { problem: "schema metadata is not a JSON object" };
  }
  const shape = schemaShapeProblem(json);
  if (shape) return { problem: shape };
  const parsed = MethodSchemaWire.safeParse(json);
  if (!parsed.success) return { problem: `schema metadata has the wrong shape: ${parsed.error.issues[0]?.message}` };
  return { schema: parsed.data };
}

/**
 * A live view of the mesh's tools. `start()` discovers once and then keeps itself
 * current on lifecycle events, reconnects and a periodic timer; subscribers get
 * exactly what was added, removed or changed.
 */
export class Catalog {
  private entries = new Map<string, MethodEntry>();
  private servicesList: ServiceInfo[] = [];
  private listeners = new Set<(change: CatalogChange) => void>();
  /**
   * Parsed schema metadata by its text, kept from one discovery to the next: every pass
   * (a patient one follows the first, events bring more) sees the same 10,000 schema texts
   * again, and parsing them again would allocate the whole catalog anew each time. Pruned
   * to the texts of the last discovery; the cached text is the one the services keep.
   */
  private parsedSchemas = new Map<string, { text: string; parsed: ParsedSchema; pass: number }>();
  private schemaPass = 0;
  /**
   * Fallback schemas by service instance id (a re-registered service gets a new id).
   * The promise is cached so the methods of one service, resolved concurrently, share one request.
   */
  private fallbackCache = new Map<string, Promise<Record<string, unknown> | null>>();
  private subs: Subscription[] = [];
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private followUps: NodeJS.Timeout[] = [];
  private eventListeners = new Set<(subject: string) => void>();
  private warned = new Set<string>();
  /** Instances that answer `$SRV.PING` but not their own `$SRV.INFO.<name>.<id>`. */
  private unfetchable = new Set<string>();
  private running?: Promise<void>;
  private again = false;
  private patientNext = false;
  private graceUntil = 0;
  private graceTimer?: NodeJS.Timeout;
  private loadedOnce = false;
  private closed = false;
  /** Duration of the last discovery, for metrics and `doctor`. */
  lastDiscoveryMs = 0;
  private periodicSince = 0;

  constructor(private readonly nc: NatsConnection, private readonly opts: CatalogOptions = {}) {}

  /** Discovers once, then follows events. Resolves when the first discovery is done. */
  async start(): Promise<void> {
    const onEvent = (_err: unknown, msg: { subject: string }) => {
      // Health reports and config changes leave the tool list as it is: no rediscovery for them.
      if (!/\.(health|configured)$/.test(msg.subject)) this.hint();
      for (const l of this.eventListeners) l(msg.subject);
    };
    this.subs.push(this.nc.subscribe(NODE_EVENTS, { callback: onEvent }));
    this.subs.push(this.nc.subscribe(TOOL_EVENTS, { callback: onEvent }));
    const every = this.opts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (every > 0) {
      this.periodicSince = Date.now();
      this.timer = setInterval(() => void this.sweep().catch(() => {}), every);
      this.timer.unref();
    }
    await this.refresh();
    // The first pass answers fast; a patient one right after catches any responder it missed.
    this.patientNext = true;
    this.scheduleRefresh();
  }

  /**
   * Time until the next periodic check: the longest a node that left without a
   * lifecycle event can stay listed (announced changes are seen within ~150 ms).
   * Infinity when periodic refresh is off.
   */
  nextRefreshInMs(): number {
    const every = this.opts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (every <= 0 || this.periodicSince === 0) return Infinity;
    return every - ((Date.now() - this.periodicSince) % every);
  }

  /** True once the first discovery has completed. */
  get loaded(): boolean {
    return this.loadedOnce;
  }

  /** The connection came back: refresh, and keep known instances through the re-registration grace. */
  reconnected(): void {
    this.graceUntil = Date.now() + (this.opts.reconnectGraceMs ?? RECONNECT_GRACE_MS);
    this.scheduleRefresh();
  }

  /**
   * A lifecycle event: the mesh is changing. Look soon, and again a little later, since
   * events precede the (un)registrations they announce. A burst of events restarts the
   * sequence, so it costs a few discoveries, not one per event.
   */
  hint(): void {
    if (this.closed) return;
    this.scheduleRefresh();
    for (const t of this.followUps) clearTimeout(t);
    this.followUps = EVENT_FOLLOW_UPS_MS.map((ms) => {
      const t = setTimeout(() => void this.refresh().catch(() => {}), ms);
      t.unref();
      return t;
    });
  }

  /** Listens to the lifecycle events (`events.node.*`, `events.tool.*`) by subject. */
  onLifecycleEvent(listener: (subject: string) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /**
   * The periodic check: a `$SRV.PING` sweep costs a few bytes per instance (INFO carries
   * every schema). Only when the instances it hears differ from the known ones does a full
   * discovery follow (whose own patience keeps a slow responder from being dropped).
   */
  async sweep(): Promise<void> {
    if (this.closed || this.nc.isClosed() || this.running) return;
    const pinged = await pingIds(this.nc, this.opts);
    if (pinged instanceof Error) {
      // Say it: a denied publish (a user without `$SRV.PING`) silently turned this check off once.
      return this.warn(`the periodic check for tools that come or go without an event failed: ${pinged.message}`);
    }
    const known = new Set(this.servicesList.map((x) => x.id));
    const added = [...pinged].filter(([id]) => !known.has(id) && !this.unfetchable.has(id));
    const lost = [...known].some((id) => !pinged.has(id));
    if (!added.length && !lost) return;
    // Something went (the full pass confirms patiently before dropping anything), many came,
    // or nodes re-register after a reconnect: one full pass.
    if (lost || added.length > SWEEP_TARGETED_MAX || this.graceUntil > Date.now()) return this.refresh();
    // Only additions: `$SRV.INFO.<name>.<id>` for each new instance. INFO carries every schema,
    // the bulk of discovery; the instances already known are not asked again.
    await this.refresh(async () => {
      const fetched = await Promise.all(added.map(async ([id, name]) => {
        const info = await this.infoOf(name, id);
        if (!info) {
          if (this.unfetchable.size > 10_000) this.unfetchable.clear();
          this.unfetchable.add(id); // not asked again at every sweep; a full pass still sees it
        }
        return info;
      }));
      const have = new Set(this.servicesList.map((x) => x.id));
      return [...this.servicesList, ...fetched.filter((x): x is ServiceInfo => x !== undefined && !have.has(x.id))];
    });
  }

  /** One instance's INFO (`$SRV.INFO.<name>.<id>`), or undefined when it did not answer sanely. */
  private async infoOf(name: string, id: string): Promise<ServiceInfo | undefined> {
    const subject = `${SRV_INFO}.${name}.${id}`;
    try {
      const msg = await this.nc.request(subject, "", { timeout: this.opts.schemaTimeoutMs ?? 1000 });
      // The same bounds as a full pass (limits.ts): size, names, method count.
      if (msg.data.length > LIMITS.infoBytes) throw new Error(`an answer of ${msg.data.length} bytes, over the limit of ${LIMITS.infoBytes}`);
      const info = parseReply(subject, msg.data, ServiceInfoWire);
      const problem = serviceProblem(info);
      if (problem) throw new Error(`service ${JSON.stringify(info.name.slice(0, 60))} on node ${JSON.stringify(nodeOf(info).slice(0, 60))}: ${problem}`);
      return info;
    } catch (err) {
      if (!/timeout|no responders/i.test((err as Error).message)) this.warn(`ignored a discovery answer: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Refresh soon (debounced); used on events and reconnects. */
  scheduleRefresh(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh().catch(() => {}), this.opts.debounceMs ?? 150);
  }

  /** Rediscovers now. Concurrent calls coalesce into at most one extra pass. */
  refresh(source?: () => Promise<ServiceInfo[]>): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.discoverOnce(source);
          source = undefined; // a refresh asked for meanwhile is a full pass
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Each distinct warning once: discovery repeats every few seconds, the log should not. */
  private warn(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size > 1000) this.warned.clear();
    this.warned.add(message);
    this.opts.onWarning?.(message);
  }

  private async discoverOnce(source?: () => Promise<ServiceInfo[]>): Promise<void> {
    if (this.closed || this.nc.isClosed()) return;
    if (source) return this.apply(await source(), performance.now());
    const t0 = performance.now();
    const onBad = (e: Error) => this.warn(`ignored a discovery answer: ${e.message}`);
    const patient = { ...this.opts, stallMs: Math.max(PATIENT_STALL_MS, this.opts.stallMs ?? 0) };
    const confirmAll = this.patientNext;
    this.patientNext = false;
    let services = await listServices(this.nc, confirmAll ? patient : this.opts, onBad);
    // A responder that paused longer than the stall (GC, a busy node) is missed by a quick
    // pass. Before dropping an instance we knew, look again patiently and keep every
    // instance either pass heard, so a hiccup never removes tools (and renames nothing).
    if (!confirmAll && this.losesInstances(services)) {
      const seen = new Set(services.map((x) => x.id));
      for (const x of await listServices(this.nc, patient, onBad)) if (!seen.has(x.id)) services.push(x);
    }
    // Right after a reconnect, nodes are re-registering (stop, then start: a moment with no
    // responder). Keep what we knew of a (node, tool) until the grace ends, then look again,
    // so tools do not flap out and back in (and names stay put).
    const graceLeft = this.graceUntil - Date.now();
    if (graceLeft > 0) {
      const present = new Set(services.map((x) => `${nodeOf(x)}\u0000${x.name}`));
      for (const old of this.servicesList) if (!present.has(`${nodeOf(old)}\u0000${old.name}`)) services.push(old);
      clearTimeout(this.graceTimer);
      this.graceTimer = setTimeout(() => void this.refresh().catch(() => {}), graceLeft + 50);
    }
    await this.apply(services, t0);
  }

  /** Makes `services` the catalog and tells the listeners what changed. */
  private async apply(services: ServiceInfo[], t0: number): Promise<void> {
    if (this.closed) return;
    const next = await this.build(services);
    this.lastDiscoveryMs = performance.now() - t0;
    this.servicesList = services;
    const change = diff(this.entries, next);
    this.entries = next;
    this.loadedOnce = true;
    if (change.added.length || change.removed.length || change.changed.length) {
      for (const l of this.listeners) l(change);
    }
  }

  private losesInstances(services: ServiceInfo[]): boolean {
    const ids = new Set(services.map((x) => x.id));
    return this.servicesList.some((x) => !ids.has(x.id));
  }

  /**
   * Tool, node and method names are subject tokens (`tools.<tool>.<method>`); a service
   * whose names are not could never be called, so it is left out, with one warning.
   */
  private usableName(svc: ServiceInfo): boolean {
    const bad = [svc.name, ...(nodeOf(svc) ? [nodeOf(svc)] : []), ...(svc.endpoints ?? []).map((e) => e.name)].find((n) => !isToken(n) || /[\u0000-\u001f]/.test(n));
    if (bad === undefined) return true;
    {
      this.warn(`left out service ${JSON.stringify(svc.name.slice(0, 80))} of node ${JSON.stringify(nodeOf(svc).slice(0, 80))}: ` +
        `${JSON.stringify(bad.slice(0, 80))} is not a valid NATS subject token (no dots, spaces or wildcards), so it cannot be called`);
    }
    return false;
  }

  /** The service instance id of `tool` on `node`, as last discovered. */
  instanceOf(node: string, tool: string): string | undefined {
    return this.servicesList.find((x) => x.name === tool && nodeOf(x) === node)?.id;
  }

  private async build(services: ServiceInfo[]): Promise<Map<string, MethodEntry>> {
    // Stable order: by tool, then node, so "first node" is deterministic.
    const sorted = services.filter((x) => this.usableName(x)).sort(
      (a, b) => a.name.localeCompare(b.name) || nodeOf(a).localeCompare(nodeOf(b)) || a.id.localeCompare(b.id),
    );
    const live = new Set(sorted.map((s) => s.id));
    for (const id of this.fallbackCache.keys()) if (!live.has(id)) this.fallbackCache.delete(id);

    const pass = ++this.schemaPass;
    const next = new Map<string, MethodEntry>();
    const needFallback: Array<{ svc: ServiceInfo; entry: MethodEntry; problem?: string }> = [];
    for (const svc of sorted) {
      const node = nodeOf(svc);
      for (const ep of svc.endpoints ?? []) {
        const method = ep.name;
        const key = methodKey(svc.name, method);
        let entry = next.get(key);
        if (!entry) {
          entry = {
            tool: svc.name,
            method,
            schema: ANY_OBJECT,
            schemaSource: "none",
            stream: false,
            nodes: [],
            toolDescription: svc.description,
            version: svc.version,
          };
          next.set(key, entry);
        }
        if (!entry.nodes.includes(node)) entry.nodes.push(node);
        if (entry.schemaSource === "metadata") continue;
        const parsed = this.parseSchemaOnce(ep.metadata, pass);
        if (parsed.schema) {
          entry.schema = parsed.schema;
          entry.schemaSource = "metadata";
          entry.schemaProblem = undefined;
          entry.stream = parsed.schema.stream === true;
        } else {
          if (parsed.problem) {
            entry.schemaProblem = `${parsed.problem} (node ${node})`;
            this.warn(`${key} on node ${node}: ${parsed.problem}; trying ${toolSchemaSubject(node, svc.name)}`);
          }
          needFallback.push({ svc, entry, problem: parsed.problem });
        }
      }
    }
    for (const [text, hit] of this.parsedSchemas) if (hit.pass !== pass) this.parsedSchemas.delete(text);
    await Promise.all(needFallback.map((f) => this.applyFallback(f.svc, f.entry)));
    return next;
  }

  /**
   * `parseSchemaMetadata`, once per distinct text across discoveries. The endpoint's
   * metadata is made to hold the cached text (the same characters), so a discovery's
   * fresh copies of the texts are not kept beside the first ones.
   */
  private parseSchemaOnce(metadata: Record<string, string> | null | undefined, pass: number): ParsedSchema {
    const raw = metadata?.schema;
    if (raw === undefined || raw === "") return parseSchemaMetadata(raw);
    let hit = this.parsedSchemas.get(raw);
    if (!hit) this.parsedSchemas.set(raw, (hit = { text: raw, parsed: parseSchemaMetadata(raw), pass }));
    else hit.pass = pass;
    // The same characters; assigning makes the endpoint keep the cached string, not its own copy.
    if (metadata) metadata.schema = hit.text;
    return hit.parsed;
  }

  private async applyFallback(svc: ServiceInfo, entry: MethodEntry): Promise<void> {
    if (entry.schemaSource === "metadata" || entry.schemaSource === "fallback") return;
    const schemas = await this.fallbackSchemas(svc);
    const raw = schemas?.[entry.method];
    if (raw === undefined) return;
    const shape = schemaShapeProblem(raw);
    if (shape) {
      this.warn(`${entry.tool}.${entry.method}: fallback schema from node ${nodeOf(svc)} refused: ${shape}; using any object`);
      return;
    }
    const parsed = MethodSchemaWire.safeParse(raw);
    if (parsed.success && typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
      entry.schema = parsed.data;
      entry.schemaSource = "fallback";
      entry.stream = parsed.data.stream === true;
    } else {
      this.warn(`${entry.tool}.${entry.method}: fallback schema from node ${nodeOf(svc)} is not an object; using any object`);
    }
  }

  private fallbackSchemas(svc: ServiceInfo): Promise<Record<string, unknown> | null> {
    let cached = this.fallbackCache.get(svc.id);
    if (!cached) {
      cached = this.requestFallbackSchemas(svc);
      this.fallbackCache.set(svc.id, cached);
    }
    return cached;
  }

  private async requestFallbackSchemas(svc: ServiceInfo): Promise<Record<string, unknown> | null> {
    const subject = toolSchemaSubject(nodeOf(svc), svc.name);
    let result: Record<string, unknown> | null = null;
    try {
      const msg = await this.nc.request(subject, "", { timeout: this.opts.schemaTimeoutMs ?? 1000 });
      if (msg.data.length > LIMITS.infoBytes) {
        this.warn(`${subject}: refused a schema reply of ${msg.data.length} bytes, over the limit of ${LIMITS.infoBytes}`);
        return null;
      }
      const reply = parseReply(subject, msg.data, SchemaResultWire);
      if (reply.ok && reply.schema) result = reply.schema;
      else if (!reply.ok) this.warn(`${subject}: ${reply.error ?? "schema request failed"}`);
    } catch (err) {
      // No schema service on that node is normal (older nodes); malformed answers are worth a warning.
      if (err instanceof MalformedReplyError) this.warn(err.message);
    }
    return result;
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: CatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every (tool, method), sorted by key. */
  methods(): MethodEntry[] {
    return [...this.entries.values()].sort((a, b) => methodKey(a.tool, a.method).localeCompare(methodKey(b.tool, b.method)));
  }

  get(tool: string, method: string): MethodEntry | undefined {
    return this.entries.get(methodKey(tool, method));
  }

  /** The raw service instances of the last discovery. */
  services(): ServiceInfo[] {
    return this.servicesList;
  }

  /** node → the tools (and their methods) it offers. */
  nodes(): Map<string, Map<string, string[]>> {
    const out = new Map<string, Map<string, string[]>>();
    for (const e of this.methods()) {
      for (const n of e.nodes) {
        const tools = out.get(n) ?? new Map<string, string[]>();
        tools.set(e.tool, [...(tools.get(e.tool) ?? []), e.method]);
        out.set(n, tools);
      }
    }
    return out;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    clearTimeout(this.graceTimer);
    for (const t of this.followUps) clearTimeout(t);
    this.eventListeners.clear();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.listeners.clear();
  }
}

/** Instance id → service name of those that answer `$SRV.PING` (undefined when the sweep itself failed). */
/** One decoder for every sweep's answers (a thousand instances answer every 5 s). */
const pingDecoder = new TextDecoder();

async function pingIds(nc: NatsConnection, opts: DiscoverOptions): Promise<Map<string, string> | Error> {
  const ids = new Map<string, string>();
  try {
    const iter = await nc.requestMany(SRV_PING, "", { strategy: "stall", stall: opts.stallMs ?? 50, maxWait: opts.maxWaitMs ?? 2000 });
    for await (const msg of iter) {
      if (msg.headers?.code === 503) break;
      if (msg.data.length > LIMITS.infoBytes) continue; // the full discovery warns about it
      try {
        const { id, name } = JSON.parse(pingDecoder.decode(msg.data)) as { id?: unknown; name?: unknown };
        if (typeof id === "string" && typeof name === "string") ids.set(id, name);
      } catch {
        /* the full discovery reports malformed answers */
      }
    }
  } catch (err) {
    if (isNoResponders(err)) return ids;
    return err instanceof Error ? err : new Error(String(err));
  }
  return ids;
}

export function nodeOf(svc: ServiceInfo): string {
  return svc.metadata?.node ?? "";
}

function sameEntry(a: MethodEntry, b: MethodEntry): boolean {
  return a.schemaSource === b.schemaSource && a.stream === b.stream && a.toolDescription === b.toolDescription &&
    a.version === b.version && a.nodes.length === b.nodes.length && a.nodes.every((n, i) => n === b.nodes[i]) &&
    (a.schema === b.schema || JSON.stringify(a.schema) === JSON.stringify(b.schema));
}


function diff(prev: Map<string, MethodEntry>, next: Map<string, MethodEntry>): CatalogChange {
  const change: CatalogChange = { added: [], removed: [], changed: [] };
  for (const [k, e] of next) {
    const old = prev.get(k);
    if (!old) change.added.push(e);
    else if (!sameEntry(old, e)) change.changed.push(e);
    // Unchanged: keep the published entry (the tool list and its input schemas refer to it).
    else if (old.schemaProblem === e.schemaProblem) next.set(k, old);
  }
  for (const [k, e] of prev) if (!next.has(k)) change.removed.push(e);
  return change;
}


