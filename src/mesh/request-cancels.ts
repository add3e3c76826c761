/**
 * Cancels of MCP requests that travel between mesh-mcp replicas. With stateless HTTP
 * every POST meets a fresh server, maybe in another process behind a load balancer: the
 * `notifications/cancelled` of a 2025 client lands where its call is not running. The
 * request id and the caller's identity name the call; the replica that receives the
 * cancel publishes it on `mesh-mcp.cancel.<key>` and the one running the call (it
 * listens on `mesh-mcp.cancel.*`) aborts it. The key is a hash: neither the identity
 * (a bearer token) nor the request id reaches NATS.
 */
import { createHash } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

export const REQUEST_CANCEL_PREFIX = "mesh-mcp.cancel";

/** The subject a request's cancel travels on. */
export function requestCancelSubject(key: string): string {
  return `${REQUEST_CANCEL_PREFIX}.${key}`;
}

/** The key of request `requestId` of `identity` (128 bits of SHA-256, hex). */
export function requestKey(identity: string, requestId: string | number): string {
  return createHash("sha256").update("mesh-mcp request\n").update(identity).update("\n").update(JSON.stringify(requestId)).digest("hex").slice(0, 32);
}

/** A cancel that arrives before its call registered (a fast client) still counts for this long. */
const EARLY_CANCEL_MS = 30_000;
const EARLY_CANCEL_MAX = 10_000;

export class RequestCancels {
  private readonly running = new Map<string, Set<() => void>>();
  private readonly early = new Map<string, number>();
  private sub?: Subscription;

  constructor(private readonly nc: NatsConnection) {}

  private listen(): void {
    if (this.sub || this.nc.isClosed()) return;
    this.sub = this.nc.subscribe(`${REQUEST_CANCEL_PREFIX}.*`, {
      callback: (_err, msg) => this.arrived(msg.subject.slice(REQUEST_CANCEL_PREFIX.length + 1)),
    });
  }

  private arrived(key: string): void {
    const cancels = this.running.get(key);
    if (cancels) {
      this.running.delete(key);
      for (const c of cancels) c();
      return;
    }
    if (this.early.size >= EARLY_CANCEL_MAX) this.early.clear();
    this.early.set(key, Date.now() + EARLY_CANCEL_MS);
  }

  /**
   * Registers a running request: `cancel` runs when any replica publishes its cancel.
   * Returns the function that unregisters it (call it when the request ends).
   */
  track(identity: string, requestId: string | number, cancel: () => void): () => void {
    this.listen();
    const key = requestKey(identity, requestId);
    const until = this.early.get(key);
    if (until !== undefined) {
      this.early.delete(key);
      if (until > Date.now()) {
        cancel();
        return () => {};
      }
    }
    let set = this.running.get(key);
    if (!set) this.running.set(key, (set = new Set()));
    set.add(cancel);
    return () => {
      set.delete(cancel);
      if (set.size === 0 && this.running.get(key) === set) this.running.delete(key);
    };
  }

  /** Cancels request `requestId` of `identity` wherever it runs (this replica included). */
  cancel(identity: string, requestId: string | number): void {
    this.listen();
    const key = requestKey(identity, requestId);
    if (this.running.has(key)) this.arrived(key);
    if (!this.nc.isClosed()) this.nc.publish(requestCancelSubject(key));
  }

  close(): void {
    this.sub?.unsubscribe();
    this.running.clear();
    this.early.clear();
  }
}
