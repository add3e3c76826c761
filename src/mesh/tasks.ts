/**
 * Durable tasks: a mesh call whose reply outlives the process that made it.
 *
 * - The call's reply subject is `mesh-mcp-tasks.<id>.frames`, captured by the
 *   JetStream stream `mesh-mcp-task-frames`: the node's reply (or every stream frame)
 *   is stored by the server, whoever is still listening.
 * - The task record (owner hash, call id, node, status, deadline) is a key of the KV
 *   bucket `mesh-mcp-tasks`, named `<owner hash>.<task id>`.
 * - State = record + captured frames. Any process on the same NATS rebuilds it; the
 *   first one to see the end writes the terminal status (compare-and-set on the KV
 *   revision, so a cancel and a completion cannot both win).
 * Works on nats-server 2.9 (no per-key TTL, no multi-filter consumers): retention is
 * the bucket's and the stream's max age.
 */
import { headers as natsHeaders, nuid, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude, type KV } from "@nats-io/kv";
import type { Caller } from "./call.js";
import { buildCallRequest } from "./call.js";
import { MeshError } from "./errors.js";
import { CapturedFrames } from "./task-frames.js";
import { TaskLiveness, type AliveProbe } from "./task-liveness.js";
import { callSubject, nodeCallSubject, nodeStreamSubject, servicePingSubject, streamSubject, TASK_FRAMES_STREAM, TASK_SUBJECT_PREFIX, TASKS_BUCKET } from "./subjects.js";
import {
  boundedChunk, decodeCaptured, foldOutcome, isTaskId, isTerminalStatus, newTaskId, ownerHash, recordKey, TaskRecordWire, viewOf,
  type CapturedMsg, type TaskOutcome, type TaskRecord, type TaskStatus, type TaskView,
} from "./task-records.js";
import type { JsonObject } from "./types.js";

export interface TaskStoreOptions {
  bucket?: string;
  stream?: string;
  subjectPrefix?: string;
  /** How long records and captured frames are kept after their last write (default 24 h). */
  ttlMs?: number;
  /** A working task silent this long gets its node pinged (default 3 s). */
  livenessAfterMs?: number;
  /** A stream task with no frame for this long fails (default 120 s). */
  inactivityMs?: number;
  log?: (message: string) => void;
  /**
   * The mesh's liveness probe (mesh/liveness.ts), shared with plain calls: is `node`
   * still serving `tool`? Without it, a `$SRV.PING.<tool>` looks for the node.
   */
  alive?: AliveProbe;
  /** Watches a node while this process follows a task it started; `onGone` fails the task at once. */
  watchNode?: (node: string, tool: string, onGone: (detail: string) => void) => () => void;
}

export interface StartTaskRequest {
  tool: string;
  method: string;
  params: JsonObject;
  /** The node that runs it: needed to tell a dead node from a slow job. */
  node: string;
  stream: boolean;
  /** The client identity; stored hashed only. */
  owner: string;
  /** Fail (and cancel on the node) after this long (default 1 h). */
  maxRunMs?: number;
  /** NATS headers of the request (the caller's identity, trace context), as CallOptions.headers. */
  headers?: Record<string, string>;
}

/** Request headers as NATS wants them; undefined when there are none (no header block on the wire). */
function taskHeaders(h: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!h || Object.keys(h).length === 0) return undefined;
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

export const DEFAULT_TASK_TTL_MS = 24 * 3600_000;
const DEFAULT_LIVENESS_MS = 3000;
const SETTLE_TRIES = 40;
const SETTLE_PAUSE_MS = 50;
/** Frames a live follower keeps in memory to settle without reading the stream back. */
const MAX_FOLLOWED_FRAMES = 10_000;

const encoder = new TextEncoder();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Located {
  key: string;
  rec: TaskRecord;
  revision: number;
}

export class TaskStore {
  private readonly live = new Map<string, { sub: Subscription; deadline: NodeJS.Timeout; unwatch?: () => void }>();
  /** One settle per task at a time in this process (the live follower and a poll may both see the end). */
  private readonly settling = new Map<string, Promise<TaskRecord>>();
  /** Finished tasks never change: their folded frames are kept here (bounded, oldest out). */
  private readonly ended = new Map<string, { outcome?: TaskOutcome; chunks: unknown[] }>();
  private readonly listeners = new Set<(id: string, chunk?: unknown) => void>();
  private readonly liveness: TaskLiveness;
  readonly ttlMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly caller: Caller,
    private readonly kv: KV,
    private readonly frames: CapturedFrames,
    private readonly opts: TaskStoreOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_TASK_TTL_MS;
    this.liveness = new TaskLiveness(nc, opts.livenessAfterMs ?? DEFAULT_LIVENESS_MS, opts.alive);
  }

  /** Opens (or creates) the bucket and the capture stream; a clear error when JetStream is off. */
  static async open(nc: NatsConnection, caller: Caller, opts: TaskStoreOptions = {}): Promise<TaskStore> {
    const ttl = opts.ttlMs ?? DEFAULT_TASK_TTL_MS;
    const bucket = opts.bucket ?? TASKS_BUCKET;
    const stream = opts.stream ?? TASK_FRAMES_STREAM;
    const prefix = opts.subjectPrefix ?? TASK_SUBJECT_PREFIX;
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (err) {
      throw new MeshError(`durable tasks need JetStream on the mesh's NATS (start nats-server with -js): ${(err as Error).message}`, { cause: err });
    }
    const kvm = new Kvm(nc);
    let kv: KV;
    try {
      kv = await kvm.open(bucket);
      const status = await kv.status();
      if (status.ttl !== ttl) {
        opts.log?.(`task bucket ${bucket} keeps records ${Math.round(status.ttl / 1000)} s, not the ${Math.round(ttl / 1000)} s asked for: the first process created it; change it with: nats stream edit KV_${bucket} --max-age=…`);
      }
    } catch {
      kv = await kvm.create(bucket, { history: 1, ttl, description: "mesh-mcp durable task records" });
    }
    await CapturedFrames.ensure(jsm, stream, prefix, ttl);
    return new TaskStore(nc, caller, kv, new CapturedFrames(jsm, jetstream(nc), stream, opts.subjectPrefix), opts);
  }

  private subject(id: string): string {
    return this.frames.subject(id);
  }

  /**
   * Called whenever this process sees a task change: with the chunk for a frame of a
   * task it started (while it lives), without one for a status this process wrote.
   */
  onChange(listener: (id: string, chunk?: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(id: string, chunk?: unknown): void {
    for (const l of this.listeners) l(id, chunk);
  }

  /** Records the task, then sends the call with the captured reply subject. */
  async startTask(req: StartTaskRequest): Promise<TaskView> {
    const id = newTaskId();
    const owner = ownerHash(req.owner);
    const now = Date.now();
    const rec: TaskRecord = {
      v: 1, id, owner, callId: nuid.next(), tool: req.tool, method: req.method, node: req.node,
      kind: req.stream ? "stream" : "call", status: "working", createdAt: now, updatedAt: now,
      deadline: now + (req.maxRunMs ?? 3_600_000), ttlMs: this.ttlMs,
    };
    const key = recordKey(owner, id);
    await this.kv.create(key, JSON.stringify(rec));
    const subject = req.stream
      ? (req.node ? nodeStreamSubject(req.node, req.tool, req.method) : streamSubject(req.tool, req.method))
      : (req.node ? nodeCallSubject(req.node, req.tool, req.method) : callSubject(req.tool, req.method));
    // While this process lives it follows the task: the no-responders status only comes
    // to a subscriber of the reply subject, and the end is written at once, from the
    // frames it saw (checked against the stream's count) rather than read back.
    let seen: CapturedMsg[] | undefined = [];
    const sub = this.nc.subscribe(this.subject(id), {
      callback: (err, msg) => {
        if (err) return;
        if (msg.headers?.code === 503) {
          void this.finish(key, "failed", `no node answers ${subject}: the node is gone or does not offer ${req.tool}.${req.method}`)
            .catch((e: unknown) => this.opts.log?.(`task ${id}: ${(e as Error).message}`));
          return this.unfollow(id);
        }
        const captured: CapturedMsg = { data: msg.data, serviceError: msg.headers?.get("Nats-Service-Error") || undefined };
        if (seen && seen.length < MAX_FOLLOWED_FRAMES) seen.push(captured);
        else seen = undefined; // too many to keep: the end is read from the stream
        const d = decodeCaptured(rec.kind, captured, rec.node);
        if (d.kind === "end") {
          this.unfollow(id);
          void this.settle(key, seen).catch((err: unknown) => this.opts.log?.(`task ${id}: ${(err as Error).message}`));
        } else this.changed(id, d.chunk ?? null);
      },
    });
    // (setTimeout fires at once beyond 2^31-1 ms: a longer run is enforced by the polls.)
    const deadline = setTimeout(() => void this.getTask(id, req.owner).catch(() => {}), Math.min(rec.deadline - now + 10, 2 ** 31 - 1));
    deadline.unref(); // a pending deadline must not keep the process alive: any process enforces it
    const unwatch = req.node
      ? this.opts.watchNode?.(req.node, req.tool, (detail) => {
          void this.finish(key, "failed", `node ${req.node} is gone (${detail}); the job is lost. Start it again.`).catch(() => {});
        })
      : undefined;
    this.live.set(id, { sub, deadline, unwatch });
    this.nc.publish(subject, encoder.encode(JSON.stringify(buildCallRequest(req.params, rec.callId, req.node))), { reply: this.subject(id), headers: taskHeaders(req.headers) });
    return viewOf(rec, { chunks: 0 });
  }

  private unfollow(id: string): void {
    const l = this.live.get(id);
    if (!l) return;
    l.sub.unsubscribe();
    clearTimeout(l.deadline);
    l.unwatch?.();
    this.live.delete(id);
  }

  private async locate(id: string, owner: string): Promise<Located | undefined> {
    if (!isTaskId(id)) return undefined;
    const key = recordKey(ownerHash(owner), id);
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT" || e.length === 0) return undefined;
    const parsed = TaskRecordWire.safeParse(e.json());
    return parsed.success ? { key, rec: parsed.data, revision: e.revision } : undefined;
  }

  /** The task's state now, or undefined when `owner` has no such task (another owner's task included). */
  async getTask(id: string, owner: string): Promise<TaskView | undefined> {
    const at = await this.locate(id, owner);
    if (!at) return undefined;
    return this.refresh(at);
  }

  /** Brings a working task up to date from its captured frames and its node's liveness. */
  private async refresh(at: Located): Promise<TaskView> {
    const { rec } = at;
    if (isTerminalStatus(rec.status)) return viewOf(rec);
    const last = await this.frames.last(rec.id);
    if (last && decodeCaptured(rec.kind, last.msg, rec.node).kind === "end") return viewOf(await this.settle(at.key));
    const now = Date.now();
    if (now >= rec.deadline) {
      this.caller.cancel(rec.callId);
      return viewOf(await this.finish(at.key, "failed", `timed out after ${Math.round((rec.deadline - rec.createdAt) / 1000)} s; the node was told to cancel`));
    }
    const quietSince = last?.time ?? rec.createdAt;
    const inactivity = this.opts.inactivityMs ?? 120_000;
    if (rec.kind === "stream" && now - quietSince > inactivity) {
      this.caller.cancel(rec.callId);
      return viewOf(await this.finish(at.key, "failed", `no frame from node ${rec.node} for ${Math.round(inactivity / 1000)} s`));
    }
    if (now - quietSince > (this.opts.livenessAfterMs ?? DEFAULT_LIVENESS_MS) && (await this.liveness.gone(rec.id, rec.node, rec.tool)) === true) {
      return viewOf(await this.finish(at.key, "failed", `node ${rec.node} is gone (it no longer answers ${servicePingSubject(rec.tool)}); the job is lost. Start it again.`));
    }
    const chunks = last ? await this.frames.count(rec.id) : 0;
    const lastChunk = last ? decodeCaptured(rec.kind, last.msg, rec.node) : undefined;
    return viewOf(rec, { chunks, lastChunk: lastChunk?.kind === "chunk" ? boundedChunk(lastChunk.chunk) : undefined });
  }

  /** The folded frames of a task, from the cache once it has ended. */
  private async folded(rec: TaskRecord): Promise<{ outcome?: TaskOutcome; chunks: unknown[] }> {
    return this.ended.get(rec.id) ?? this.remember(rec, await this.frames.all(rec.id, rec.kind));
  }

  private remember(rec: TaskRecord, msgs: CapturedMsg[]): { outcome?: TaskOutcome; chunks: unknown[] } {
    const f = foldOutcome(rec.kind, msgs, rec.node);
    if (f.outcome) {
      this.ended.set(rec.id, f);
      if (this.ended.size > 256) this.ended.delete(this.ended.keys().next().value!);
    }
    return f;
  }

  /**
   * The terminal frame was seen: fold the frames and write the end. JetStream may
   * store the frame a moment after a live subscriber saw it, hence the short retry.
   */
  private settle(key: string, seen?: CapturedMsg[]): Promise<TaskRecord> {
    let p = this.settling.get(key);
    if (!p) {
      p = this.settleOnce(key, seen).finally(() => this.settling.delete(key));
      this.settling.set(key, p);
    }
    return p;
  }

  private async settleOnce(key: string, seen?: CapturedMsg[]): Promise<TaskRecord> {
    for (let i = 0; ; i++) {
      const e = await this.kv.get(key);
      if (!e || e.operation !== "PUT") throw new MeshError(`task record ${key} vanished (expired?)`);
      const rec = TaskRecordWire.parse(e.json());
      if (isTerminalStatus(rec.status)) return rec;
      const { outcome, chunks } = seen && (await this.frames.count(rec.id)) <= seen.length ? this.remember(rec, seen) : await this.folded(rec);
      if (outcome || i >= SETTLE_TRIES) {
        const status: TaskStatus = outcome?.ok ? "completed" : "failed";
        const message = outcome ? outcome.error : "the end of the reply was seen but not stored";
        return this.finish(key, status, message, { chunks: chunks.length, lastChunk: boundedChunk(chunks.at(-1)) }, { rec, revision: e.revision });
      }
      await pause(SETTLE_PAUSE_MS);
    }
  }

  /** Writes a terminal status unless another one got there first (then that one stands). */
  private async finish(
    key: string, status: TaskStatus, message: string | undefined, extra: Partial<TaskRecord> = {}, known?: { rec: TaskRecord; revision: number },
  ): Promise<TaskRecord> {
    for (;;) {
      let current = known;
      known = undefined; // after a lost race, read again
      if (!current) {
        const e = await this.kv.get(key);
        if (!e || e.operation !== "PUT") throw new MeshError(`task record ${key} vanished (expired?)`);
        current = { rec: TaskRecordWire.parse(e.json()), revision: e.revision };
      }
      const { rec, revision } = current;
      if (isTerminalStatus(rec.status)) return rec;
      const next: TaskRecord = { ...rec, ...extra, status, message, updatedAt: Date.now() };
      try {
        await this.kv.update(key, JSON.stringify(next), revision);
        this.unfollow(rec.id);
        this.changed(rec.id);
        return next;
      } catch (err) {
        if (!/wrong last sequence/i.test((err as Error).message)) throw err;
      }
    }
  }

  /** The outcome of a finished task (undefined while it works, or when not this owner's). */
  async taskResult(id: string, owner: string): Promise<{ view: TaskView; outcome?: TaskOutcome } | undefined> {
    const at = await this.locate(id, owner);
    if (!at) return undefined;
    const view = await this.refresh(at);
    if (!isTerminalStatus(view.status)) return { view };
    const { outcome, chunks } = await this.folded(at.rec);
    if (view.status === "completed" && outcome) return { view, outcome };
    return { view, outcome: { ok: false, error: view.message ?? outcome?.error ?? view.status, node: view.node, chunks } };
  }

  /** Tells the node to stop (`cancel.<call_id>`) and records the cancel; a finished task stays as it ended. */
  async cancelTask(id: string, owner: string): Promise<TaskView | undefined> {
    const at = await this.locate(id, owner);
    if (!at) return undefined;
    if (isTerminalStatus(at.rec.status)) return viewOf(at.rec);
    this.caller.cancel(at.rec.callId);
    return viewOf(await this.finish(at.key, "cancelled", "cancelled by the client"));
  }

  /**
   * This owner's tasks, newest first, `limit` from `offset`; `next` is the offset of
   * the following page. Records are read in parallel; only the page's working tasks
   * are brought up to date (as getTask would).
   */
  async listTasks(owner: string, page: { offset?: number; limit?: number } = {}): Promise<{ tasks: TaskView[]; next?: number }> {
    const hash = ownerHash(owner);
    const keys: string[] = [];
    for await (const k of await this.kv.keys(`${hash}.*`)) keys.push(k);
    const located: Located[] = [];
    for (let i = 0; i < keys.length; i += 64) {
      const batch = await Promise.all(keys.slice(i, i + 64).map((k) => this.locate(k.slice(hash.length + 1), owner).catch(() => undefined)));
      for (const at of batch) if (at) located.push(at);
    }
    located.sort((a, b) => b.rec.createdAt - a.rec.createdAt);
    const offset = Math.max(0, page.offset ?? 0);
    const limit = Math.max(1, page.limit ?? 100);
    const slice = located.slice(offset, offset + limit);
    const tasks = await Promise.all(slice.map((at) => this.refresh(at).catch(() => viewOf(at.rec))));
    return { tasks, next: offset + limit < located.length ? offset + limit : undefined };
  }

  /**
   * Status changes of `owner`'s tasks written by any process (a KV watch on the owner's
   * keys): created, completed, failed, cancelled. Chunks are not records: poll
   * getTask for progress. Returns a function that stops the watch.
   */
  async watchTasks(owner: string, onChange: (view: TaskView) => void): Promise<() => void> {
    const iter = await this.kv.watch({ key: `${ownerHash(owner)}.*`, include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT") continue;
        const parsed = TaskRecordWire.safeParse(e.json());
        if (parsed.success) onChange(viewOf(parsed.data));
      }
    })().catch(() => {});
    return () => iter.stop();
  }

  /** Stops following tasks (they go on: any process can pick them up). */
  close(): void {
    for (const id of [...this.live.keys()]) this.unfollow(id);
    this.listeners.clear();
  }
}
