/**
 * MeshEvents: the event types over the event log — read a batch after a cursor (poll),
 * follow from a cursor (push), the current position. Stateless between calls: the
 * cursor is all a reader carries, so any process on the same NATS answers.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { MeshError } from "../errors.js";
import { ownerHash } from "../task-records.js";
import type { JsonObject } from "../types.js";
import { decodePosition, encodePosition, EventLog, type EventLogOptions, type Position, type StoredEvent } from "./log.js";
import { EventArgsWire, meshEventTypes, type EventArgs, type EventTarget, type MeshEventType } from "./types.js";

export interface EventOccurrence {
  eventId: string;
  name: string;
  timestamp: string;
  data: JsonObject;
  /** Position after this occurrence. */
  cursor: string;
}

/** Who reads: the owner identity (task events) and what it may see. */
export interface EventReader {
  /** The caller's identity (hashed like task owners: task events are its own only). */
  owner: string;
  /** Its hash, when only that is kept (webhook subscriptions). */
  ownerHash?: string;
  visible?: (target: EventTarget) => boolean;
}

export interface PollRequest {
  name: string;
  arguments?: unknown;
  /** null/undefined: from now. */
  cursor?: string | null;
  maxAgeMs?: number;
  maxEvents?: number;
}

export interface PollResult {
  events: EventOccurrence[];
  cursor: string;
  truncated: boolean;
  hasMore: boolean;
}

/** A problem with a request: unknown event name, bad arguments or cursor. */
export class EventRequestError extends MeshError {
  constructor(message: string, readonly kind: "not-found" | "invalid") {
    super(message);
    this.name = "EventRequestError";
  }
}

function readerHash(r: EventReader): string {
  return r.ownerHash ?? ownerHash(r.owner);
}

export const DEFAULT_MAX_EVENTS = 100;
export const MAX_EVENTS = 1000;

export class MeshEvents {
  readonly types: MeshEventType[];
  private readonly byName: Map<string, MeshEventType>;

  private constructor(readonly log: EventLog, opts: EventLogOptions) {
    this.types = meshEventTypes(opts);
    this.byName = new Map(this.types.map((t) => [t.name, t]));
  }

  static async open(nc: NatsConnection, opts: EventLogOptions = {}): Promise<MeshEvents> {
    return new MeshEvents(await EventLog.open(nc, opts), opts);
  }

  /** The type and its parsed arguments, or an EventRequestError. */
  resolve(name: string, args: unknown): { type: MeshEventType; args: EventArgs } {
    const type = this.byName.get(name);
    if (!type) throw new EventRequestError(`unknown event type "${name}": events/list names the ones this server offers`, "not-found");
    const parsed = EventArgsWire.safeParse(args ?? {});
    if (!parsed.success) throw new EventRequestError(`invalid arguments for ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`).join("; ")}`, "invalid");
    const allowed = Object.keys((type.inputSchema.properties ?? {}) as object);
    const extra = Object.keys(parsed.data).filter((k) => !allowed.includes(k));
    if (extra.length) throw new EventRequestError(`${name} takes no argument ${extra.map((k) => `"${k}"`).join(", ")} (it takes: ${allowed.join(", ") || "none"})`, "invalid");
    return { type, args: parsed.data };
  }

  private position(cursor: string): Position {
    const p = decodePosition(cursor);
    if (!p) throw new EventRequestError(`invalid cursor "${cursor.slice(0, 64)}": pass back a cursor this server returned, or null to start from now`, "invalid");
    return p;
  }

  /** The occurrence `e` is for this subscription, or undefined (another kind, filtered out, not visible). */
  occurrence(type: MeshEventType, args: EventArgs, reader: EventReader, e: StoredEvent): EventOccurrence | undefined {
    const d = type.decode(e, args);
    if (!d) return undefined;
    if (d.target.taskOwner !== undefined && d.target.taskOwner !== readerHash(reader)) return undefined;
    if (reader.visible && !reader.visible(d.target)) return undefined;
    return { eventId: `${this.log.epoch}-${e.seq}`, name: type.name, timestamp: d.timestamp, data: d.data, cursor: encodePosition({ epoch: this.log.epoch, seq: e.seq }) };
  }

  /** Where delivery from `cursor` starts (null: after now), and whether occurrences were lost. */
  async startOf(cursor: string | null | undefined, maxAgeMs?: number): Promise<{ start: number; truncated: boolean }> {
    if (cursor === null || cursor === undefined) return { start: (await this.log.now()).seq + 1, truncated: false };
    return this.log.resume(this.position(cursor), maxAgeMs);
  }

  cursorAt(seq: number): string {
    return encodePosition({ epoch: this.log.epoch, seq });
  }

  /** The position of "now", as a cursor. */
  async now(): Promise<string> {
    return encodePosition(await this.log.now());
  }

  /**
   * One poll: occurrences after the cursor (none and the current position when the
   * cursor is null). With `wait.ms`, a poll that finds nothing is a long poll: it
   * answers as soon as a matching occurrence is stored, or empty when the time is up.
   */
  async poll(req: PollRequest, reader: EventReader, wait?: { ms: number; signal?: AbortSignal }): Promise<PollResult> {
    const first = await this.pollOnce(req, reader);
    if (!wait || wait.ms <= 0 || req.cursor === null || req.cursor === undefined || first.events.length > 0 || first.hasMore) return first;
    const { type, args } = this.resolve(req.name, req.arguments);
    const stop = new AbortController();
    const outer = wait.signal;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait.ms);
      const end = () => (clearTimeout(timer), resolve());
      if (outer?.aborted) return end();
      outer?.addEventListener("abort", end, { once: true });
      stop.signal.addEventListener("abort", () => outer?.removeEventListener("abort", end), { once: true });
      this.log.follow(type.filter(args, readerHash(reader)), this.position(first.cursor).seq + 1, stop.signal, (e) => {
        if (this.occurrence(type, args, reader, e)) end();
      }, () => {});
    });
    stop.abort();
    const next = await this.pollOnce({ ...req, cursor: first.cursor }, reader);
    return { ...next, truncated: first.truncated || next.truncated };
  }

  private async pollOnce(req: PollRequest, reader: EventReader): Promise<PollResult> {
    const { type, args } = this.resolve(req.name, req.arguments);
    if (req.cursor === null || req.cursor === undefined) return { events: [], cursor: await this.now(), truncated: false, hasMore: false };
    const { start, truncated } = await this.log.resume(this.position(req.cursor), req.maxAgeMs);
    const max = Math.max(1, Math.min(req.maxEvents ?? DEFAULT_MAX_EVENTS, MAX_EVENTS));
    const filter = type.filter(args, readerHash(reader));
    const found: EventOccurrence[] = [];
    const r = await this.log.read(filter, start, {
      max,
      keep: (e) => {
        const o = this.occurrence(type, args, reader, e);
        if (o) found.push(o);
        return o !== undefined;
      },
    });
    return { events: found, cursor: encodePosition({ epoch: this.log.epoch, seq: r.last }), truncated, hasMore: r.hasMore };
  }

  /**
   * Follows a subscription from `cursor` (null: from now): `onActive` first (the start
   * position, and whether occurrences were lost), then each occurrence as it is stored.
   * `position()` of the returned handle is how far the follower has read (heartbeats).
   */
  async follow(
    req: Omit<PollRequest, "maxEvents">,
    reader: EventReader,
    signal: AbortSignal,
    on: { active(cursor: string, truncated: boolean): void; event(o: EventOccurrence): void; error(err: Error): void },
  ): Promise<{ position(): string }> {
    const { type, args } = this.resolve(req.name, req.arguments);
    let start: number;
    let truncated = false;
    if (req.cursor === null || req.cursor === undefined) start = (await this.log.now()).seq + 1;
    else ({ start, truncated } = await this.log.resume(this.position(req.cursor), req.maxAgeMs));
    let read = start - 1;
    on.active(encodePosition({ epoch: this.log.epoch, seq: read }), truncated);
    this.log.follow(type.filter(args, readerHash(reader)), start, signal, (e) => {
      read = e.seq;
      const o = this.occurrence(type, args, reader, e);
      if (o) on.event(o);
    }, on.error);
    return { position: () => encodePosition({ epoch: this.log.epoch, seq: read }) };
  }
}
