/**
 * The calls a bridge has in flight, and the last few that failed: what the status page
 * shows of "who is calling what, on which node, for how long". Fed by the one call path
 * (bridge.callStarted / callDone); it keeps names and reasons, never arguments or tokens.
 */
import { scrub } from "../mesh/secrets.js";
import type { CallOutcome } from "./bridge.js";

/** One mesh call in flight. `node` is the pinned node, else filled in when the node answers. */
export interface LiveCall {
  readonly id: number;
  /** `<tool>.<method>`. */
  readonly key: string;
  node?: string;
  /** The mesh call id of the current attempt (what `cancel.<id>` and the node's logs name). */
  callId?: string;
  /** Who asked: the session's principal name, else the client's name/version. */
  readonly caller?: string;
  readonly startedAt: number;
}

/** A call that ended other than ok or cancelled, and why. */
export interface FailedCall {
  key: string;
  node?: string;
  caller?: string;
  outcome: CallOutcome;
  /** The error text (first 500 characters, secrets scrubbed). */
  reason: string;
  at: number;
  ms: number;
}

/** How many failures are remembered. */
export const FAILURES_KEPT = 50;
const REASON_MAX = 500;

export class CallBook {
  private nextId = 1;
  private readonly live = new Set<LiveCall>();
  private readonly failed: FailedCall[] = [];

  start(key: string, node: string | undefined, caller: string | undefined): LiveCall {
    const call: LiveCall = { id: this.nextId++, key, node, caller, startedAt: Date.now() };
    this.live.add(call);
    return call;
  }

  /** Ends `call` (when it was started) and remembers a failure. */
  end(call: LiveCall | undefined, key: string, outcome: CallOutcome, ms: number, detail: { node?: string; caller?: string; error?: string }): void {
    if (call) this.live.delete(call);
    if (outcome === "ok" || outcome === "cancelled") return;
    const text = scrub(detail.error ?? outcome.replace("_", " "));
    this.failed.push({
      key,
      node: detail.node ?? call?.node,
      caller: detail.caller ?? call?.caller,
      outcome,
      reason: text.length > REASON_MAX ? `${text.slice(0, REASON_MAX)}…` : text,
      at: Date.now(),
      ms: Math.round(ms),
    });
    if (this.failed.length > FAILURES_KEPT) this.failed.splice(0, this.failed.length - FAILURES_KEPT);
  }

  /** Calls in flight, oldest first. */
  inflight(): LiveCall[] {
    return [...this.live];
  }

  /** Recent failures, newest first. */
  failures(): FailedCall[] {
    return [...this.failed].reverse();
  }
}

/** The caller as the status page shows it: the principal's name, else the client's name/version. */
export function callerName(principal: { name: string; source: string } | undefined, client: { name?: string; version?: string } | undefined): string | undefined {
  if (principal && principal.source !== "anonymous") return principal.name;
  const c = client?.name ? `${client.name}${client.version ? `/${client.version}` : ""}` : undefined;
  return c ?? principal?.name;
}
