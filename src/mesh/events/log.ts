/**
 * The mesh's event log: one JetStream stream (`mesh-mcp-events`) capturing what the mesh
 * already says — `events.node.*`, `events.tool.*`, the nodes' call records on
 * `logs.call.>` — and sourcing the file store's and the task bucket's change records
 * (`$O.<files>.M.>`, `$KV.<tasks>.>`) from their own streams. A cursor is a stream
 * sequence: any process on the same NATS answers a poll or resumes a stream from it,
 * and what the stream's limits dropped is told as `truncated`.
 *
 * Works on nats-server 2.9 (one filter subject per read, no subject transforms). A
 * stream that already exists is used as it is. When another stream already captures
 * these subjects (jb-mesh's own `MESH_EVENTS` on `events.>`, its logstore on `logs.>`),
 * this one sources from it instead of capturing.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, DeliverPolicy, type JetStreamManager, type StreamConfig, type StreamSource } from "@nats-io/jetstream";
import { MeshError } from "../errors.js";

export const EVENTS_STREAM = "mesh-mcp-events";
/** Subjects the stream captures itself (when no other stream already does). */
export const CAPTURED_SUBJECTS = ["events.node.*", "events.tool.*", "logs.call.>"] as const;

export interface EventLogOptions {
  stream?: string;
  /** Oldest occurrence kept (default 24 h). */
  maxAgeMs?: number;
  /** Stream size cap in bytes (default 256 MiB); the oldest occurrences go first. */
  maxBytes?: number;
  /** Stream message cap (default 1,000,000). */
  maxMsgs?: number;
  /** Object Store bucket whose changes are file events (default `mesh-files`). */
  filesBucket?: string;
  /** KV bucket of task records (default `mesh-mcp-tasks`). */
  tasksBucket?: string;
  log?: (message: string) => void;
}

export const DEFAULT_EVENTS_MAX_AGE_MS = 24 * 3600_000;
export const DEFAULT_EVENTS_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_EVENTS_MAX_MSGS = 1_000_000;

/** One captured message. */
export interface StoredEvent {
  seq: number;
  subject: string;
  time: Date;
  data: Uint8Array;
}

/** A position in the log: the last sequence a reader has seen (0: before everything). */
export interface Position {
  /** The stream's creation time: a cursor from an older stream of the same name is stale. */
  epoch: string;
  seq: number;
}

export interface ReadResult {
  items: StoredEvent[];
  /** Where the next read starts (after everything scanned, matching or not). */
  next: Position;
  /** Occurrences after the reader's position were dropped by the stream's limits (or `maxAgeMs`). */
  truncated: boolean;
  /** More matching occurrences wait (the read stopped at `max` or its scan budget). */
  hasMore: boolean;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EventLog {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    readonly epoch: string,
  ) {}

  static async open(nc: NatsConnection, opts: EventLogOptions = {}): Promise<EventLog> {
    const stream = opts.stream ?? EVENTS_STREAM;
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (err) {
      throw new MeshError(`mesh events need JetStream on the mesh's NATS (start nats-server with -js): ${(err as Error).message}`, { cause: err });
    }
    let info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info) {
      const files = opts.filesBucket ?? "mesh-files";
      const tasks = opts.tasksBucket ?? "mesh-mcp-tasks";
      const base: Partial<StreamConfig> = {
        name: stream,
        description: "mesh-mcp: the mesh's events, call records, file and task changes (MCP events cursors are its sequences)",
        max_age: (opts.maxAgeMs ?? DEFAULT_EVENTS_MAX_AGE_MS) * 1_000_000,
        max_bytes: opts.maxBytes ?? DEFAULT_EVENTS_MAX_BYTES,
        max_msgs: opts.maxMsgs ?? DEFAULT_EVENTS_MAX_MSGS,
        // Object Store meta records carry `Nats-Rollup: sub`: without this, sourcing them is refused.
        // (A rollup then drops older records of the same file key here: its latest change stays.)
        allow_rollup_hdrs: true,
      };
      // Sources wait for a stream that does not exist yet (the file store is made on first use).
      const sources: StreamSource[] = [
        { name: `OBJ_${files}`, filter_subject: `$O.${files}.M.>` },
        { name: `KV_${tasks}`, filter_subject: `$KV.${tasks}.>` },
      ];
      const subjects: string[] = [];
      for (const subject of CAPTURED_SUBJECTS) {
        const owner = await capturedBy(jsm, subject);
        if (owner && owner !== stream) {
          opts.log?.(`events: stream ${owner} already captures ${subject}; ${stream} sources it from there`);
          sources.push({ name: owner, filter_subject: subject });
        } else subjects.push(subject);
      }
      try {
        info = await jsm.streams.add({ ...base, name: stream, subjects, sources });
      } catch (err) {
        if (!/already in use|exists/i.test((err as Error).message)) {
          throw new MeshError(`cannot create the events stream ${stream}: ${(err as Error).message}`, { cause: err });
        }
        info = await jsm.streams.info(stream);
      }
    }
    return new EventLog(nc, jsm, stream, String(Date.parse(info.created) || 0));
  }

  /** The log's current end: a reader starting here sees only what comes next. */
  async now(): Promise<Position> {
    const info = await this.jsm.streams.info(this.stream);
    return { epoch: this.epoch, seq: info.state.last_seq };
  }

  /** What the stream keeps right now. */
  async state(): Promise<{ firstSeq: number; lastSeq: number; messages: number; bytes: number }> {
    const s = (await this.jsm.streams.info(this.stream)).state;
    return { firstSeq: s.first_seq, lastSeq: s.last_seq, messages: s.messages, bytes: s.bytes };
  }

  /**
   * Where a reader resumes: after `from`, or (a cursor of an older stream, one past the
   * end) at the oldest kept occurrence with `truncated`; a position before what the
   * stream (or `maxAgeMs`) keeps is moved forward, also with `truncated`.
   */
  async resume(from: Position, maxAgeMs?: number): Promise<{ start: number; truncated: boolean }> {
    const s = (await this.jsm.streams.info(this.stream)).state;
    let start = from.seq + 1;
    let truncated = false;
    if (from.epoch !== this.epoch || from.seq > s.last_seq) {
      start = s.first_seq;
      truncated = true;
    } else if (start < s.first_seq && s.messages > 0) {
      start = s.first_seq;
      truncated = true;
    } else if (s.messages === 0 && start <= s.last_seq) {
      start = s.last_seq + 1;
      truncated = true;
    }
    if (maxAgeMs !== undefined && start <= s.last_seq) {
      const floor = await this.firstSince(new Date(Date.now() - maxAgeMs));
      if (floor > start) {
        start = floor;
        truncated = true;
      }
    }
    return { start, truncated };
  }

  /** The first sequence stored at or after `t` (an ephemeral consumer tells; deleted at once). */
  private async firstSince(t: Date): Promise<number> {
    const info = await this.jsm.consumers.add(this.stream, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: t.toISOString(),
      ack_policy: AckPolicy.None,
      inactive_threshold: 5_000_000_000,
      mem_storage: true,
    });
    await this.jsm.consumers.delete(this.stream, info.name).catch(() => {});
    return info.delivered.stream_seq + 1;
  }

  /**
   * Up to `max` occurrences on `filter` from `start` on (direct gets by subject), read
   * no further than the end seen when the read began; `keep` decides which count.
   * Stops after `scan` messages so one read stays bounded.
   */
  async read(filter: string, start: number, opts: { max: number; scan?: number; keep?: (e: StoredEvent) => boolean }): Promise<{ items: StoredEvent[]; last: number; hasMore: boolean }> {
    const end = (await this.jsm.streams.info(this.stream)).state.last_seq;
    const items: StoredEvent[] = [];
    let seq = start;
    let scanned = 0;
    const scan = opts.scan ?? 1000;
    while (seq <= end) {
      if (items.length >= opts.max || scanned >= scan) return { items, last: seq - 1, hasMore: true };
      const m = await this.jsm.streams.getMessage(this.stream, { seq, next_by_subj: filter } as never).catch((err: Error) => {
        if (/no message found|not found/i.test(err.message)) return null;
        throw err;
      });
      if (!m || m.seq > end) break;
      scanned++;
      const e: StoredEvent = { seq: m.seq, subject: m.subject, time: m.time, data: m.data };
      if (!opts.keep || opts.keep(e)) items.push(e);
      seq = m.seq + 1;
    }
    return { items, last: Math.max(end, start - 1), hasMore: false };
  }

  /**
   * Follows `filter` from `start`: each message is handed to `onEvent` as it is stored
   * (an ordered consumer: in order, none skipped while the stream keeps them). Stops
   * with the signal. `onError` hears a failure the follower could not recover from.
   */
  follow(filter: string, start: number, signal: AbortSignal, onEvent: (e: StoredEvent) => void, onError: (err: Error) => void): void {
    void (async () => {
      const js = jetstream(this.nc);
      while (!signal.aborted) {
        try {
          const c = await js.consumers.get(this.stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start) });
          const msgs = await c.consume({ max_messages: 256 });
          const stop = () => void msgs.stop();
          signal.addEventListener("abort", stop, { once: true });
          try {
            for await (const m of msgs) {
              if (signal.aborted) break;
              start = m.seq + 1;
              onEvent({ seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1_000_000)), data: m.data });
            }
          } finally {
            signal.removeEventListener("abort", stop);
          }
        } catch (err) {
          if (signal.aborted || this.nc.isClosed() || this.nc.isDraining()) return;
          onError(err as Error);
          await pause(1000);
        }
      }
    })();
  }
}

/** The stream that captures `subject` now, if any. */
async function capturedBy(jsm: JetStreamManager, subject: string): Promise<string | undefined> {
  try {
    const names = await jsm.streams.names(subject).next();
    return names[0];
  } catch {
    return undefined;
  }
}

/** Opaque to clients: `<stream epoch>.<sequence>`. */
export function encodePosition(p: Position): string {
  return `${Number(p.epoch).toString(36)}.${p.seq.toString(36)}`;
}

/** The position a cursor names, or undefined when it is not one of ours. */
export function decodePosition(cursor: string): Position | undefined {
  const m = /^([0-9a-z]{1,12})\.([0-9a-z]{1,12})$/.exec(cursor);
  if (!m) return undefined;
  const epoch = parseInt(m[1]!, 36);
  const seq = parseInt(m[2]!, 36);
  if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(seq)) return undefined;
  return { epoch: String(epoch), seq };
}
