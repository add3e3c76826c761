/**
 * `notifications/cancelled` under --stateless: every POST meets a fresh server (and,
 * behind a load balancer, maybe another replica), so the cancel of a 2025 client never
 * finds its call where it arrives. The request id and the caller's identity name the
 * call; the mesh carries the cancel to whichever replica runs it (mesh/request-cancels.ts).
 */
import { CancelledNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { Bridge } from "./bridge.js";
import type { Principal } from "./principal.js";

/**
 * Who the caller is, for matching its cancels: the authenticated principal together
 * with the identity the HTTP edge derived from the credential (the task owner: two
 * deployments' --auth-token principals share a name, their tokens do not), or
 * --task-owner. Without any, every client of this server is one caller ("anonymous"):
 * its request ids then name calls of any anonymous client.
 */
export function cancelIdentity(bridge: Bridge, principal: Principal | undefined, taskOwner: string | undefined): string {
  return `${principal?.id ?? "anonymous"}\n${taskOwner ?? bridge.opts.tasks?.owner ?? ""}`;
}

/** Routes this (stateless) server's cancels onto the mesh, where the replica running the call hears them. */
export function cancelAcrossReplicas(server: Server, bridge: Bridge, identity: string): void {
  server.setNotificationHandler(CancelledNotificationSchema, async (n) => {
    const id = n.params.requestId;
    if (id === undefined) return;
    bridge.mesh?.requestCancels.cancel(identity, id);
  });
}

/** A controller for a stateless call that any replica's cancel of (identity, requestId) aborts; `done` unregisters it. */
export function remotelyCancellable(bridge: Bridge, identity: string, requestId: string | number, signal: AbortSignal): { abort: AbortController; done(): void } {
  const abort = new AbortController();
  const onAbort = () => abort.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const untrack = bridge.mesh?.requestCancels.track(identity, requestId, () => abort.abort(new Error("cancelled by the client"))) ?? (() => {});
  return {
    abort,
    done: () => {
      untrack();
      signal.removeEventListener("abort", onAbort);
    },
  };
}
