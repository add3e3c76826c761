/**
 * Is the node serving a call still there? jb-mesh sends no heartbeat, and a node
 * that dies (SIGKILL, OOM, a lost host) just goes silent. While calls run on a
 * (node, tool), this probes that node's service instance now and then:
 * `$SRV.PING.<tool>.<id>` is one tiny request to one instance, answered by the
 * node's NATS micro runtime even while the tool is busy; a "no responders" there
 * means the instance is gone, and a `$SRV.INFO.<tool>` pass then tells "gone"
 * from "re-registered under a new id" (what a node does after a reconnect).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { listServices, nodeOf } from "./catalog.js";
import { SRV_PING } from "./subjects.js";

export interface LivenessOptions {
  /** How often a (node, tool) with work in flight is probed (default 2000 ms). */
  intervalMs?: number;
  /** Timeout of one ping (default 1500 ms). */
  probeTimeoutMs?: number;
}

export const DEFAULT_PROBE_INTERVAL_MS = 2000;

interface Watched {
  node: string;
  tool: string;
  listeners: Set<(detail: string) => void>;
  probing?: Promise<boolean>;
}

const key = (node: string, tool: string) => `${node}\u0000${tool}`;

export class Liveness {
  private watched = new Map<string, Watched>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    /** The instance id the catalog knows for (node, tool), if any. */
    private readonly instanceOf: (node: string, tool: string) => string | undefined,
    private readonly usable: () => boolean,
    private readonly opts: LivenessOptions = {},
  ) {}

  /** Calls `onGone` once if `node` stops serving `tool`; returns the function that stops watching. */
  watch(node: string, tool: string, onGone: (detail: string) => void): () => void {
    const k = key(node, tool);
    let w = this.watched.get(k);
    if (!w) this.watched.set(k, (w = { node, tool, listeners: new Set() }));
    const l = (detail: string) => onGone(detail);
    w.listeners.add(l);
    this.arm();
    return () => {
      w.listeners.delete(l);
      if (w.listeners.size === 0 && this.watched.get(k) === w) this.watched.delete(k);
      // The timer stays armed (unref'd): with nothing watched it fires once and stops, and
      // back-to-back short calls do not set and clear a timer each.
    };
  }

  private arm(): void {
    if (this.timer || this.closed || this.watched.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.checkAll().finally(() => this.arm());
    }, this.opts.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS);
    this.timer.unref?.();
  }

  /** Probes every watched (node, tool) now (a node left, the connection came back). */
  checkNow(): void {
    void this.checkAll();
  }

  private async checkAll(): Promise<void> {
    if (!this.usable()) return;
    await Promise.all([...this.watched.values()].map((w) => this.check(w)));
  }

  private async check(w: Watched): Promise<void> {
    w.probing ??= this.alive(w.node, w.tool).finally(() => (w.probing = undefined));
    if (await w.probing) return;
    if (this.closed || !this.usable()) return;
    const detail = `its ${w.tool} service no longer answers on NATS`;
    for (const l of [...w.listeners]) l(detail);
    this.watched.delete(key(w.node, w.tool));
  }

  /**
   * True while `node` serves `tool`. A "gone" verdict is confirmed once, a moment later,
   * so a node caught between stopping and re-adding its services is not declared dead.
   */
  async alive(node: string, tool: string): Promise<boolean> {
    if (await this.ping(node, tool)) return true;
    if (await this.listed(node, tool)) return true;
    await new Promise((r) => setTimeout(r, 500));
    return (await this.ping(node, tool)) || (await this.listed(node, tool));
  }

  private async ping(node: string, tool: string): Promise<boolean> {
    const id = this.instanceOf(node, tool);
    if (!id || this.nc.isClosed()) return false;
    try {
      await this.nc.request(`${SRV_PING}.${tool}.${id}`, "", { timeout: this.opts.probeTimeoutMs ?? 1500 });
      return true;
    } catch {
      return false;
    }
  }

  private async listed(node: string, tool: string): Promise<boolean> {
    if (this.nc.isClosed()) return true; // nothing to say; the call ends with the connection anyway
    try {
      const found = await listServices(this.nc, { tool, stallMs: 250, maxWaitMs: 2000 });
      return found.some((s) => nodeOf(s) === node);
    } catch {
      return true; // cannot tell: do not fail a call on a probe's own trouble
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }
}
