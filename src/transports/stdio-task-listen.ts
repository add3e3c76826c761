/**
 * `notifications/tasks` on 2026 stdio listen streams. The SDK's stdio router knows
 * only its four change kinds (and ends a stream whose filter has none of them), so a
 * listen naming `taskIds` is split here: the SDK serves the rest of the filter (its
 * ack gains the honored `taskIds`), this serves the task part on the same request id,
 * until the client cancels the listen or the SDK ends it.
 */
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "../mcp/bridge.js";
import { listenTaskIds, watchTaskIds } from "../mcp/modern.js";

const SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId";
type Any = Record<string, any>;

function hasOtherKinds(filter: Any): boolean {
  return filter.toolsListChanged === true || filter.resourcesListChanged === true || filter.promptsListChanged === true ||
    (Array.isArray(filter.resourceSubscriptions) && filter.resourceSubscriptions.length > 0);
}

export class StdioTaskListens {
  private readonly subs = new Map<string | number, { taskIds: string[]; stop?: () => void; stopped?: boolean }>();

  constructor(private readonly bridge: Bridge, private readonly owner: string, private readonly send: (m: JSONRPCMessage) => void) {}

  /** An inbound message: what the SDK should see of it (undefined: nothing). */
  inbound(message: JSONRPCMessage): JSONRPCMessage | undefined {
    const m = message as Any;
    if (m.method === "notifications/cancelled") {
      this.stop(m.params?.requestId);
      return message;
    }
    if (m.method !== "subscriptions/listen" || m.id === undefined) return message;
    const taskIds = listenTaskIds(m.params);
    if (!taskIds) return message;
    const { taskIds: _dropped, ...rest } = m.params.notifications as Any;
    const sub: { taskIds: string[]; stop?: () => void; stopped?: boolean } = { taskIds };
    this.subs.set(m.id, sub);
    const stamp = (params: Any) => ({ ...params, _meta: { ...params._meta, [SUBSCRIPTION_ID_META_KEY]: m.id } });
    void watchTaskIds(this.bridge, this.owner, taskIds, (task) => this.send({ jsonrpc: "2.0", method: "notifications/tasks", params: stamp(task) } as JSONRPCMessage)).then(
      (stop) => (sub.stopped ? stop() : (sub.stop = stop)),
      (err: Error) => this.bridge.log.debug(`listen ${String(m.id)}: cannot follow tasks: ${err.message}`),
    );
    if (hasOtherKinds(rest)) return { ...m, params: { ...m.params, notifications: rest } } as JSONRPCMessage;
    // Only tasks asked for: the SDK would ack nothing and end the stream, so this stream is ours alone.
    this.send({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: stamp({ notifications: { taskIds } }) } as JSONRPCMessage);
    return undefined;
  }

  /** An outbound message: the SDK's ack of a split listen names the task ids too; its end ends ours. */
  outbound(message: JSONRPCMessage): JSONRPCMessage {
    const m = message as Any;
    if (m.method === "notifications/subscriptions/acknowledged") {
      const sub = this.subs.get(m.params?._meta?.[SUBSCRIPTION_ID_META_KEY]);
      if (sub) return { ...m, params: { ...m.params, notifications: { ...m.params.notifications, taskIds: sub.taskIds } } } as JSONRPCMessage;
    } else if (m.id !== undefined && m.method === undefined) {
      this.stop(m.id);
    }
    return message;
  }

  private stop(id: unknown): void {
    const sub = this.subs.get(id as string | number);
    if (!sub) return;
    this.subs.delete(id as string | number);
    sub.stopped = true;
    sub.stop?.();
  }

  close(): void {
    for (const id of [...this.subs.keys()]) this.stop(id);
  }
}
