/**
 * The MCP Events extension (`io.modelcontextprotocol/events`, SEP-3415) over the mesh's
 * event log (mesh/events): `events/list`, `events/poll`, `events/stream` (a long-lived
 * request: `notifications/events/active`, then `.../event` as they are stored, and
 * `.../heartbeat` with the cursor), and webhooks (`events/subscribe`/`unsubscribe`,
 * events-webhooks.ts). The cursor is a JetStream sequence, so any replica answers a
 * poll and resumes a stream. Served on 2026-07-28 only; 2025 clients never see it.
 *
 * Every occurrence a caller receives passes the visibility hook (the identity policy
 * wires it); task events go to the task's owner only.
 */
import { ProtocolError, ProtocolErrorCode, SUBSCRIPTION_ID_META_KEY, type Server } from "@modelcontextprotocol/server";
import { z } from "zod";
import { createHash } from "node:crypto";
// Types only: the mesh library loads with the first connection (see bridge.ts).
import type { EventOccurrence, EventTarget, MeshEvents } from "../mesh/index.js";
import type { Bridge } from "./bridge.js";
import { ANONYMOUS, PRINCIPAL_AUTH_KEY, type Principal } from "./principal.js";
import { registerWebhookMethods } from "./events-webhooks.js";
import { eventVisibility } from "./authorize.js";

export const EVENTS_EXTENSION = "io.modelcontextprotocol/events";
export const EVENTS_EXTENSION_CAPABILITY = { extensions: { [EVENTS_EXTENSION]: {} } } as const;

/** What an occurrence is about, as the visibility hook sees it. */
export type EventSubject = Pick<EventTarget, "node" | "tool" | "method" | "fileKey">;
/** May `principal` receive an occurrence about `subject`? (the identity policy; default: yes) */
export type EventVisibility = (principal: Principal, subject: EventSubject) => boolean;

export interface EventsOptions {
  disabled?: boolean;
  /** Heartbeat period on an events/stream (default 15 s; the spec asks for at most 30 s). */
  heartbeatMs?: number;
  /** Suggested poll interval (default 2 s). */
  pollMs?: number;
  /** Open events/stream requests per principal in this process (default 16). */
  maxStreamsPerPrincipal?: number;
  /** Webhook subscriptions per principal (default 32). */
  maxSubscriptionsPerPrincipal?: number;
  /** Concurrent webhook deliveries of this process (default 8). */
  webhookConcurrency?: number;
  /** Allow http:// callback URLs (default: https only). */
  webhookAllowHttp?: boolean;
  /** Allow callback URLs on private, loopback and link-local addresses (default: no). */
  webhookAllowPrivate?: boolean;
  /** Longest webhook TTL granted (default 24 h); a client asking for longer or for none gets this. */
  webhookMaxTtlMs?: number;
  visible?: EventVisibility;
}

/** Error codes of the extension. */
export const EVENT_ERRORS = { NotFound: -32011, Forbidden: -32012, ResourceExhausted: -32013, Unsupported: -32014, CallbackEndpointError: -32015 } as const;

/** Counters the metrics page reads (per bridge). */
export class EventStats {
  streamsOpen = 0;
  delivered = { poll: 0, push: 0, webhook: 0 };
  webhookFailures = 0;
  webhookDeliveriesInFlight = 0;
  refused = 0;
}
const stats = new WeakMap<Bridge, EventStats>();
export function eventStats(bridge: Bridge): EventStats {
  let s = stats.get(bridge);
  if (!s) stats.set(bridge, (s = new EventStats()));
  return s;
}

/** What the events stream keeps now (metrics), when this process has opened it. */
export async function eventStreamState(bridge: Bridge): Promise<{ messages: number; bytes: number } | undefined> {
  if (!bridge.mesh || bridge.opts.events?.disabled) return undefined;
  try {
    const s = await (await bridge.mesh.events()).log.state();
    return { messages: s.messages, bytes: s.bytes };
  } catch {
    return undefined;
  }
}

/** Who is asking, and the owner string their tasks are filed under. */
export interface EventCaller {
  principal: Principal;
  owner: string;
}

type Ctx = { mcpReq: { id: unknown; signal: AbortSignal; notify(n: { method: string; params?: Record<string, unknown> }): Promise<void> }; http?: { authInfo?: { extra?: Record<string, unknown> } } };

/**
 * The caller of a 2026 request: the edge's principal when it sent one; else a principal
 * named after the task owner (a hash of it: the owner string may hold a bearer token).
 */
export function eventCaller(ctx: Ctx, owner: string): EventCaller {
  const p = ctx.http?.authInfo?.extra?.[PRINCIPAL_AUTH_KEY] as Principal | undefined;
  if (p && typeof p === "object" && typeof p.id === "string") return { principal: p, owner };
  if (owner === "anonymous") return { principal: ANONYMOUS, owner };
  const id = `owner:${createHash("sha256").update(`mesh-mcp events\n${owner}`).digest("hex").slice(0, 16)}`;
  return { principal: Object.freeze({ id, name: id, source: "token", roles: [], scopes: [], groups: [], claims: {} }), owner };
}

const STARTUP_WAIT_MS = 3000;

export async function eventsOf(bridge: Bridge): Promise<MeshEvents> {
  if (!bridge.mesh) await bridge.ready(STARTUP_WAIT_MS);
  if (!bridge.mesh) throw new ProtocolError(ProtocolErrorCode.InternalError, bridge.unavailableReason() ?? "the mesh is not connected yet; retry in a moment");
  try {
    return await bridge.mesh.events();
  } catch (err) {
    throw new ProtocolError(ProtocolErrorCode.InternalError, (err as Error).message);
  }
}

/** A mesh-side refusal as the extension's error. */
export function eventError(err: unknown): never {
  const kind = (err as { name?: unknown; kind?: unknown } | undefined)?.name === "EventRequestError" ? (err as { kind: string }).kind : undefined;
  if (kind !== undefined) {
    throw kind === "not-found"
      ? new ProtocolError(EVENT_ERRORS.NotFound as never, (err as Error).message, { kind: "event" })
      : new ProtocolError(ProtocolErrorCode.InvalidParams, (err as Error).message);
  }
  if (err instanceof ProtocolError) throw err;
  throw new ProtocolError(ProtocolErrorCode.InternalError, err instanceof Error ? err.message : String(err));
}

/** The operator's hook (embedding), else the config file's policy, else none: everything is heard. */
export function visibilityOf(bridge: Bridge): EventVisibility | undefined {
  return bridge.opts.events?.visible ?? eventVisibility(bridge);
}

export function readerOf(bridge: Bridge, caller: EventCaller) {
  const visible = visibilityOf(bridge);
  return { owner: caller.owner, visible: visible ? (t: EventTarget) => visible(caller.principal, { node: t.node, tool: t.tool, method: t.method, fileKey: t.fileKey }) : undefined };
}

const Subscription = {
  name: z.string().min(1).max(256),
  arguments: z.record(z.string(), z.unknown()).optional(),
  cursor: z.string().max(256).nullable().optional(),
  maxAgeMs: z.number().int().min(0).optional(),
};
const ListParams = z.looseObject({ cursor: z.string().optional() });
const PollParams = z.looseObject({ ...Subscription, maxEvents: z.number().int().min(1).optional(), timeoutMs: z.number().int().min(0).optional() });
/** Longest a long poll is held open (a client asking for more gets an empty answer after this). */
export const MAX_POLL_WAIT_MS = 30_000;
const StreamParams = z.looseObject(Subscription);

export function registerModernEvents(server: Server, bridge: Bridge, callerOf: (ctx: never) => EventCaller): void {
  const opts = bridge.opts.events ?? {};
  const counters = eventStats(bridge);
  const streamsByPrincipal = new Map<string, number>();

  server.setRequestHandler("events/list", { params: ListParams }, async (params) => {
    if (params.cursor !== undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `invalid cursor "${params.cursor}": events/list has one page; list again without a cursor`);
    const events = await eventsOf(bridge);
    return {
      events: events.types.map((t) => ({ name: t.name, description: t.description, delivery: ["poll", "push", "webhook"], inputSchema: t.inputSchema, payloadSchema: t.payloadSchema })),
    } as never;
  });

  server.setRequestHandler("events/poll", { params: PollParams }, async (params, ctx) => {
    const events = await eventsOf(bridge);
    const caller = callerOf(ctx as never);
    try {
      // A long poll when the client asks for one (timeoutMs); the default answers at once.
      const wait = { ms: Math.min(params.timeoutMs ?? 0, MAX_POLL_WAIT_MS), signal: AbortSignal.any([(ctx as unknown as Ctx).mcpReq.signal, bridge.shutdownSignal]) };
      const r = await events.poll({ name: params.name, arguments: params.arguments, cursor: params.cursor, maxAgeMs: params.maxAgeMs, maxEvents: params.maxEvents }, readerOf(bridge, caller), wait);
      counters.delivered.poll += r.events.length;
      return { events: r.events.map(({ cursor: _c, ...o }) => o), cursor: r.cursor, truncated: r.truncated, hasMore: r.hasMore, nextPollMs: opts.pollMs ?? 2000 } as never;
    } catch (err) {
      eventError(err);
    }
  });

  server.setRequestHandler("events/stream", { params: StreamParams }, async (params, ctx) => {
    const c = ctx as unknown as Ctx;
    const events = await eventsOf(bridge);
    const caller = callerOf(ctx as never);
    const max = opts.maxStreamsPerPrincipal ?? 16;
    const open = streamsByPrincipal.get(caller.principal.id) ?? 0;
    if (open >= max) {
      counters.refused++;
      throw new ProtocolError(EVENT_ERRORS.ResourceExhausted as never, `too many open event streams for this identity (${open}; --events-max-streams): close one or poll instead`, { limit: "streams", max });
    }
    const id = c.mcpReq.id;
    const stamp = (p: Record<string, unknown>) => ({ ...p, _meta: { [SUBSCRIPTION_ID_META_KEY]: id } });
    const send = (method: string, p: Record<string, unknown>) => void c.mcpReq.notify({ method, params: stamp(p) }).catch(() => {});
    const stop = new AbortController();
    const ended = new Promise<void>((resolve) => {
      const end = () => {
        stop.abort();
        resolve();
      };
      if (c.mcpReq.signal.aborted) end();
      else c.mcpReq.signal.addEventListener("abort", end, { once: true });
    });
    let handle: { position(): string };
    try {
      handle = await events.follow({ name: params.name, arguments: params.arguments, cursor: params.cursor, maxAgeMs: params.maxAgeMs }, readerOf(bridge, caller), stop.signal, {
        active: (cursor, truncated) => send("notifications/events/active", { cursor, truncated }),
        event: (o: EventOccurrence) => {
          counters.delivered.push++;
          send("notifications/events/event", { ...o });
        },
        error: (err) => send("notifications/events/error", { error: { code: ProtocolErrorCode.InternalError, message: "the event log is unreachable for now; the stream retries", data: { reason: err.message } } }),
      });
    } catch (err) {
      stop.abort();
      eventError(err);
    }
    streamsByPrincipal.set(caller.principal.id, open + 1);
    counters.streamsOpen++;
    const beat = setInterval(() => send("notifications/events/heartbeat", { cursor: handle.position() }), opts.heartbeatMs ?? 15_000);
    const closing = new Promise<void>((resolve) => {
      if (bridge.shutdownSignal.aborted) resolve();
      else bridge.shutdownSignal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      await Promise.race([ended, closing]);
    } finally {
      clearInterval(beat);
      stop.abort();
      counters.streamsOpen--;
      const left = (streamsByPrincipal.get(caller.principal.id) ?? 1) - 1;
      if (left > 0) streamsByPrincipal.set(caller.principal.id, left);
      else streamsByPrincipal.delete(caller.principal.id);
    }
    return { _meta: {} } as never;
  });

  registerWebhookMethods(server, bridge, callerOf);
}
