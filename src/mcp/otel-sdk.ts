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
import { createHash } from "node:crypto";
import type { CallTrace, CallTracer, RequestSpan } from "./otel.js";
import { SERVER_NAME, SERVER_VERSION } from "./server.js";

const w3c = new W3CTraceContextPropagator();
const getter = { keys: (c: Record<string, string>) => Object.keys(c), get: (c: Record<string, string>, k: string) => c[k] };
const setter = { set: (c: Record<string, string>, k: string, v: string) => void (c[k] = v) };

/** A request's SERVER span and the context its children start in. */
class ServerSpan implements RequestSpan {
  constructor(readonly span: Span, readonly ctx: Context) {}
  end(result: unknown, error?: unknown): void {
    if (error !== undefined) {
      // A JSON-RPC error: error.type is its code (semantic conventions), else the error's kind.
      const code = (error as { code?: unknown } | null)?.code;
      const type = typeof code === "number" ? String(code) : ((error as Error | null)?.name || "_OTHER");
      this.span.setAttribute("error.type", type);
      if (typeof code === "number") this.span.setAttribute("rpc.response.status_code", String(code));
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error | null)?.message ?? error).split("\n")[0] });
    } else if ((result as { isError?: unknown } | null)?.isError === true) {
      // A tool that failed answers a successful JSON-RPC response: the conventions' "tool_error".
      this.span.setAttribute("error.type", "tool_error");
      const text = ((result as { content?: Array<{ text?: unknown }> }).content?.[0]?.text);
      this.span.setStatus({ code: SpanStatusCode.ERROR, ...(typeof text === "string" ? { message: text.split("\n")[0] } : {}) });
    }
    this.span.end();
  }
}

/** What mcp.session.id carries: a digest, so that spans group by session while the id (which reaches it) stays out of traces. */
const sessionDigest = (id: string) => createHash("sha256").update(id).digest("hex").slice(0, 16);

function parentContext(parent: { traceparent?: string; tracestate?: string }): Context {
  const carrier: Record<string, string> = {};
  if (parent.traceparent) carrier.traceparent = parent.traceparent;
  if (parent.tracestate) carrier.tracestate = parent.tracestate;
  return w3c.extract(context.active(), carrier, getter);
}

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
      startRequest(info, parent) {
        const parentCtx = parentContext(parent);
        const span = tracer.startSpan(info.target ? `${info.method} ${info.target}` : info.method, {
          kind: SpanKind.SERVER,
          attributes: {
            "mcp.method.name": info.method,
            ...(info.requestId !== undefined ? { "jsonrpc.request.id": String(info.requestId) } : {}),
            ...(info.session ? { "mcp.session.id": sessionDigest(info.session) } : {}),
            ...(info.resource ? { "mcp.resource.uri": info.resource } : {}),
            ...(info.method === "tools/call" && info.target ? { "gen_ai.tool.name": info.target, "gen_ai.operation.name": "execute_tool" } : {}),
            ...(info.method === "prompts/get" && info.target ? { "gen_ai.prompt.name": info.target } : {}),
          },
        }, parentCtx);
        return new ServerSpan(span, trace.setSpan(parentCtx, span));
      },
      startCall(info, parent, under) {
        // Under the request's own span (otel-requests.ts) when it has one, else a request span of its own (the fast paths).
        const outer = under instanceof ServerSpan ? under : undefined;
        const parentCtx: Context = outer ? outer.ctx : parentContext(parent);
        const request = outer ? outer.span : tracer.startSpan(`tools/call ${info.name}`, {
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
        if (outer) {
          request.setAttribute("mesh.tool", info.tool);
          request.setAttribute("mesh.method", info.method);
          if (info.caller) request.setAttribute("mesh.caller", info.caller);
        }
        const call: Span = tracer.startSpan(`mesh ${info.tool}.${info.method}`, {
          kind: SpanKind.CLIENT,
          attributes: {
            "mesh.tool": info.tool,
            "mesh.method": info.method,
            "messaging.system": "nats",
            ...(info.node ? { "mesh.node": info.node } : {}),
          },
        }, outer ? parentCtx : trace.setSpan(parentCtx, request));
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
            if (!outer && outcome !== "ok" && outcome !== "cancelled") request.setAttribute("error.type", "tool_error");
            call.end();
            // A request span of otel-requests.ts ends when the request is answered.
            if (!outer) request.end();
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
