/**
 * A JSON-RPC line client for a mesh-mcp stdio process, the stdio counterpart of wrk
 * in the capacity section: it writes `tools/call` lines and reads answer lines with
 * JSON.parse and nothing else (no SDK `Protocol`, no zod), so the figure is the
 * server's cost, not the client's. The SDK-client rows stay beside it, labelled.
 *
 * 2025-11-25: `initialize` + `notifications/initialized`, then plain requests.
 * 2026-07-28: no handshake; every request carries the `_meta` envelope.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI, ROOT } from "./procs.js";

export type Era = "2025-11-25" | "2026-07-28";

export interface StdioLine {
  pid: number;
  /** One tools/call; resolves with its result, rejects on a JSON-RPC error or an isError result. */
  call(name: string, args: Record<string, unknown>): Promise<unknown>;
  /** Any request; resolves with the whole answer. */
  request(method: string, params?: Record<string, unknown>): Promise<{ result?: unknown; error?: { code: number; message: string } }>;
  stderr(): string;
  close(): Promise<void>;
}

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "mesh-mcp-bench-line", version: "0.1.0" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

export interface StdioLineOptions {
  nodeArgs?: string[];
  args?: string[];
  /** Another build's dist/cli.js (an A/B row in one run). */
  cli?: string;
  /** Progress notifications (their params); the server's pings are answered either way. */
  onProgress?: (params: { progressToken: string | number; progress: number }) => void;
}

export async function stdioLine(natsUrl: string, era: Era, opts: StdioLineOptions = {}): Promise<StdioLine> {
  const proc: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? CLI, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: natsUrl, MESH_MCP_LOG_LEVEL: "warning" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err = (err + String(d)).slice(-20_000)));
  const waiting = new Map<number, (m: { result?: unknown; error?: { code: number; message: string } }) => void>();
  // Chunks of the line being read, joined once its newline arrives (a 2 MB tools/list line
  // comes in ~30 chunks: appending and rescanning the whole string each time costs more
  // than the server's work).
  let chunks: string[] = [];
  proc.stdout!.on("data", (d: Buffer) => {
    const text = String(d);
    if (!text.includes("\n")) {
      chunks.push(text);
      return;
    }
    let partial = chunks.join("") + text;
    chunks = [];
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const m = JSON.parse(line) as { id?: number; method?: string; result?: unknown; error?: { code: number; message: string } };
      // Answers only: a server's own request (a ping) has a method and ids of its own.
      if (typeof m.id === "number" && m.method === undefined) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        w?.(m);
      } else if (m.method === "notifications/progress") {
        opts.onProgress?.((m as { params: { progressToken: string | number; progress: number } }).params);
      } else if (m.method === "ping" && m.id !== undefined) {
        // The 2025 session pings before a result that followed progress (its progress barrier).
        proc.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {} })}\n`);
      }
    }
    if (partial) chunks.push(partial);
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  void exited.then(() => {
    for (const w of waiting.values()) w({ error: { code: -1, message: `mesh-mcp exited: ${err.slice(-500)}` } });
    waiting.clear();
  });
  let nextId = 1;
  const request: StdioLine["request"] = (method, params = {}) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      const p = era === "2026-07-28" ? { ...params, _meta: { ...ENVELOPE, ...(params._meta as object | undefined) } } : params;
      proc.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params: p })}\n`);
    });
  if (era === "2025-11-25") {
    const init = await request("initialize", { protocolVersion: era, capabilities: {}, clientInfo: { name: "mesh-mcp-bench-line", version: "0.1.0" } });
    if (init.error) throw new Error(`initialize failed: ${init.error.message}`);
    proc.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
  }
  return {
    pid: proc.pid!,
    request,
    async call(name, args) {
      const m = await request("tools/call", { name, arguments: args });
      if (m.error) throw new Error(`${name}: ${m.error.message}`);
      const r = m.result as { isError?: boolean; content?: unknown };
      if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
      return r;
    },
    stderr: () => err,
    async close() {
      if (proc.exitCode !== null) return;
      proc.stdin!.end();
      const t = setTimeout(() => proc.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Waits until tools/list over the line client names `tool`. */
export async function lineWaitForTool(c: StdioLine, tool: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await c.request("tools/list");
    const tools = (m.result as { tools?: Array<{ name: string }> } | undefined)?.tools ?? [];
    if (tools.some((t) => t.name === tool)) return;
    if (Date.now() > deadline) throw new Error(`${tool} not listed within ${timeoutMs} ms: ${JSON.stringify(m).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
