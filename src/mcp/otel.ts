/**
 * OpenTelemetry traces of tool calls: a span per MCP tools/call request (parented on the
 * client's `traceparent`: `_meta.traceparent`, else the HTTP header) and a child span per
 * mesh call, whose context goes to the node in the NATS headers.
 *
 * Every other MCP request the SDKs dispatch gets a SERVER span too (otel-requests.ts).
 *
 * Off unless the standard OTEL_* variables ask for it, and free when off: this module
 * has no imports; the SDK (otel-sdk.ts and @opentelemetry/*) is loaded by startTracing()
 * only when configured, and the call path asks `tracer` (undefined when off) once per call.
 */

/** One traced call: what the call path tells it, and the headers it sends to the node. */
export interface CallTrace {
  /** NATS request headers: `traceparent` naming the mesh-call span (and the client's `tracestate`). */
  readonly headers: Record<string, string>;
  /** Each attempt as it goes out (node, mesh call id). */
  attempt(node: string | undefined, callId: string | undefined): void;
  /** The call ended: outcome (ok, error, timeout …), the node that answered, the error text. */
  end(outcome: string, node: string | undefined, error: string | undefined): void;
}

/**
 * The SERVER span of one MCP request (otel-requests.ts opens one per request the SDK
 * dispatches). Opaque to the call path: handed back to startCall, which then opens only
 * the mesh-call span, under it.
 */
export interface RequestSpan {
  /** The request was answered: `result` (a tools/call result with isError counts as a failure) or the error it threw. */
  end(result: unknown, error?: unknown): void;
}

/** What a request span records (OpenTelemetry MCP semantic conventions). */
export interface RequestInfo {
  /** `mcp.method.name`. */
  method: string;
  /** The span name's target: a tool or prompt name (low cardinality). */
  target?: string;
  /** `jsonrpc.request.id`. */
  requestId?: string | number;
  /** The transport's session id: recorded only as a hash (`mcp.session.id`), never as it is. */
  session?: string;
  /** `mcp.resource.uri`, for requests about one resource. */
  resource?: string;
}

export interface CallTracer {
  /** Starts the SERVER span of one MCP request, on the client's traceparent when it sent one. */
  startRequest(info: RequestInfo, parent: { traceparent?: string; tracestate?: string }): RequestSpan;
  /**
   * Starts the request span (`tools/call <name>`) and the mesh-call span under it.
   * `parent`: the client's traceparent/tracestate, when it sent one. No session id: it is
   * a credential of sorts (with the token, it reaches the session), and traces travel far.
   * `request`: the request's span when otel-requests.ts opened one; then only the mesh-call
   * span is started, under it (and `parent` is not used).
   */
  startCall(info: { name: string; tool: string; method: string; node?: string; caller?: string }, parent: { traceparent?: string; tracestate?: string }, request?: RequestSpan): CallTrace;
  shutdown(): Promise<void>;
}

/** The tracer once the SDK is loaded; undefined while tracing is off (or still loading). */
export let tracer: CallTracer | undefined;

/**
 * Whether OTEL_* asked for traces when startTracing ran (set before the SDK has loaded):
 * sessions built while it is false get no request wrappers at all (otel-requests.ts).
 */
export let tracingWanted = false;

/** Whether OTEL_* asks for traces: an exporter named (not "none"), or an OTLP endpoint; never with OTEL_SDK_DISABLED=true. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (/^true$/i.test(env.OTEL_SDK_DISABLED?.trim() ?? "")) return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean) ?? [];
  if (exporters.length) return exporters.some((e) => e !== "none");
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

let loading: Promise<void> | undefined;

/**
 * Loads the SDK when OTEL_* asks for traces (once); calls made meanwhile go untraced.
 * `log` says what was configured, or why it could not be. `stdoutIsProtocol` (stdio):
 * the console exporter is refused, its spans would corrupt the MCP stream.
 */
export function startTracing(
  log: (level: "info" | "warning", message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  opts: { stdoutIsProtocol?: boolean } = {},
): Promise<void> {
  if (!tracingConfigured(env)) return Promise.resolve();
  tracingWanted = true;
  loading ??= import("./otel-sdk.js")
    .then(({ createTracer }) => {
      const { tracer: t, description } = createTracer(env, opts);
      tracer = t;
      log("info", `OpenTelemetry: tracing tool calls (${description})`);
    })
    .catch((err: unknown) => log("warning", `OpenTelemetry: tracing is off: ${(err as Error).message}`));
  return loading;
}

/** Flushes and stops the exporter (shutdown). */
export async function stopTracing(): Promise<void> {
  await loading;
  const t = tracer;
  tracer = undefined;
  await t?.shutdown().catch(() => {});
}
