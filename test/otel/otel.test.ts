/**
 * OpenTelemetry: one trace agent → mesh-mcp → node, seen by a real OTLP receiver (a
 * minimal OpenTelemetry Collector, test/otel/build.sh, printing what it receives with
 * its debug exporter), with the node receiving the traceparent of mesh-mcp's mesh-call
 * span in the NATS headers. Off by default: then the client's traceparent goes on as it came.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { tracingConfigured } from "../../src/mcp/otel.js";
import { waitFor } from "../helpers/mesh.js";
import { mcpEnv, registerCalculator } from "../helpers/mcp.js";
import { meshWithTools, startCli, type Cli } from "../http/helpers.js";

const COLLECTOR = new URL("./bin/otelcol-test", import.meta.url).pathname;

interface SpanSeen {
  traceId: string;
  parentId: string;
  id: string;
  name: string;
  kind: string;
  status: string;
  attributes: Record<string, string>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The collector, listening for OTLP/HTTP on a free port; `spans()` parses what its debug exporter printed. */
async function collector(t: TestContext): Promise<{ endpoint: string; spans(): SpanSeen[]; output(): string }> {
  assert.ok(existsSync(COLLECTOR), `no ${COLLECTOR}: run test/otel/build.sh (.ci/run does)`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "otelcol-"));
  const config = join(dir, "config.yaml");
  writeFileSync(config, [
    "receivers:",
    "  otlp:",
    "    protocols:",
    "      http:",
    `        endpoint: 127.0.0.1:${port}`,
    "exporters:",
    "  debug:",
    "    verbosity: detailed",
    "service:",
    "  telemetry:",
    "    metrics:",
    "      level: none",
    "  pipelines:",
    "    traces:",
    "      receivers: [otlp]",
    "      exporters: [debug]",
    "",
  ].join("\n"));
  const proc: ChildProcess = spawn(COLLECTOR, ["--config", `file:${config}`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += String(d)));
  proc.stderr!.on("data", (d) => (out += String(d)));
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(async () => {
    proc.kill("SIGTERM");
    await exited;
  });
  await waitFor(() => /Everything is ready/.test(out) || (proc.exitCode !== null && Promise.reject(new Error(out))), "the collector to start", { timeoutMs: 20_000 });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    output: () => out,
    spans: () => parseSpans(out),
  };
}

/** Spans in the debug exporter's detailed output ("Span #n", its fields, then "Attributes:"). */
function parseSpans(text: string): SpanSeen[] {
  const spans: SpanSeen[] = [];
  for (const block of text.split(/\nSpan #\d+\n/).slice(1)) {
    const field = (name: string) => new RegExp(`^\\s*${name}\\s*: ?(.*)$`, "m").exec(block)?.[1]?.trim() ?? "";
    const attrs: Record<string, string> = {};
    const attrText = /\nAttributes:\n([\s\S]*?)(?:\n(?:Events|Links|Span|ScopeSpans|ResourceSpans)\b|\n\S|$)/.exec(block)?.[1] ?? "";
    for (const m of attrText.matchAll(/-> ([\w.]+): \w+\((.*)\)/g)) attrs[m[1]!] = m[2]!;
    spans.push({ traceId: field("Trace ID"), parentId: field("Parent ID"), id: field("ID"), name: field("Name"), kind: field("Kind"), status: field("Status code"), attributes: attrs });
  }
  return spans;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

async function agent(t: TestContext, cli: Cli, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "traced-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(cli.url), { requestInit: { headers } }));
  t.after(() => client.close());
  return client;
}

/** Every traceparent header the nodes received on `tools.>` and `node.*.tools.>` (a plain subscription sees each request too). */
function watchHeaders(t: TestContext, nc: { subscribe: (s: string, o: { callback: (e: unknown, m: { subject: string; headers?: { get(k: string): string } }) => void }) => { unsubscribe(): void } }): Array<{ subject: string; traceparent: string }> {
  const seen: Array<{ subject: string; traceparent: string }> = [];
  const subs = ["tools.>", "node.*.tools.>"].map((subject) =>
    nc.subscribe(subject, { callback: (_e, m) => seen.push({ subject: m.subject, traceparent: m.headers?.get("traceparent") ?? "" }) }));
  t.after(() => subs.forEach((s) => s.unsubscribe()));
  return seen;
}

test("OTEL_* decides: off by default, on with an exporter or an endpoint, never with OTEL_SDK_DISABLED", () => {
  assert.equal(tracingConfigured({}), false);
  assert.equal(tracingConfigured({ OTEL_SERVICE_NAME: "x" }), false, "a service name alone exports nothing");
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }), true);
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://localhost:4318/v1/traces" }), true);
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "otlp" }), true);
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x" }), false);
  assert.equal(tracingConfigured({ OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "otlp" }), false);
});

test("one trace agent → mesh-mcp → node in a real OTLP receiver: request span on the client's traceparent, mesh-call span under it, its context sent to the node", async (t) => {
  const otel = await collector(t);
  const env = await meshWithTools(t);
  const seen = watchHeaders(t, env.node.nc as never);
  const cli = await startCli(t, ["--nats", env.nats.url], {
    OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint,
    OTEL_SERVICE_NAME: "mesh-mcp-under-test",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
  await waitFor(() => /OpenTelemetry: tracing tool calls/.test(cli.stderr()), "mesh-mcp to say tracing is on", { timeoutMs: 10_000 });

  // The agent's own span: the trace it is in and the span that made the call.
  const traceId = hex(16);
  const agentSpan = hex(8);
  const client = await agent(t, cli);
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "calc__add"), "calc__add listed", { timeoutMs: 10_000 });
  const r = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 40 }, _meta: { traceparent: `00-${traceId}-${agentSpan}-01`, tracestate: "agent=1" } });
  assert.equal(r.isError, undefined, JSON.stringify(r));

  const spans = await waitFor(() => {
    const mine = otel.spans().filter((s) => s.traceId === traceId);
    return mine.length >= 2 ? mine : undefined;
  }, "both spans of the call in the collector", { timeoutMs: 20_000 });
  if (process.env.OTEL_TEST_DUMP) writeFileSync(process.env.OTEL_TEST_DUMP, JSON.stringify(spans, null, 1));
  const request = spans.find((s) => s.name === "tools/call calc__add");
  const call = spans.find((s) => s.name === "mesh calc.add");
  assert.ok(request && call, `spans seen: ${JSON.stringify(spans)}`);
  assert.equal(request.parentId, agentSpan, "the request span is a child of the agent's span");
  assert.match(request.kind, /Server/);
  assert.equal(request.attributes["mcp.method.name"], "tools/call");
  assert.equal(request.attributes["gen_ai.tool.name"], "calc__add");
  assert.equal(call.parentId, request.id, "the mesh call is a child of the request");
  assert.match(call.kind, /Client/);
  assert.equal(call.attributes["mesh.tool"], "calc");
  assert.equal(call.attributes["mesh.method"], "add");
  assert.equal(call.attributes["mesh.node"], "n1");
  assert.equal(call.attributes["mesh.outcome"], "ok");
  assert.ok(call.attributes["mesh.call_id"], "the mesh call id");
  assert.match(otel.output(), /service\.name: Str\(mesh-mcp-under-test\)/, "OTEL_SERVICE_NAME names the service");

  // The node received the traceparent naming mesh-mcp's mesh-call span (the trace goes on to it), and the agent's tracestate.
  const atNode = seen.filter((s) => s.subject.endsWith("calc.add"));
  assert.ok(atNode.length > 0, "the request reached the node");
  assert.equal(atNode[0]!.traceparent, `00-${traceId}-${call.id}-01`);

  // A failing call: its spans say so.
  const bad = await client.callTool({ name: "calc__add", arguments: { a: "x" }, _meta: { traceparent: `00-${traceId}-${agentSpan}-01` } });
  assert.equal(bad.isError, true);
  const failed = await waitFor(() => otel.spans().find((s) => s.traceId === traceId && s.name === "mesh calc.add" && s.attributes["mesh.outcome"] === "invalid"), "the failed call's span", { timeoutMs: 20_000 });
  assert.match(failed.status, /Error/);
});

test("without _meta.traceparent the request span is parented on the HTTP traceparent header", async (t) => {
  const otel = await collector(t);
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url], { OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" });
  await waitFor(() => /OpenTelemetry: tracing tool calls/.test(cli.stderr()), "tracing on", { timeoutMs: 10_000 });
  const traceId = hex(16);
  const httpSpan = hex(8);
  const client = await agent(t, cli, { traceparent: `00-${traceId}-${httpSpan}-01` });
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "calc__add"), "calc__add listed", { timeoutMs: 10_000 });
  await client.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } });
  const request = await waitFor(() => otel.spans().find((s) => s.traceId === traceId && s.name === "tools/call calc__add"), "the request span", { timeoutMs: 20_000 });
  assert.equal(request.parentId, httpSpan);
});

test("every MCP request gets a SERVER span (2025 over HTTP): tools/list, resources/read, a built-in tool, initialize; errors carry error.type; the session id only as a digest", async (t) => {
  const otel = await collector(t);
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url], { OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" });
  await waitFor(() => /OpenTelemetry: tracing tool calls/.test(cli.stderr()), "tracing on", { timeoutMs: 10_000 });
  // The HTTP header parents what carries no _meta.traceparent (initialize among them).
  const headerTrace = hex(16);
  const httpSpan = hex(8);
  const client = await agent(t, cli, { traceparent: `00-${headerTrace}-${httpSpan}-01` });
  const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "calc__add"), "calc__add listed", { timeoutMs: 10_000 });

  const traceId = hex(16);
  const agentSpan = hex(8);
  const meta = { traceparent: `00-${traceId}-${agentSpan}-01` };
  await client.listTools({ _meta: meta });
  const nodes = await client.readResource({ uri: "mesh://nodes", _meta: meta });
  assert.match(JSON.stringify(nodes.contents), /n1/);
  await assert.rejects(client.readResource({ uri: "mesh://files/no/such/file.txt", _meta: meta }), /no\/such\/file\.txt/);
  const upload = await client.callTool({ name: "mesh_upload_file", arguments: { path: "/etc/hostname" }, _meta: meta });
  assert.equal(upload.isError, true, "no --allow-dir: a remote client may not upload");
  const sum = await client.callTool({ name: "calc__add", arguments: { a: 1, b: 2 }, _meta: meta });
  assert.equal(sum.isError, undefined, JSON.stringify(sum));

  const spans = await waitFor(() => {
    const mine = otel.spans().filter((s) => s.traceId === traceId);
    return mine.length >= 6 ? mine : undefined;
  }, "six spans in the agent's trace", { timeoutMs: 20_000 });
  const named = (name: string) => spans.filter((s) => s.name === name);
  const list = named("tools/list");
  assert.equal(list.length, 1, `spans: ${JSON.stringify(spans)}`);
  assert.equal(list[0]!.parentId, agentSpan, "tools/list is a child of the agent's span");
  assert.match(list[0]!.kind, /Server/);
  assert.equal(list[0]!.attributes["mcp.method.name"], "tools/list");
  assert.ok(list[0]!.attributes["jsonrpc.request.id"], "the JSON-RPC request id");
  assert.equal(list[0]!.attributes["error.type"], undefined);
  const sessionAttr = list[0]!.attributes["mcp.session.id"];
  assert.match(sessionAttr ?? "", /^[0-9a-f]{16}$/, "the session, as a digest");
  assert.ok(!JSON.stringify(spans).includes(sessionId) && !otel.output().includes(sessionId), "the session id itself never reaches the traces");

  const reads = named("resources/read");
  assert.equal(reads.length, 2);
  const ok = reads.find((s) => s.attributes["mcp.resource.uri"] === "mesh://nodes");
  const missing = reads.find((s) => s.attributes["mcp.resource.uri"] === "mesh://files/no/such/file.txt");
  assert.ok(ok && missing, JSON.stringify(reads));
  assert.equal(ok.parentId, agentSpan);
  assert.equal(ok.attributes["error.type"], undefined);
  assert.equal(missing.attributes["error.type"], "-32002", "a JSON-RPC error: error.type is its code");
  assert.match(missing.status, /Error/);

  const builtin = named("tools/call mesh_upload_file");
  assert.equal(builtin.length, 1);
  assert.equal(builtin[0]!.parentId, agentSpan);
  assert.equal(builtin[0]!.attributes["gen_ai.tool.name"], "mesh_upload_file");
  assert.equal(builtin[0]!.attributes["error.type"], "tool_error", "an isError result: the conventions' tool_error");
  assert.match(builtin[0]!.status, /Error/);

  // The SDK path's tools/call: one request span (not two), the mesh call under it.
  const calls = named("tools/call calc__add");
  assert.equal(calls.length, 1, `one request span: ${JSON.stringify(calls)}`);
  assert.equal(calls[0]!.parentId, agentSpan);
  const mesh = named("mesh calc.add");
  assert.equal(mesh.length, 1);
  assert.equal(mesh[0]!.parentId, calls[0]!.id, "the mesh call is a child of the tools/call span");
  assert.equal(calls[0]!.attributes["mesh.outcome"], "ok");

  // initialize (no _meta.traceparent) is parented on the HTTP header.
  const init = otel.spans().find((s) => s.name === "initialize");
  assert.ok(init, "an initialize span");
  assert.equal(init.traceId, headerTrace);
  assert.equal(init.parentId, httpSpan);
});

test("2026-07-28 over HTTP: tools/list and server/discover get request spans; a mesh call has one tools/call span with the mesh call under it", async (t) => {
  const otel = await collector(t);
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url], { OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" });
  await waitFor(() => /OpenTelemetry: tracing tool calls/.test(cli.stderr()), "tracing on", { timeoutMs: 10_000 });
  const client = new V2Client({ name: "traced-v2", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new V2Http(new URL(cli.url)));
  t.after(() => client.close());
  assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
  const traceId = hex(16);
  const agentSpan = hex(8);
  const meta = { traceparent: `00-${traceId}-${agentSpan}-01` };
  await waitFor(async () => (await client.listTools({ _meta: meta }, { cacheMode: "bypass" } as never)).tools.some((x) => x.name === "calc__add"), "calc__add listed", { timeoutMs: 10_000 });
  const r = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 }, _meta: meta });
  assert.equal((r.content as Array<{ text: string }>)[0]!.text, "5");
  await assert.rejects(client.readResource({ uri: "mesh://nope", _meta: meta }, { cacheMode: "bypass" } as never));

  const spans = await waitFor(() => {
    const mine = otel.spans().filter((s) => s.traceId === traceId);
    return mine.some((s) => s.name === "tools/list") && mine.some((s) => s.name === "mesh calc.add") && mine.some((s) => s.name === "resources/read") ? mine : undefined;
  }, "the 2026 requests' spans", { timeoutMs: 20_000 });
  const list = spans.find((s) => s.name === "tools/list")!;
  assert.equal(list.parentId, agentSpan);
  assert.equal(list.attributes["mcp.method.name"], "tools/list");
  const calls = spans.filter((s) => s.name === "tools/call calc__add");
  assert.equal(calls.length, 1, `one request span per call: ${JSON.stringify(spans)}`);
  assert.equal(calls[0]!.parentId, agentSpan);
  const mesh = spans.find((s) => s.name === "mesh calc.add")!;
  assert.equal(mesh.parentId, calls[0]!.id);
  const read = spans.find((s) => s.name === "resources/read")!;
  assert.ok(read.attributes["error.type"], `a failed read names its error: ${JSON.stringify(read)}`);
  // server/discover (the client's first request, no traceparent of ours): a root span of its own.
  await waitFor(() => otel.spans().find((s) => s.name === "server/discover"), "a server/discover span", { timeoutMs: 20_000 });
});

test("stdio (2025): requests other than tools/call get spans too, on _meta.traceparent; no session id there", async (t) => {
  const otel = await collector(t);
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const client = await env.client({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" } });
  await waitFor(() => /OpenTelemetry: tracing tool calls/.test(client.stderr), "tracing on", { timeoutMs: 10_000 });
  await waitFor(async () => (await client.client.listTools()).tools.some((x) => x.name === "calculator__add"), "calculator__add listed", { timeoutMs: 10_000 });
  const traceId = hex(16);
  const agentSpan = hex(8);
  const meta = { traceparent: `00-${traceId}-${agentSpan}-01` };
  await client.client.listResourceTemplates({ _meta: meta });
  await assert.rejects(client.client.callTool({ name: 42 as never, _meta: meta }), /name/);
  const spans = await waitFor(() => {
    const mine = otel.spans().filter((s) => s.traceId === traceId);
    return mine.length >= 2 ? mine : undefined;
  }, "the stdio requests' spans", { timeoutMs: 20_000 });
  const templates = spans.find((s) => s.name === "resources/templates/list");
  assert.ok(templates, JSON.stringify(spans));
  assert.equal(templates.parentId, agentSpan);
  assert.equal(templates.attributes["mcp.session.id"], undefined, "stdio has no session id");
  const bad = spans.find((s) => s.name === "tools/call");
  assert.ok(bad, JSON.stringify(spans));
  assert.equal(bad.attributes["error.type"], "-32602", "invalid params: its JSON-RPC code");
});

test("tracing off (no OTEL_*): no SDK, and the client's traceparent reaches the node unchanged", async (t) => {
  const env = await meshWithTools(t);
  const seen = watchHeaders(t, env.node.nc as never);
  const cli = await startCli(t, ["--nats", env.nats.url]);
  const client = await agent(t, cli);
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "calc__add"), "calc__add listed", { timeoutMs: 10_000 });
  const parent = `00-${hex(16)}-${hex(8)}-01`;
  await client.callTool({ name: "calc__add", arguments: { a: 1, b: 2 }, _meta: { traceparent: parent } });
  await waitFor(() => seen.some((s) => s.subject.endsWith("calc.add")), "the request at the node");
  assert.equal(seen.find((s) => s.subject.endsWith("calc.add"))!.traceparent, parent);
  assert.doesNotMatch(cli.stderr(), /OpenTelemetry/);
});

test("stdio: the console exporter is refused (stdout carries the protocol) and calls work untraced", async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const client = await env.client({ env: { OTEL_TRACES_EXPORTER: "console", OTEL_BSP_SCHEDULE_DELAY: "50" } });
  await waitFor(async () => (await client.client.listTools()).tools.some((x) => x.name === "calculator__add"), "calculator__add listed", { timeoutMs: 10_000 });
  const r = await client.client.callTool({ name: "calculator__add", arguments: { a: 2, b: 40 } });
  assert.deepEqual(r.content, [{ type: "text", text: "42" }]);
  await waitFor(() => /OpenTelemetry: tracing is off: OTEL_TRACES_EXPORTER=console writes to stdout/.test(client.stderr), "the refusal on stderr");
});
