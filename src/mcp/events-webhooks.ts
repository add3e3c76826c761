/**
 * Webhook delivery of MCP events: `events/subscribe` (idempotent per (principal, url,
 * name, arguments): a refresh re-grants the TTL, replaces the secret, reactivates a
 * suspended delivery) and `events/unsubscribe`, over the mesh's WebhookStore (KV +
 * one durable consumer each, so any replica delivers and a restart loses nothing).
 * The callback must prove it wants deliveries (the spec's verification handshake,
 * cached per principal and URL) and pass the SSRF checks of webhook-http.ts.
 * Webhooks need an authenticated identity: anonymous callers get -32012.
 */
import { randomBytes } from "node:crypto";
import { ProtocolError, ProtocolErrorCode, type Server } from "@modelcontextprotocol/server";
import { z } from "zod";
// Types only at load: the mesh library loads with the first connection (see bridge.ts).
import type { HookRecord, JsonObject, WebhookPolicy } from "../mesh/index.js";

/** The mesh library's webhook helpers (already loaded once the bridge is connected). */
const meshLib = () => import("../mesh/index.js");
import type { Bridge } from "./bridge.js";
import { EVENT_ERRORS, eventError, eventsOf, eventStats, visibilityOf, type EventCaller } from "./events.js";

const DEFAULT_TTL_MS = 3_600_000;
const DEFAULT_MAX_TTL_MS = 24 * 3_600_000;
const MIN_TTL_MS = 1000;
const VERIFIED_FOR_MS = 3_600_000;

const SubscribeParams = z.looseObject({
  name: z.string().min(1).max(256),
  arguments: z.record(z.string(), z.unknown()).optional(),
  delivery: z.looseObject({ mode: z.string().optional(), url: z.string().min(1).max(2048), secret: z.string().max(256) }),
  cursor: z.string().max(256).nullable().optional(),
  maxAgeMs: z.number().int().min(0).optional(),
  ttlMs: z.number().int().min(0).nullable().optional(),
});
const UnsubscribeParams = z.looseObject({
  name: z.string().min(1).max(256),
  arguments: z.record(z.string(), z.unknown()).optional(),
  delivery: z.looseObject({ url: z.string().min(1).max(2048) }),
});

function policyOf(bridge: Bridge): WebhookPolicy {
  const o = bridge.opts.events ?? {};
  return { allowHttp: o.webhookAllowHttp, allowPrivate: o.webhookAllowPrivate };
}

function requireIdentity(caller: EventCaller, method: string): void {
  if (caller.principal.source === "anonymous") {
    throw new ProtocolError(EVENT_ERRORS.Forbidden as never, `${method} needs an authenticated identity (webhooks are keyed by who asked): connect with a bearer token (--auth-token) or use events/poll or events/stream`);
  }
}

const verified = new WeakMap<Bridge, Map<string, number>>();

/** The spec's handshake: POST a challenge; the endpoint echoes it in a 2xx body. */
async function verifyEndpoint(bridge: Bridge, caller: EventCaller, url: string, secret: string, subscriptionId: string): Promise<void> {
  const cache = verified.get(bridge) ?? new Map<string, number>();
  verified.set(bridge, cache);
  const key = `${caller.principal.id}\n${url}`;
  if ((cache.get(key) ?? 0) > Date.now()) return;
  const { postSigned, challengeMatches } = await meshLib();
  const challenge = randomBytes(18).toString("base64url");
  const r = await postSigned(url, policyOf(bridge), secret, `msg_verification_${randomBytes(8).toString("hex")}`, JSON.stringify({ type: "verification", challenge }), { "x-mcp-subscription-id": subscriptionId });
  if (!r.ok) throw new ProtocolError(EVENT_ERRORS.CallbackEndpointError as never, `the callback did not accept the verification request (${r.failure}); it must answer 2xx with {"challenge": <the challenge>}`, { reason: r.failure });
  if (!challengeMatches(r.body, challenge)) throw new ProtocolError(EVENT_ERRORS.CallbackEndpointError as never, `the callback answered but did not echo the challenge: answer {"challenge": "<the challenge it was sent>"}`, { reason: "challenge_failed" });
  if (cache.size > 10_000) cache.clear();
  cache.set(key, Date.now() + VERIFIED_FOR_MS);
}

/** A subscription's arguments as the event type resolves them (defaults filled); a bad name or argument is the extension's error. */
function subscriptionArgs(events: Awaited<ReturnType<typeof eventsOf>>, name: string, args: unknown): JsonObject {
  try {
    return events.resolve(name, args as never).args as JsonObject;
  } catch (err) {
    return eventError(err);
  }
}

export function registerWebhookMethods(server: Server, bridge: Bridge, callerOf: (ctx: never) => EventCaller): void {
  const opts = bridge.opts.events ?? {};

  server.setRequestHandler("events/subscribe", { params: SubscribeParams }, async (params, ctx) => {
    const caller = callerOf(ctx as never);
    requireIdentity(caller, "events/subscribe");
    if (params.delivery.mode !== undefined && params.delivery.mode !== "webhook") {
      throw new ProtocolError(EVENT_ERRORS.Unsupported as never, `events/subscribe is for webhook delivery only (got mode "${params.delivery.mode}"): use events/poll or events/stream`, { feature: "deliveryMode", value: params.delivery.mode });
    }
    const { CallbackUrlError, hookId, ownerHash, parseCallbackUrl, resolveCallback, secretKey } = await meshLib();
    if (!secretKey(params.delivery.secret)) throw new ProtocolError(ProtocolErrorCode.InvalidParams, "delivery.secret must be whsec_ followed by base64 of 24 to 64 random bytes (a Standard Webhooks secret)");
    const events = await eventsOf(bridge);
    const args = subscriptionArgs(events, params.name, params.arguments);
    const policy = policyOf(bridge);
    try {
      await resolveCallback(parseCallbackUrl(params.delivery.url, policy), policy);
    } catch (err) {
      if (err instanceof CallbackUrlError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, err.message);
      throw err;
    }
    const store = await bridge.mesh!.webhooks();
    const id = hookId(caller.principal.id, params.delivery.url, params.name, args);
    const existing = await store.get(id);
    const now = Date.now();
    const live = existing !== undefined && (existing.expiresAt === null || existing.expiresAt > now) && (await store.consumerExists(id));
    if (!live) {
      const max = opts.maxSubscriptionsPerPrincipal ?? 32;
      const count = await store.countFor(caller.principal.id, now);
      if (count >= max) {
        eventStats(bridge).refused++;
        throw new ProtocolError(EVENT_ERRORS.ResourceExhausted as never, `this identity has ${count} webhook subscriptions, the most allowed (--events-max-subscriptions): unsubscribe one first`, { limit: "subscriptions", max });
      }
    }
    await verifyEndpoint(bridge, caller, params.delivery.url, params.delivery.secret, id);
    const maxTtl = opts.webhookMaxTtlMs ?? DEFAULT_MAX_TTL_MS;
    // Never "no expiry": a client asking for none gets the longest grant and refreshes.
    const ttl = params.ttlMs === undefined ? Math.min(DEFAULT_TTL_MS, maxTtl) : params.ttlMs === null ? maxTtl : Math.min(Math.max(params.ttlMs, MIN_TTL_MS), maxTtl);
    let start: number;
    let truncated = false;
    try {
      if (live) start = 0;
      else ({ start, truncated } = await events.startOf(params.cursor, params.maxAgeMs));
    } catch (err) {
      eventError(err);
    }
    const rec: HookRecord = {
      v: 1, id, principal: { ...caller.principal } as Record<string, unknown>, principalId: caller.principal.id, ownerHash: ownerHash(caller.owner),
      name: params.name, args, url: params.delivery.url, secret: params.delivery.secret, createdAt: existing?.createdAt ?? now,
      expiresAt: now + ttl, active: true, failures: 0,
      lastDeliveryAt: existing?.lastDeliveryAt, lastError: existing?.lastError, failedSince: existing?.failedSince,
    };
    if (!live) await store.ensureConsumer(rec, start);
    await store.put(rec);
    const watermark = await store.watermark(id, live ? 0 : start - 1);
    return {
      id,
      refreshBefore: new Date(now + ttl).toISOString(),
      cursor: events.cursorAt(watermark),
      truncated,
      ...(existing ? {
        deliveryStatus: {
          active: existing.active,
          lastDeliveryAt: existing.lastDeliveryAt ? new Date(existing.lastDeliveryAt).toISOString() : null,
          lastError: existing.lastError ?? null,
          ...(existing.failedSince ? { failedSince: new Date(existing.failedSince).toISOString() } : {}),
        },
      } : {}),
    } as never;
  });

  server.setRequestHandler("events/unsubscribe", { params: UnsubscribeParams }, async (params, ctx) => {
    const caller = callerOf(ctx as never);
    requireIdentity(caller, "events/unsubscribe");
    const { hookId } = await meshLib();
    const events = await eventsOf(bridge);
    const args = subscriptionArgs(events, params.name, params.arguments);
    const store = await bridge.mesh!.webhooks();
    if (!(await store.remove(hookId(caller.principal.id, params.delivery.url, params.name, args)))) {
      throw new ProtocolError(EVENT_ERRORS.NotFound as never, `no webhook subscription of this identity for ${params.name} with these arguments at that URL`, { kind: "subscription" });
    }
    return {} as never;
  });
}

const delivering = new WeakSet<Bridge>();

/**
 * Starts this process's webhook dispatcher once the mesh is up (once per bridge): it
 * delivers for every live subscription, sharing the work with the other replicas.
 */
export function startEventDelivery(bridge: Bridge): void {
  if (delivering.has(bridge) || bridge.opts.events?.disabled) return;
  delivering.add(bridge);
  const opts = bridge.opts.events ?? {};
  const stats = eventStats(bridge);
  void (async () => {
    // ready() answers at once while NATS is known unreachable: wait between looks.
    while (!bridge.mesh && !bridge.shutdownSignal.aborted) {
      if (!(await bridge.ready(5000)) && !bridge.mesh) await new Promise((r) => setTimeout(r, 1000).unref());
    }
    if (!bridge.mesh) return;
    let store;
    try {
      store = await bridge.mesh.webhooks();
    } catch (err) {
      bridge.log.debug(`events: no webhook delivery from this process: ${(err as Error).message}`);
      return;
    }
    const visible = visibilityOf(bridge);
    store.dispatch({
      policy: policyOf(bridge),
      concurrency: opts.webhookConcurrency ?? 8,
      visible: visible ? (p, t) => visible(p as never, { node: t.node, tool: t.tool, method: t.method, fileKey: t.fileKey }) : undefined,
      log: (m) => bridge.log.warn(m),
      onDelivered: () => stats.delivered.webhook++,
      onFailed: () => stats.webhookFailures++,
      onInFlight: (d) => (stats.webhookDeliveriesInFlight += d),
    }, bridge.shutdownSignal);
  })();
}
