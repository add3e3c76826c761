/**
 * Webhook subscriptions as mesh state: each is a record in the KV bucket
 * `mesh-mcp-event-hooks` (so it survives a restart and every process sees it) and a
 * durable pull consumer `hook-<id>` on the events stream, filtered to its event type.
 * Every mesh-mcp process runs a dispatcher that pulls from the consumers of live
 * subscriptions: JetStream hands each stored occurrence to one puller, and with one
 * message in flight per subscription (max_ack_pending 1) delivery is in order and the
 * cursor in a payload is a safe watermark (everything before it was acknowledged or
 * abandoned). A 2xx acks; anything else is retried with exponential backoff (nak with
 * delay) up to MAX_ATTEMPTS, then abandoned; after FAILURES_TO_SUSPEND abandoned
 * occurrences in a row the subscription is suspended until the client refreshes it.
 * Expired subscriptions are removed by whichever process notices first.
 */
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { z } from "zod";
import type { JsonObject } from "../types.js";
import type { MeshEvents } from "./events.js";
import type { EventArgs, EventTarget } from "./types.js";
import { postSigned, type CallbackFailure, type WebhookPolicy } from "./webhook-http.js";

export const HOOKS_BUCKET = "mesh-mcp-event-hooks";
export const MAX_ATTEMPTS = 8;
export const FAILURES_TO_SUSPEND = 3;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;
const ACK_WAIT_MS = 30_000;

export const HookRecordWire = z.object({
  v: z.literal(1),
  id: z.string(),
  /** The subscriber as the visibility hook sees it (no secrets). */
  principal: z.record(z.string(), z.unknown()),
  principalId: z.string(),
  ownerHash: z.string(),
  name: z.string(),
  args: z.record(z.string(), z.unknown()),
  url: z.string(),
  /** The client's signing secret (kept to sign after a restart; never returned or logged). */
  secret: z.string(),
  createdAt: z.number(),
  /** null: no expiry. */
  expiresAt: z.number().nullable(),
  active: z.boolean(),
  lastDeliveryAt: z.number().optional(),
  lastError: z.string().optional(),
  failedSince: z.number().optional(),
  failures: z.number().default(0),
});
export type HookRecord = z.infer<typeof HookRecordWire>;

/** The id of (principal, url, name, arguments): canonical JSON, hashed. */
export function hookId(principalId: string, url: string, name: string, args: JsonObject): string {
  const canon = (v: unknown): unknown =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]))
      : Array.isArray(v) ? v.map(canon) : v;
  return `sub_${createHash("sha256").update(JSON.stringify([principalId, url, name, canon(args)])).digest("hex").slice(0, 24)}`;
}

const consumerName = (id: string) => `hook-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;

export interface DispatchHooks {
  /** May this subscriber receive an occurrence about `target`? */
  visible?: (principal: Record<string, unknown>, target: EventTarget) => boolean;
  policy: WebhookPolicy;
  concurrency: number;
  log?: (message: string) => void;
  /** Counters: delivered, failed, in flight. */
  onDelivered?: () => void;
  onFailed?: () => void;
  onInFlight?: (delta: number) => void;
}

export class WebhookStore {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    readonly events: MeshEvents,
  ) {}

  static async open(nc: NatsConnection, events: MeshEvents, bucket = HOOKS_BUCKET): Promise<WebhookStore> {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const kvm = new Kvm(nc);
    let kv: KV;
    try {
      kv = await kvm.open(bucket);
      await kv.status();
    } catch {
      kv = await kvm.create(bucket, { history: 1, description: "mesh-mcp webhook subscriptions (MCP events)" });
    }
    return new WebhookStore(nc, jsm, kv, events);
  }

  async get(id: string): Promise<HookRecord | undefined> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") return undefined;
    const r = HookRecordWire.safeParse(e.json());
    return r.success ? r.data : undefined;
  }

  async list(): Promise<HookRecord[]> {
    const out: HookRecord[] = [];
    for await (const k of await this.kv.keys()) {
      const r = await this.get(k);
      if (r) out.push(r);
    }
    return out;
  }

  async countFor(principalId: string, now = Date.now()): Promise<number> {
    return (await this.list()).filter((r) => r.principalId === principalId && (r.expiresAt === null || r.expiresAt > now)).length;
  }

  async put(rec: HookRecord): Promise<void> {
    await this.kv.put(rec.id, JSON.stringify(rec));
  }

  /** Updates a record in place (the latest one wins; status fields only). */
  async patch(id: string, change: (r: HookRecord) => Partial<HookRecord>): Promise<void> {
    // Compare-and-set: a refresh written meanwhile (new secret, TTL) is never overwritten.
    for (let i = 0; i < 5; i++) {
      const e = await this.kv.get(id);
      if (!e || e.operation !== "PUT") return;
      const r = HookRecordWire.safeParse(e.json());
      if (!r.success) return;
      try {
        await this.kv.update(id, JSON.stringify({ ...r.data, ...change(r.data) }), e.revision);
        return;
      } catch {
        /* changed meanwhile: read again */
      }
    }
  }

  /** Whether the subscription's consumer exists (a live subscription). */
  async consumerExists(id: string): Promise<boolean> {
    return this.jsm.consumers.info(this.events.log.stream, consumerName(id)).then(() => true, () => false);
  }

  /** Creates the subscription's consumer at `start` (no-op when it exists). */
  async ensureConsumer(rec: HookRecord, start: number): Promise<void> {
    if (await this.consumerExists(rec.id)) return;
    const { type, args } = this.events.resolve(rec.name, rec.args);
    await this.jsm.consumers.add(this.events.log.stream, {
      durable_name: consumerName(rec.id),
      filter_subject: type.filter(args, rec.ownerHash),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, start),
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_ack_pending: 1,
      max_deliver: MAX_ATTEMPTS,
    });
  }

  /** The safe-to-persist cursor: everything at or before it was acknowledged or abandoned. */
  async watermark(id: string, fallback: number): Promise<number> {
    const info = await this.jsm.consumers.info(this.events.log.stream, consumerName(id)).catch(() => undefined);
    if (!info) return fallback;
    const floor = info.ack_floor.stream_seq;
    // Nothing pending and nothing in flight: the consumer has seen everything up to its delivered position.
    return info.num_pending === 0 && info.num_ack_pending === 0 ? Math.max(floor, info.delivered.stream_seq, fallback) : Math.max(floor, fallback);
  }

  async remove(id: string): Promise<boolean> {
    const had = (await this.get(id)) !== undefined;
    await this.jsm.consumers.delete(this.events.log.stream, consumerName(id)).catch(() => false);
    await this.kv.delete(id).catch(() => {});
    return had;
  }

  /**
   * Delivers for every live subscription until the signal aborts. Each process runs one;
   * JetStream hands each occurrence to one of them.
   */
  dispatch(hooks: DispatchHooks, signal: AbortSignal): void {
    const workers = new Map<string, AbortController>();
    let slots = hooks.concurrency;
    const waiting: Array<() => void> = [];
    const acquire = async () => {
      if (slots > 0) {
        slots--;
        return;
      }
      await new Promise<void>((r) => waiting.push(r));
    };
    const release = () => {
      const next = waiting.shift();
      if (next) next();
      else slots++;
    };
    const startWorker = (id: string) => {
      if (workers.has(id) || signal.aborted) return;
      const stop = new AbortController();
      workers.set(id, stop);
      const both = AbortSignal.any([signal, stop.signal]);
      void this.work(id, hooks, both, acquire, release).finally(() => {
        if (workers.get(id) === stop) workers.delete(id);
      });
    };
    void (async () => {
      while (!signal.aborted) {
        try {
          const w = await this.kv.watch();
          signal.addEventListener("abort", () => w.stop(), { once: true });
          for await (const e of w) {
            if (e.operation === "PUT") startWorker(e.key);
            else {
              workers.get(e.key)?.abort();
              workers.delete(e.key);
            }
          }
        } catch (err) {
          if (signal.aborted || this.nc.isClosed() || this.nc.isDraining()) return;
          hooks.log?.(`webhooks: watch failed (${(err as Error).message}); retrying`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
  }

  private async work(id: string, hooks: DispatchHooks, signal: AbortSignal, acquire: () => Promise<void>, release: () => void): Promise<void> {
    const js = jetstream(this.nc);
    while (!signal.aborted) {
      const rec = await this.get(id).catch(() => undefined);
      if (!rec) return;
      if (rec.expiresAt !== null && rec.expiresAt <= Date.now()) {
        await this.remove(id).catch(() => {});
        hooks.log?.(`webhooks: subscription ${id} expired (not refreshed)`);
        return;
      }
      if (!rec.active) {
        await sleep(1000, signal);
        continue;
      }
      let m: JsMsg | null;
      try {
        const c = await js.consumers.get(this.events.log.stream, consumerName(id));
        m = await c.next({ expires: 2000 });
      } catch (err) {
        if (signal.aborted || this.nc.isClosed() || this.nc.isDraining()) return;
        // The consumer is gone (unsubscribed or expired elsewhere): the KV watch tells us.
        await sleep(1000, signal);
        continue;
      }
      if (!m || signal.aborted) {
        if (m) m.nak();
        continue;
      }
      await this.deliver(rec, m, hooks, acquire, release);
    }
  }

  private async deliver(rec: HookRecord, m: JsMsg, hooks: DispatchHooks, acquire: () => Promise<void>, release: () => void): Promise<void> {
    let o;
    try {
      const { type, args } = this.events.resolve(rec.name, rec.args);
      const principal = rec.principal;
      o = this.events.occurrence(type, args as EventArgs, {
        owner: "",
        ownerHash: rec.ownerHash,
        visible: hooks.visible ? (t) => hooks.visible!(principal, t) : undefined,
      }, { seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1_000_000)), data: m.data });
    } catch {
      o = undefined;
    }
    if (!o) {
      m.ack();
      return;
    }
    const body = JSON.stringify(o);
    await acquire();
    hooks.onInFlight?.(1);
    let r;
    try {
      r = await postSigned(rec.url, hooks.policy, rec.secret, o.eventId, body, { "x-mcp-subscription-id": rec.id });
    } finally {
      hooks.onInFlight?.(-1);
      release();
    }
    if (r.ok) {
      m.ack();
      hooks.onDelivered?.();
      await this.patch(rec.id, () => ({ lastDeliveryAt: Date.now(), lastError: undefined, failedSince: undefined, failures: 0 })).catch(() => {});
      return;
    }
    hooks.onFailed?.();
    const attempt = m.info.deliveryCount;
    const failure: CallbackFailure = r.failure ?? "connection_refused";
    if (attempt >= MAX_ATTEMPTS) {
      m.term(`webhook ${failure} after ${attempt} attempts`);
      await this.patch(rec.id, (x) => {
        const failures = x.failures + 1;
        return { lastError: failure, failedSince: x.failedSince ?? Date.now(), failures, active: failures < FAILURES_TO_SUSPEND };
      }).catch(() => {});
      return;
    }
    m.nak(Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
    await this.patch(rec.id, (x) => ({ lastError: failure, failedSince: x.failedSince ?? Date.now() })).catch(() => {});
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
