/** The CLI's one-shot commands: `tools`, `call`, `doctor`. Output on stdout, diagnostics on stderr. */
import type { Config } from "./config.js";
import { Bridge, type BridgeOptions } from "./mcp/bridge.js";
import { builtinsFor } from "./mcp/builtins.js";
import { MethodFilter } from "./mcp/filters.js";
import { Logger } from "./mcp/log.js";
import { inputSchemaOf, ToolList, validateArgs } from "./mcp/tools.js";
import { FILES_TOOL, Mesh, NatsAuthError, parseKeyValuePairs, type JsonObject, type MeshOptions } from "./mesh/index.js";
import { scrub } from "./mesh/secrets.js";

// Credentials never reach the terminal either (a doctor report gets pasted into issues).
const out = (s: string) => process.stdout.write(scrub(s) + "\n");
const err = (s: string) => process.stderr.write(scrub(s) + "\n");

/** One connection attempt, no retry loop: a one-shot command says what failed and exits at once. */
async function connectedBridge(opts: BridgeOptions, config: Config): Promise<Bridge> {
  let mesh: Mesh;
  try {
    mesh = await Mesh.connect({ ...opts.mesh, connectTimeoutMs: 5000 });
  } catch (e) {
    throw new Error(`${(e as Error).message.replace(/^not connected to NATS: /, "")} (try: mesh-mcp doctor)`);
  }
  const { mesh: _ignored, ...rest } = opts;
  return Bridge.withMesh(mesh, rest, new Logger(config.logLevel === "info" ? "warning" : config.logLevel, true, config.logFormat));
}

/** `mesh-mcp tools`: what an agent would see. */
export async function runTools(config: Config, opts: BridgeOptions): Promise<number> {
  const bridge = await connectedBridge(opts, config);
  try {
    const tools = [...builtinsFor(config.admin).map((b) => b.tool), ...new ToolList(bridge).meshTools()];
    for (const t of tools) {
      out(`${t.name}`);
      out(`  ${(t.description ?? "").split("\n").join("\n  ")}`);
      const entry = bridge.methodByName(t.name);
      if (entry) out(`  offered by ${entry.nodes.length === 1 ? "node" : "nodes"} ${entry.nodes.join(", ")} (v${entry.version || "?"})`);
      out(`  inputSchema: ${JSON.stringify(t.inputSchema, null, 2).split("\n").join("\n  ")}`);
      out("");
    }
    err(`${tools.length} tools (${bridge.methods().length} mesh methods on ${bridge.catalog?.nodes().size ?? 0} nodes)`);
    return 0;
  } finally {
    await bridge.shutdown();
  }
}

/** `key=value` pairs → params; values parse as JSON where they parse; repeated keys → arrays. */
export function paramsFromPairs(pairs: string[]): JsonObject {
  const params: JsonObject = {};
  for (const [key, values] of parseKeyValuePairs(pairs)) {
    const parsed = values.map((v) => {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        return v;
      }
    });
    params[key] = parsed.length === 1 ? parsed[0] : parsed;
  }
  return params;
}

const CALL_USAGE = "usage: mesh-mcp call TOOL.METHOD|MCP_TOOL_NAME [key=value ...]   e.g. mesh-mcp call calculator.add a=2 b=3, or mesh-mcp call calculator__add a=2 b=3";

/**
 * `tool.method`, or an MCP tool name as `mesh-mcp tools` prints it (`calculator__add`,
 * looked up in the bridge's name table, never parsed: names may be shortened or hashed).
 */
function resolveTarget(target: string, bridge: Bridge): { tool: string; method: string } | string {
  const key = bridge.names.keyOf(target);
  const dotted = key ?? (target.includes(".") ? target : undefined);
  const dot = dotted?.indexOf(".") ?? -1;
  if (!dotted || dot <= 0 || dot === dotted.length - 1) {
    return `${JSON.stringify(target)} is neither TOOL.METHOD nor an MCP tool name of this mesh (see mesh-mcp tools).\n${CALL_USAGE}`;
  }
  return { tool: dotted.slice(0, dot), method: dotted.slice(dot + 1) };
}

/** `mesh-mcp call tool.method k=v …`: result JSON on stdout; stream chunks on stderr. */
export async function runCall(config: Config, opts: BridgeOptions, args: string[]): Promise<number> {
  const [target, ...pairs] = args;
  if (!target || target.startsWith(".") || target.endsWith(".") || target.includes("=")) {
    err(CALL_USAGE);
    return 2;
  }
  const params = paramsFromPairs(pairs);
  const bridge = await connectedBridge({ ...opts, include: [], exclude: [] }, config);
  const resolved = resolveTarget(target, bridge);
  if (typeof resolved === "string") {
    err(resolved);
    await bridge.shutdown();
    return 2;
  }
  const { tool, method } = resolved;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  try {
    const mesh = bridge.mesh!;
    const entry = bridge.catalog?.get(tool, method);
    const node = config.node[0];
    if (entry) {
      const problems = validateArgs(inputSchemaOf(entry), params, (m) => err(`warning: ${m}`));
      if (problems.length) {
        err(`${tool}.${method}: invalid arguments:\n- ${problems.join("\n- ")}`);
        return 2;
      }
    } else {
      err(`warning: ${tool}.${method} is not in the catalog; calling it anyway`);
    }
    if (entry?.stream) {
      for await (const f of mesh.stream(tool, method, params, { node, signal: ac.signal, inactivityTimeoutMs: config.streamIdleTimeout * 1000 })) {
        if (!f.done) err(`chunk: ${JSON.stringify(f.chunk)}`);
        else if (f.error !== undefined) {
          err(`${tool}.${method} failed on node ${f.node ?? "?"}: ${f.error}`);
          return 1;
        } else out(JSON.stringify(f.result, null, 2));
      }
      return 0;
    }
    const r = await mesh.call(tool, method, params, { node, signal: ac.signal, timeoutMs: config.callTimeout * 1000 });
    if (!r.ok) {
      err(`${tool}.${method} failed on node ${r.node}: ${r.error}`);
      return 1;
    }
    out(JSON.stringify(r.result, null, 2));
    return 0;
  } catch (e) {
    err(`${tool}.${method}: ${(e as Error).message}`);
    return 1;
  } finally {
    process.off("SIGINT", onSig);
    await bridge.shutdown();
  }
}

/** `mesh-mcp doctor`: what works, what does not, and what to do about it. */
export async function runDoctor(config: Config, meshOpts: MeshOptions): Promise<number> {
  let failed = false;
  const ok = (s: string) => out(`ok    ${s}`);
  const warn = (s: string) => out(`warn  ${s}`);
  const bad = (s: string) => {
    failed = true;
    out(`FAIL  ${s}`);
  };
  let mesh: Mesh;
  const t0 = performance.now();
  try {
    mesh = await Mesh.connect({ ...meshOpts, connectTimeoutMs: 3000 });
  } catch (e) {
    bad(`NATS: ${(e as Error).message.replace(/^not connected to NATS: /, "")}`);
    if (e instanceof NatsAuthError) out(`      fix: give mesh-mcp the credentials of a NATS user allowed on ${config.nats} (see "NATS permissions" in the README).`);
    else out(`      fix: start nats-server (e.g. \`nats-server -js\`), or point --nats / NATS_URL at your mesh (now ${config.nats}).`);
    return 1;
  }
  try {
    const info = mesh.serverInfo;
    ok(`NATS: connected to ${mesh.server} in ${(performance.now() - t0).toFixed(0)} ms (server ${info?.name ?? "?"} v${info?.version ?? "?"})`);
    if (info?.jetstream) ok("JetStream: enabled on the server");
    else warn("JetStream: not enabled on this server; the file store needs a node serving files.* (start nats-server with -js for the Object Store)");
    try {
      const mode = await mesh.files.mode();
      if (mode === "objectstore") {
        const n = (await mesh.files.list()).length;
        ok(`file store: Object Store "${mesh.files.bucket}" reachable (${n} objects)`);
      } else {
        const n = await mesh.files.list().then((l) => l.length, () => -1);
        if (n >= 0) ok(`file store: via files.* subjects (${n} objects)`);
        else warn("file store: neither the Object Store nor a files.* responder is reachable; file resources and uploads will fail");
      }
    } catch (e) {
      warn(`file store: ${(e as Error).message}`);
    }
    const t1 = performance.now();
    const cat = await mesh.catalog();
    const methods = cat.methods();
    const nodes = cat.nodes();
    const ms = (performance.now() - t1).toFixed(0);
    if (methods.length === 0) {
      bad(`discovery: no tools found in ${ms} ms`);
      out("      fix: start a jb-mesh node on this NATS server/account (or `npm run demo` for example nodes); check that NATS permissions allow $SRV.INFO.");
    } else {
      ok(`discovery: ${cat.services().length} services, ${methods.length} methods on ${nodes.size} nodes in ${ms} ms`);
      for (const [node, tools] of nodes) out(`      node ${node}: ${[...tools.keys()].join(", ")}`);
    }
    for (const m of methods) {
      if (m.schemaProblem) warn(`${m.tool}.${m.method}: ${m.schemaProblem}; agents get ${m.schemaSource === "fallback" ? "the node's schema-subject schema" : "an open object schema"}`);
      else if (m.schemaSource === "none") warn(`${m.tool}.${m.method}: no input schema published; agents get an open object schema (add one to the tool's manifest)`);
    }
    for (const problem of new MethodFilter(config.include, config.exclude).unmatched(methods)) warn(problem);
    if (!methods.some((m) => m.tool === FILES_TOOL)) warn("no node registers the built-in files tool (older nodes); file resources still work through the store");
    return failed ? 1 : 0;
  } finally {
    await mesh.close();
  }
}
