/**
 * Prometheus metrics for the HTTP transport (`/metrics`). A private registry (not
 * prom-client's global one), so several servers in one process never collide.
 * Gauges that mirror state (sessions, in-flight calls, NATS) are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Bridge, CallOutcome } from "../mcp/bridge.js";

export interface MetricsSources {
  sessions(): number;
}

export class HttpMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<"tool" | "outcome">;
  private readonly latency: Histogram<"tool" | "outcome">;
  private readonly requests: Counter<"method" | "status">;
  private readonly dropObserver: () => void;

  constructor(bridge: Bridge, sources: MetricsSources) {
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
    this.dropObserver = bridge.onCallDone((key, outcome, ms) => this.callDone(key, outcome, ms));
  }

  private callDone(key: string, outcome: CallOutcome, ms: number): void {
    this.calls.inc({ tool: key, outcome });
    this.latency.observe({ tool: key, outcome }, ms / 1000);
  }

  request(method: string, status: number): void {
    this.requests.inc({ method, status: String(status) });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.dropObserver();
  }
}
