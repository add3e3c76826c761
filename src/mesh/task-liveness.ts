/**
 * Is a task's node still there? Asked by whoever polls a silent working task, in any
 * process. A node is declared gone only when two probes at least `confirmMs` apart
 * both miss it: a node that reconnects re-registers its services (a moment with
 * none), and one missed probe must not fail a job of hours that goes on.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { servicePingSubject } from "./subjects.js";

export type AliveProbe = (node: string, tool: string) => Promise<boolean>;

/** Probes at most once a second per task. */
const PROBE_GAP_MS = 1000;

export class TaskLiveness {
  private readonly probed = new Map<string, { at: number; goneSince?: number }>();

  constructor(private readonly nc: NatsConnection, private readonly confirmMs: number, private readonly alive?: AliveProbe) {}

  /** True once the node is confirmed gone; false when seen; undefined when not probed now or unsure. */
  async gone(taskId: string, node: string, tool: string): Promise<boolean | undefined> {
    const seen = this.probed.get(taskId);
    const now = Date.now();
    if (seen && now - seen.at < PROBE_GAP_MS) return undefined;
    const missing = await this.missing(node, tool);
    if (missing !== true) {
      this.probed.set(taskId, { at: now });
      return missing === undefined ? undefined : false;
    }
    const since = seen?.goneSince ?? now;
    this.probed.set(taskId, { at: now, goneSince: since });
    if (this.probed.size > 10_000) this.probed.clear();
    return now - since >= this.confirmMs;
  }

  /** One probe: the mesh's own (mesh/liveness.ts) when given, else `$SRV.PING.<tool>` looking for the node. */
  private async missing(node: string, tool: string): Promise<boolean | undefined> {
    if (this.alive) {
      try {
        return !(await this.alive(node, tool));
      } catch {
        return undefined;
      }
    }
    try {
      const replies = await this.nc.requestMany(servicePingSubject(tool), "", { strategy: "stall", stall: 100, maxWait: 1000 });
      for await (const m of replies) {
        if (m.headers?.code === 503) return true;
        try {
          if (!node || m.json<{ metadata?: Record<string, string> }>().metadata?.node === node) return false;
        } catch {
          /* not a ping reply */
        }
      }
      return true;
    } catch (err) {
      const e = err as { isNoResponders?: () => boolean; code?: unknown; name?: string; message?: string };
      if (e.isNoResponders?.() || e.code === 503 || e.name === "NoRespondersError" || /no responders/i.test(e.message ?? "")) return true;
      return undefined;
    }
  }
}
