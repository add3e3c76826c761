/**
 * Calling mesh tools: request/reply and streams, with cancellation through
 * `cancel.<call_id>`.
 *
 * All replies arrive on one wildcard inbox subscription (`_INBOX.<id>.*`), one
 * token per call. Unlike `nc.request`, this lets an aborted call forget its token at
 * once (nothing keeps waiting for a timer), and lets a stream take many frames on
 * the same mechanism.
 */
import { createInbox, headers as natsHeaders, nuid, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  MalformedReplyError,
  MeshCancelledError,
  MeshTimeoutError,
  NoRespondersError,
  NotConnectedError,
  StreamInactivityError,
} from "./errors.js";
import { callSubject, cancelSubject, nodeCallSubject, nodeStreamSubject, streamSubject } from "./subjects.js";
import {
  CallResultWire,
  StreamFrameWire,
  type CallRequest,
  type CallResult,
  type JsonObject,
  type StreamFrame,
} from "./types.js";

export interface CallOptions {
  /** Send to this node only (`node.<node>.tools.…`) instead of load-balancing. */
  node?: string;
  /** Give up (and publish the cancel) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Abort → publish `cancel.<call_id>` and reject at once with MeshCancelledError. */
  signal?: AbortSignal;
  /** Use this call id instead of a fresh NUID. */
  callId?: string;
  /**
   * Other reasons to end the call, watched while it runs (the serving node's liveness,
   * a NATS outage): the hook calls `fail` to end it; it returns the function that stops watching.
   */
  watch?: CallWatch;
  /** NATS headers for the request (e.g. W3C `traceparent`/`tracestate`, so one trace spans caller and node). */
  headers?: Record<string, string>;
  /** The request's `corr` (default: copied from params like the Go caller). The node logs it with the call. */
  corr?: string;
}

/** See CallOptions.watch. `stream` is set for streams only. */
export type CallWatch = (ctl: { fail(err: Error): void; callId?: string; stream?: MeshStream }) => () => void;

export interface StreamOptions {
  node?: string;
  signal?: AbortSignal;
  /** End with StreamInactivityError when no frame arrives for this long. Default 60 s. */
  inactivityTimeoutMs?: number;
  callId?: string;
  watch?: CallWatch;
  /** NATS headers for the request (see CallOptions.headers). */
  headers?: Record<string, string>;
  /** See CallOptions.corr. */
  corr?: string;
}

/** Request headers as NATS wants them; undefined when there are none (no header block on the wire). */
function requestHeaders(h: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const entries = Object.entries(h);
  if (entries.length === 0) return undefined;
  const out = natsHeaders();
  for (const [k, v] of entries) out.set(k, v);
  return out;
}

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
export const DEFAULT_STREAM_INACTIVITY_MS = 60_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Copies `corr` from params like the Go caller (corr, correlation_id, trace_id). */
export function extractCorr(params: JsonObject): string | undefined {
  for (const key of ["corr", "correlation_id", "trace_id"]) {
    const v = params[key];
    if (typeof v === "string" && v.trim() !== "") return v.trim();
  }
  return undefined;
}

export function buildCallRequest(params: JsonObject, callId: string, node?: string, corrId?: string): CallRequest {
  const req: CallRequest = { params };
  if (node) req.node = node;
  const corr = corrId ?? extractCorr(params);
  if (corr) req.corr = corr;
  req.call_id = callId;
  return req;
}

/**
 * Parses a JSON reply with a zod schema; any failure is a MalformedReplyError naming the
 * subject. `quick`, when given, takes the everyday shapes by hand (it must return only
 * what the schema would) and leaves anything else, errors included, to the schema.
 */
export function parseReply<T extends z.ZodType>(subject: string, data: Uint8Array, schema: T, quick?: (json: unknown) => z.output<T> | undefined): z.output<T> {
  const text = decoder.decode(data);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MalformedReplyError(subject, "not valid JSON", text, { cause: err });
  }
  const taken = quick?.(json);
  if (taken !== undefined) return taken;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "reply";
    throw new MalformedReplyError(subject, `${where}: ${issue?.message ?? "unexpected shape"}`, text, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/**
 * CallResultWire by hand for a well-formed reply (a few µs a call less than zod): the
 * schema's own output, `node` defaulting to "", the object as it came otherwise.
 */
export function quickCallResult(json: unknown): CallResult | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const r = json as Record<string, unknown>;
  if (typeof r.ok !== "boolean" || (r.error !== undefined && typeof r.error !== "string")) return undefined;
  if (r.node === undefined) return { ...r, node: "" } as CallResult;
  return typeof r.node === "string" ? (r as CallResult) : undefined;
}

/** True for the server's "503 no responders" status message. */
function isNoResponders(msg: Msg): boolean {
  return msg.headers?.code === 503 || (msg.data.length === 0 && msg.headers?.hasError === true);
}

/** A service-framework error reply (`Nats-Service-Error` header), e.g. from a NATS micro handler that threw. */
function serviceError(msg: Msg): string | undefined {
  const text = msg.headers?.get("Nats-Service-Error");
  return text ? text : undefined;
}

function lostError(subject: string, sinceMs: number): NotConnectedError {
  return new NotConnectedError(
    `the connection dropped ${sinceMs} ms after the request on ${subject} was sent, so it may never have ` +
      `reached a node; a cancel goes out on reconnect. Retry the call once NATS is back.`,
  );
}

type ReplyHandler = (msg: Msg) => void;

interface Pending {
  handler: ReplyHandler;
  openedAt: number;
  /** Called when the connection drops soon after the request went out (see `dropRecent`). */
  onLost?: (sinceMs: number) => void;
}

/**
 * How recent a request must be, when the connection drops, to count as possibly
 * lost: it was likely written to a socket the server had already closed.
 */
export const LOST_REQUEST_WINDOW_MS = 2000;

/** One wildcard inbox subscription for every call and stream of a connection. */
export class ReplyRouter {
  private readonly prefix: string;
  private readonly handlers = new Map<string, Pending>();
  private seq = 0;
  private readonly sub: Subscription;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = createInbox();
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        const token = msg.subject.slice(this.prefix.length + 1);
        this.handlers.get(token)?.handler(msg);
      },
    });
  }

  /** Registers a handler and returns the reply subject plus a function that forgets it. */
  open(handler: ReplyHandler, onLost?: (sinceMs: number) => void): { inbox: string; close: () => void } {
    // The prefix is a random inbox of this connection: a counter is unique enough after it.
    const token = (++this.seq).toString(36);
    this.handlers.set(token, { handler, openedAt: Date.now(), onLost });
    return { inbox: `${this.prefix}.${token}`, close: () => this.handlers.delete(token) };
  }

  /**
   * The connection dropped: requests sent within the last `windowMs` may never have
   * reached the server, and their replies would never come (a call would wait for
   * its whole timeout). Those are failed now; older ones were delivered and keep
   * waiting here, but a reply sent during the outage is lost: Mesh's outage watch
   * (mesh.ts watchCall/watchStream) ends them at the reconnect.
   */
  dropRecent(windowMs: number): void {
    const now = Date.now();
    for (const p of [...this.handlers.values()]) {
      if (p.onLost && now - p.openedAt <= windowMs) p.onLost(now - p.openedAt);
    }
  }

  close(): void {
    this.handlers.clear();
    this.sub.unsubscribe();
  }
}

/**
 * The deadlines of all calls on one timer. A timer per call cost ~6 µs to set and ~3 µs
 * to clear on the path of every call (measured on stdio, BENCHMARKS.md §10), where most
 * calls end long before their deadline. The timer is re-armed only for a deadline
 * earlier than the one it waits for, fires at the earliest deadline as a call's own
 * timer would, and is unref'd: a pending call's NATS connection keeps the process up.
 */
export class Deadlines {
  private readonly due = new Set<{ at: number; fire: () => void }>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;

  /** Calls `fire` after `ms` unless the returned function is called first. */
  add(ms: number, fire: () => void): () => void {
    const entry = { at: performance.now() + ms, fire };
    this.due.add(entry);
    if (entry.at < this.timerAt) this.arm(entry.at);
    return () => this.due.delete(entry);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    // setTimeout takes at most 2^31-1 ms; a later deadline is looked at again then.
    this.timer = setTimeout(() => this.expire(), Math.min(Math.max(0, at - performance.now()), 2 ** 31 - 1));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const fired: Array<() => void> = [];
    for (const e of this.due) {
      if (e.at <= now) {
        this.due.delete(e);
        fired.push(e.fire);
      } else if (e.at < next) next = e.at;
    }
    if (next < Infinity) this.arm(next);
    for (const f of fired) f();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.due.clear();
  }
}

/** The caller side: `call`, `stream` and `cancel` over one connection. */
export class Caller {
  private readonly replies: ReplyRouter;
  private readonly deadlines = new Deadlines();

  constructor(private readonly nc: NatsConnection, private readonly isConnected: () => boolean) {
    this.replies = new ReplyRouter(nc);
  }

  private ensureConnected(): void {
    if (this.nc.isClosed()) throw new NotConnectedError("the connection is closed");
    if (!this.isConnected()) {
      throw new NotConnectedError("the connection dropped and is reconnecting; retry in a moment");
    }
  }

  /** The connection dropped: fail the calls that may have been lost with it. */
  connectionLost(windowMs = LOST_REQUEST_WINDOW_MS): void {
    this.replies.dropRecent(windowMs);
  }

  private repeats = new Set<NodeJS.Timeout>();

  /**
   * The cancel again after `delaysMs`: after an outage the node may reconnect (and
   * re-subscribe to `cancel.<call_id>`) after us, and miss the first one. Harmless to a
   * node that has finished: nobody listens any more.
   */
  cancelAgain(callId: string, delaysMs: readonly number[] = CANCEL_REPEATS_MS): void {
    for (const ms of delaysMs) {
      const t = setTimeout(() => {
        this.repeats.delete(t);
        this.cancel(callId);
      }, ms);
      t.unref();
      this.repeats.add(t);
    }
  }

  /** Publishes the empty cancel message for `callId` (best effort, never throws). */
  cancel(callId: string): void {
    try {
      if (!this.nc.isClosed()) this.nc.publish(cancelSubject(callId), new Uint8Array(0));
    } catch {
      /* best effort, like the Go caller */
    }
  }

  /**
   * Request/reply call of `tool.method`. Resolves with the node's CallResult (ok or
   * not); rejects with NoRespondersError, MeshTimeoutError, MeshCancelledError,
   * MalformedReplyError or NotConnectedError.
   */
  call(tool: string, method: string, params: JsonObject, opts: CallOptions = {}): Promise<CallResult> {
    const subject = opts.node ? nodeCallSubject(opts.node, tool, method) : callSubject(tool, method);
    const callId = opts.callId ?? nuid.next();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    return new Promise<CallResult>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new MeshCancelledError(subject, callId, { cause: opts.signal.reason }));
      this.ensureConnected();
      let forgetDeadline: (() => void) | undefined;
      let unwatch: (() => void) | undefined;
      let settled = false;
      // Every way out goes through here exactly once: forget the inbox, stop timers and watches.
      const end = (outcome: () => void, cancel: boolean) => {
        if (settled) return;
        settled = true;
        reply.close();
        forgetDeadline?.();
        unwatch?.();
        opts.signal?.removeEventListener("abort", onAbort);
        if (cancel) this.cancel(callId);
        outcome();
      };
      const onAbort = () => end(() => reject(new MeshCancelledError(subject, callId, { cause: opts.signal?.reason })), true);
      const reply = this.replies.open(
        (msg) => {
          end(() => {
            if (isNoResponders(msg)) return reject(new NoRespondersError(subject));
            const svcErr = serviceError(msg);
            if (svcErr) return resolve({ ok: false, error: svcErr, node: opts.node ?? "" });
            try {
              resolve(parseReply(subject, msg.data, CallResultWire, quickCallResult));
            } catch (err) {
              reject(err);
            }
          }, false);
        },
        // Buffered by the client, the cancel goes out on reconnect: no duplicate job if the caller retries.
        (sinceMs) => end(() => reject(lostError(subject, sinceMs)), true),
      );
      forgetDeadline = this.deadlines.add(timeoutMs, () => end(() => reject(new MeshTimeoutError(subject, timeoutMs)), true));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      unwatch = opts.watch?.({ fail: (err) => end(() => reject(err), true), callId });
      if (settled) unwatch?.();
      try {
        const body = encoder.encode(JSON.stringify(buildCallRequest(params, callId, opts.node, opts.corr)));
        this.nc.publish(subject, body, { reply: reply.inbox, headers: requestHeaders(opts.headers) });
      } catch (err) {
        end(() => reject(new NotConnectedError(`publish on ${subject} failed`, { cause: err })), false);
      }
    });
  }

  /**
   * Streaming call on the `.stream` subject: yields frames in order and ends after
   * the terminal frame (`done: true`). When several nodes answer, only the first
   * node's frames are kept. Breaking out of the loop early publishes the cancel.
   */
  stream(tool: string, method: string, params: JsonObject, opts: StreamOptions = {}): MeshStream {
    return new MeshStream(this, this.replies, this.nc, tool, method, params, opts);
  }

  /** Checks the connection before a stream starts. */
  assertConnected(): void {
    this.ensureConnected();
  }

  close(): void {
    for (const t of this.repeats) clearTimeout(t);
    this.repeats.clear();
    this.deadlines.close();
    this.replies.close();
  }
}

/** When a cancel is sent again after an outage (see Caller.cancelAgain). */
export const CANCEL_REPEATS_MS = [1000, 3000, 8000];

/** An async iterable of a streaming call's frames. `callId` is known before the first frame. */
export class MeshStream implements AsyncIterable<StreamFrame> {
  readonly callId: string;
  readonly subject: string;
  /** The node that sent the first frame (or the targeted node). */
  node?: string;
  private started = false;
  private push?: (item: StreamFrame | Error) => void;
  private expectation?: { timer: NodeJS.Timeout; onArrive: () => void };

  constructor(
    private readonly caller: Caller,
    private readonly replies: ReplyRouter,
    private readonly nc: NatsConnection,
    tool: string,
    method: string,
    private readonly params: JsonObject,
    private readonly opts: StreamOptions,
  ) {
    this.callId = opts.callId ?? nuid.next();
    this.subject = opts.node ? nodeStreamSubject(opts.node, tool, method) : streamSubject(tool, method);
    this.node = opts.node;
  }

  /** Ends the stream with `err` (a cancel is published), unless it has ended already. */
  fail(err: Error): void {
    this.push?.(err);
  }

  /**
   * A frame should arrive within `withinMs` (after a NATS outage: a live stream keeps
   * talking). `onArrive` runs when one does; otherwise the stream fails with `onMissing()`.
   */
  expectFrame(withinMs: number, onMissing: () => Error, onArrive: () => void): void {
    clearTimeout(this.expectation?.timer);
    const timer = setTimeout(() => {
      this.expectation = undefined;
      this.fail(onMissing());
    }, withinMs);
    this.expectation = { timer, onArrive };
  }

  private frameArrived(): void {
    const e = this.expectation;
    if (!e) return;
    clearTimeout(e.timer);
    this.expectation = undefined;
    e.onArrive();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamFrame> {
    if (this.started) throw new Error("a MeshStream can be iterated only once");
    this.started = true;
    const { subject, callId, opts } = this;
    if (opts.signal?.aborted) throw new MeshCancelledError(subject, callId, { cause: opts.signal.reason });
    this.caller.assertConnected();

    const idleMs = opts.inactivityTimeoutMs ?? DEFAULT_STREAM_INACTIVITY_MS;
    const queue: Array<StreamFrame | Error> = [];
    let wake: (() => void) | undefined;
    let firstNode: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    const push = (item: StreamFrame | Error) => {
      if (closed) return;
      queue.push(item);
      wake?.();
    };
    this.push = push;
    const armIdle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => push(new StreamInactivityError(subject, idleMs)), idleMs);
    };
    // Abort wins over frames already queued: the consumer asked to stop, not to drain.
    const onAbort = () => {
      queue.length = 0;
      // Publish now, not when the consumer resumes: a shutdown drains the connection right after aborting.
      this.caller.cancel(callId);
      push(new MeshCancelledError(subject, callId, { cause: opts.signal?.reason }));
    };

    const reply = this.replies.open((msg) => {
      if (isNoResponders(msg)) return push(new NoRespondersError(subject));
      let frame: StreamFrame;
      try {
        frame = parseReply(subject, msg.data, StreamFrameWire);
      } catch (err) {
        return push(err as Error);
      }
      // A stream sent to every node (the load-balanced subject) may be answered by several: keep the first.
      const node = frame.node ?? "";
      if (firstNode === undefined) {
        firstNode = node;
        this.node ??= node || undefined;
      } else if (node !== firstNode) return;
      armIdle();
      this.frameArrived();
      push(frame);
    }, (sinceMs) => {
      // Frames prove the node got the request; only a stream that heard nothing may be lost.
      if (firstNode === undefined) push(lostError(subject, sinceMs));
    });
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    let unwatch: (() => void) | undefined;
    let finished = false;
    try {
      armIdle();
      unwatch = opts.watch?.({ fail: (err) => push(err), callId, stream: this });
      const body = encoder.encode(JSON.stringify(buildCallRequest(this.params, callId, opts.node, opts.corr)));
      this.nc.publish(subject, body, { reply: reply.inbox, headers: requestHeaders(opts.headers) });
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const item = queue.shift()!;
        if (item instanceof Error) {
          // No responders / malformed: nothing runs (or nothing sane does); others: tell the node to stop.
          // (An abort has published its cancel already, in onAbort.)
          if (!(item instanceof NoRespondersError) && !(item instanceof MeshCancelledError)) this.caller.cancel(callId);
          finished = true;
          throw item;
        }
        // `error` ends a stream whatever `done` says (a Python tool that raised sends no `done`).
        const last = item.done || item.error !== undefined;
        if (last) finished = true;
        yield item;
        if (last) return;
      }
    } finally {
      closed = true;
      this.push = undefined;
      clearTimeout(this.expectation?.timer);
      this.expectation = undefined;
      reply.close();
      clearTimeout(timer);
      unwatch?.();
      opts.signal?.removeEventListener("abort", onAbort);
      // The consumer stopped early (break/return): the node should stop too.
      if (!finished) this.caller.cancel(callId);
    }
  }
}
