/** Mesh events: the capture stream, cursors and event types (what `src/mcp/events.ts` maps to MCP). */
export { MeshEvents, EventRequestError, DEFAULT_MAX_EVENTS, MAX_EVENTS } from "./events.js";
export type { EventOccurrence, EventReader, PollRequest, PollResult } from "./events.js";
export { EventLog, EVENTS_STREAM, DEFAULT_EVENTS_MAX_AGE_MS, DEFAULT_EVENTS_MAX_BYTES, DEFAULT_EVENTS_MAX_MSGS, encodePosition, decodePosition } from "./log.js";
export type { EventLogOptions, Position, StoredEvent } from "./log.js";
export type { EventArgs, EventTarget, MeshEventType } from "./types.js";
export { WebhookStore, HookRecordWire, hookId, HOOKS_BUCKET, MAX_ATTEMPTS, FAILURES_TO_SUSPEND } from "./webhooks.js";
export type { HookRecord, DispatchHooks } from "./webhooks.js";
export { CallbackUrlError, parseCallbackUrl, resolveCallback, postSigned, secretKey, sign, isSpecialAddress, challengeMatches } from "./webhook-http.js";
export type { WebhookPolicy, CallbackFailure, PostResult } from "./webhook-http.js";
