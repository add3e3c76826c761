/**
 * The OpenTelemetry SDK behind otel.ts, loaded only when OTEL_* asks for traces.
 * Exporters (OTEL_TRACES_EXPORTER): otlp (http/protobuf to OTEL_EXPORTER_OTLP_ENDPOINT,
 * default), console. The service name and resource come from OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES; batching from OTEL_BSP_*. gRPC (port 4317) is not supported. Sampling: parent-based, always on.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, TracerProvider, type SpanProcessor } from "@opentelemetry/sdk-trace";
import type { CallTrace, CallTracer } from "./otel.js";
import { SERVER_NAME, SERVER_VERSION } from "./server.js";

const w3c = new W3CTraceContextPropagator();
const getter = { keys: (c: Record<string, string>) => Object.keys(c), get: (c: Record<string, string>, k: string) => c[k] };
const setter = { set: (c: Record<string, string>, k: string, v: string) => void (c[k] = v) };

export function createTracer(env: NodeJS.ProcessEnv, opts: { stdoutIsProtocol?: boolean } = {}): { tracer: CallTracer; description: string } {
  const names = env.OTEL_TRACES_EXPORTER?.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s && s !== "none") ?? [];
  if (!names.length) names.push("otlp");
  // OTEL_BSP_* (the SDK no longer reads them itself).
  const num = (v: string | undefined) => (v !== undefined && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const batch = {
    scheduledDelayMillis: num(env.OTEL_BSP_SCHEDULE_DELAY),
    exportTimeoutMillis: num(env.OTEL_BSP_EXPORT_TIMEOUT),
    maxQueueSize: num(env.OTEL_BSP_MAX_QUEUE_SIZE),
    maxExportBatchSize: num(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE),
  };
  const processors: SpanProcessor[] = [];
  const described: string[] = [];
  for (const name of names) {
    if (name === "otlp") {
      const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf";
      if (protocol !== "http/protobuf") throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; use http/protobuf (port 4318)`);
      processors.push(new BatchSpanProcessor({ ...batch, exporter: new OTLPTraceExporter() }));
      described.push(`OTLP http/protobuf to ${env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://localhost:4318"}`);
    } else if (name === "console") {
      if (opts.stdoutIsProtocol) throw new Error("OTEL_TRACES_EXPORTER=console writes to stdout, which carries the MCP protocol over stdio: use otlp (or --transport http)");
      processors.push(new BatchSpanProcessor({ ...batch, exporter: new ConsoleSpanExporter() }));
      described.push("console");
    } else {
      throw new Error(`OTEL_TRACES_EXPORTER=${name} is not supported (otlp, console, none)`);
    }
  }
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": "mesh-mcp", "service.version": SERVER_VERSION }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({ resource, sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), spanProcessors: processors });
  const tracer = provider.getTracer(SERVER_NAME, SERVER_VERSION);
  const service = String(resource.attributes["service.name"] ?? "mesh-mcp");
  return {
    description: `${described.join(", ")}; service.name ${service}`,
    tracer: {
      startCall(info, parent) {
        const carrier: Record<string, string> = {};
        if (parent.traceparent) carrier.traceparent = parent.traceparent;
        if (parent.tracestate) carrier.tracestate = parent.tracestate;
        const parentCtx: Context = w3c.extract(context.active(), carrier, getter);
        const request = tracer.startSpan(`tools/call ${info.name}`, {
          kind: SpanKind.SERVER,
          attributes: {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": info.name,
            "gen_ai.operation.name": "execute_tool",
            "mesh.tool": info.tool,
            "mesh.method": info.method,
            ...(info.caller ? { "mesh.caller": info.caller } : {}),
          },
        }, parentCtx);
        const call: Span = tracer.startSpan(`mesh ${info.tool}.${info.method}`, {
          kind: SpanKind.CLIENT,
          attributes: {
            "mesh.tool": info.tool,
            "mesh.method": info.method,
            "messaging.system": "nats",
            ...(info.node ? { "mesh.node": info.node } : {}),
          },
        }, trace.setSpan(parentCtx, request));
        const headers: Record<string, string> = {};
        w3c.inject(trace.setSpan(context.active(), call), headers, setter);
        const traced: CallTrace = {
          headers,
          attempt(node, callId) {
            if (node) call.setAttribute("mesh.node", node);
            if (callId) call.setAttribute("mesh.call_id", callId);
            call.addEvent("attempt", { ...(node ? { "mesh.node": node } : {}), ...(callId ? { "mesh.call_id": callId } : {}) });
          },
          end(outcome, node, error) {
            for (const s of [call, request]) {
              s.setAttribute("mesh.outcome", outcome);
              if (node) s.setAttribute("mesh.node", node);
              if (outcome !== "ok" && outcome !== "cancelled") s.setStatus({ code: SpanStatusCode.ERROR, message: error?.split("\n")[0] ?? outcome });
            }
            call.end();
            request.end();
          },
        };
        return traced;
      },
      async shutdown() {
        await provider.shutdown();
      },
    },
  };
}

// The API's global propagator is not used (context is passed explicitly); keep it W3C for anyone who does.
propagation.setGlobalPropagator(w3c);
