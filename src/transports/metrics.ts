/**
 * Prometheus metrics for the HTTP transport (`/metrics`). A private registry (not
 * prom-client's global one), so several servers in one process never collide.
 * Gauges that mirror state (sessions, in-flight calls, NATS) are read at scrape time.
 *
 * prom-client takes 40–60 ms to load, more than the rest of the HTTP transport: it is
 * imported after the server listens (`load()`, or the first scrape), so that start-up
 * is not held up by it. Calls and requests that end before it is loaded are kept and
 * counted when it is; the process metrics (`mesh_mcp_process_*`: GC, event-loop lag)
 * observe from that moment.
 */
import type { Bridge, CallOutcome } from "../mcp/bridge.js";
import { eventStats, eventStreamState } from "../mcp/modern.js";

export interface MetricsSources {
  sessions(): number;
}

type Event = { call: true; key: string; outcome: CallOutcome; ms: number; principal: string } | { call: false; method: string; status: number };

/** Events kept while prom-client loads; past this many (it failed to load?) the rest are dropped. */
const BACKLOG_MAX = 100_000;

export class HttpMetrics {
  private impl?: PromMetrics;
  private loading?: Promise<PromMetrics>;
  private backlog: Event[] = [];
  private readonly dropObserver: () => void;

  constructor(private readonly bridge: Bridge, private readonly sources: MetricsSources) {
    this.dropObserver = bridge.onCallDone((key, outcome, ms, detail) => {
      // By principal id (stable; one series per team member and tool, not per token).
      const principal = detail.principal?.id ?? "anonymous";
      if (this.impl) this.impl.callDone(key, outcome, ms, principal);
      else this.keep({ call: true, key, outcome, ms, principal });
    });
  }

  private keep(e: Event): void {
    if (this.backlog.length < BACKLOG_MAX) this.backlog.push(e);
  }

  /** Loads prom-client and builds the registry (once); counts what happened meanwhile. */
  load(): Promise<PromMetrics> {
    this.loading ??= import("prom-client").then((prom) => {
      const impl = new PromMetrics(prom, this.bridge, this.sources);
      for (const e of this.backlog) {
        if (e.call) impl.callDone(e.key, e.outcome, e.ms, e.principal);
        else impl.request(e.method, e.status);
      }
      this.backlog = [];
      this.impl = impl;
      return impl;
    });
    return this.loading;
  }

  request(method: string, status: number): void {
    if (this.impl) this.impl.request(method, status);
    else this.keep({ call: false, method, status });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return (this.impl ?? (await this.load())).render();
  }

  close(): void {
    this.dropObserver();
  }
}

class PromMetrics {
  readonly registry: import("prom-client").Registry;
  private readonly calls: import("prom-client").Counter<"tool" | "outcome">;
  private readonly latency: import("prom-client").Histogram<"tool" | "outcome">;
  private readonly requests: import("prom-client").Counter<"method" | "status">;
  private readonly byPrincipal: import("prom-client").Counter<"principal" | "tool" | "outcome">;

  constructor(prom: typeof import("prom-client"), bridge: Bridge, sources: MetricsSources) {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = prom;
    this.registry = new Registry();
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "mesh_mcp_process_" });
    this.calls = new Counter({
      name: "mesh_mcp_tool_calls_total",
      help: "Mesh tool calls by tool (<tool>.<method>) and outcome: ok, error, cancelled, timeout, no_responders, invalid, unavailable.",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.latency = new Histogram({
      name: "mesh_mcp_tool_call_duration_seconds",
      help: "Duration of mesh tool calls, from arrival to result.",
      labelNames: ["tool", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.byPrincipal = new Counter({
      name: "mesh_mcp_principal_tool_calls_total",
      help: "Mesh tool calls by principal id (who called: docs/identity.md), tool (<tool>.<method>) and outcome.",
      labelNames: ["principal", "tool", "outcome"],
      registers,
    });
    this.requests = new Counter({
      name: "mesh_mcp_http_requests_total",
      help: "HTTP requests to /mcp by method and status.",
      labelNames: ["method", "status"],
      registers,
    });
    new Gauge({
      name: "mesh_mcp_inflight_calls",
      help: "Mesh tool calls in flight, all sessions.",
      registers,
      collect() {
        this.set(bridge.inflight.size);
      },
    });
    new Gauge({
      name: "mesh_mcp_sessions",
      help: "Open MCP sessions (0 in --stateless mode).",
      registers,
      collect() {
        this.set(sources.sessions());
      },
    });
    new Gauge({
      name: "mesh_mcp_nats_connected",
      help: "1 while the NATS connection is up, else 0.",
      registers,
      collect() {
        this.set(bridge.state === "connected" ? 1 : 0);
      },
    });
    new Gauge({
      name: "mesh_mcp_catalog_methods",
      help: "Mesh methods visible to agents (after --include/--exclude/--node).",
      registers,
      collect() {
        this.set(bridge.methods().length);
      },
    });
    new Gauge({
      name: "mesh_mcp_catalog_discovery_duration_seconds",
      help: "How long the last catalog discovery took ($SRV.INFO round); absent before the first.",
      registers,
      collect() {
        if (bridge.catalog) this.set(bridge.catalog.lastDiscoveryMs / 1000);
      },
    });
    // MCP events: read at scrape time from the counters src/mcp/events.ts keeps.
    const ev = eventStats(bridge);
    new Gauge({ name: "mesh_mcp_events_streams_open", help: "Open events/stream requests (push delivery) in this process.", registers, collect() { this.set(ev.streamsOpen); } });
    new Counter({
      name: "mesh_mcp_events_delivered_total",
      help: "Event occurrences delivered by this process, by mode (poll, push, webhook).",
      labelNames: ["mode"],
      registers,
      collect() {
        this.reset();
        for (const [mode, n] of Object.entries(ev.delivered)) this.inc({ mode }, n);
      },
    });
    new Counter({ name: "mesh_mcp_events_webhook_failures_total", help: "Webhook delivery attempts that failed (each is retried with backoff, up to 8 attempts).", registers, collect() { this.reset(); this.inc(ev.webhookFailures); } });
    new Gauge({ name: "mesh_mcp_events_webhook_inflight", help: "Webhook POSTs in flight from this process (bounded by --events-webhook-concurrency).", registers, collect() { this.set(ev.webhookDeliveriesInFlight); } });
    new Gauge({
      name: "mesh_mcp_events_stream",
      help: "What the events stream keeps (messages, bytes; limits: --events-max-msgs, --events-max-bytes, --events-max-age).",
      labelNames: ["measure"],
      registers,
      async collect() {
        const s = await eventStreamState(bridge);
        if (!s) return;
        this.set({ measure: "messages" }, s.messages);
        this.set({ measure: "bytes" }, s.bytes);
      },
    });
    new Counter({ name: "mesh_mcp_events_refused_total", help: "Event streams and webhook subscriptions refused by a per-identity limit.", registers, collect() { this.reset(); this.inc(ev.refused); } });
  }

  callDone(key: string, outcome: CallOutcome, ms: number, principal: string): void {
    this.calls.inc({ tool: key, outcome });
    this.byPrincipal.inc({ principal, tool: key, outcome });
    this.latency.observe({ tool: key, outcome }, ms / 1000);
  }

  request(method: string, status: number): void {
    this.requests.inc({ method, status: String(status) });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
