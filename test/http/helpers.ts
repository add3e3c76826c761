/**
 * HTTP transport test kit: a real nats-server with a mesh node serving test tools,
 * the built CLI spawned with `--transport http --port 0` (its URL read from stderr),
 * SDK clients over Streamable HTTP, and raw HTTP requests for the status-code checks.
 * Everything a test opens is closed in `t.after`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import type { TestContext } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Mesh } from "../../src/mesh/index.js";
import { NatsServer } from "../helpers/nats-server.js";

export const CLI = new URL("../../dist/cli.js", import.meta.url).pathname;

export interface Cli {
  proc: ChildProcess;
  /** The MCP endpoint as logged by the CLI. */
  url: string;
  /** Base URL (no path). */
  base: string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  exited: Promise<number | string>;
}

/** Spawns `node dist/cli.js --transport http --port 0 ...args` and waits for its URL. */
export async function startCli(t: TestContext, args: string[], env: Record<string, string> = {}): Promise<Cli> {
  const proc = spawn(process.execPath, [CLI, "--transport", "http", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const exited = new Promise<number | string>((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL logged within 10 s:\n${err}`)), 10_000);
    proc.stderr!.on("data", (d) => {
      err += String(d);
      const m = /at (http:\/\/\S+\/mcp)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`mesh-mcp exited (${code}) before listening:\n${err}`));
    });
  });
  return { proc, url, base: url.replace(/\/mcp$/, ""), stderr: () => err, exited };
}

/** Runs a CLI that is expected to exit by itself; resolves with its code and stderr. */
export function runCli(args: string[], timeoutMs = 10_000): Promise<{ code: number | string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += String(d)));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, stderr: err });
    });
  });
}

export interface Env {
  nats: NatsServer;
  /** The mesh serving node "n1" (its `nc` is also handy for raw subscriptions). */
  node: Mesh;
  /** Calls seen by the `slow.wait` tool, resolved when each starts. */
  slowStarted(): Promise<string>;
}

/**
 * nats-server + node "n1" serving:
 * calc.add {a,b}; slow.wait {ms} (returns after ms or on cancel); slow.count {n} (a stream of n chunks).
 */
export async function meshWithTools(t: TestContext): Promise<Env> {
  const nats = await NatsServer.start();
  const node = await Mesh.connect({ servers: nats.url, node: "n1" });
  t.after(async () => {
    await node.close().catch(() => {});
    await nats.stop();
  });
  const started: Array<(callId: string) => void> = [];
  const startedQueue: string[] = [];
  await node.registerTool({
    name: "calc", version: "1.0.0", description: "Calculator",
    methods: {
      add: {
        schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
        handler: (p) => (p.a as number) + (p.b as number),
      },
    },
  });
  await node.registerTool({
    name: "slow", version: "1.0.0", description: "Slow things",
    methods: {
      wait: {
        schema: { type: "object", properties: { ms: { type: "number" } } },
        handler: (p, ctx) => {
          const id = ctx.request.call_id ?? "";
          const waiter = started.shift();
          if (waiter) waiter(id);
          else startedQueue.push(id);
          return new Promise((resolve) => {
            const timer = setTimeout(() => resolve({ waited: p.ms }), Number(p.ms ?? 60_000));
            ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve("cancelled")), { once: true });
          });
        },
      },
      count: {
        stream: true,
        schema: { type: "object", properties: { n: { type: "number" } } },
        handler: async (p, ctx) => {
          const n = Number(p.n ?? 3);
          for (let i = 1; i <= n; i++) {
            ctx.emit({ progress: i, total: n, message: `step ${i}` });
            await new Promise((r) => setTimeout(r, 30));
          }
          return { counted: n };
        },
      },
    },
  });
  return {
    nats,
    node,
    slowStarted: () => {
      const queued = startedQueue.shift();
      return queued !== undefined ? Promise.resolve(queued) : new Promise((r) => started.push(r));
    },
  };
}

/**
 * nats-server + node "n1" serving `job.run`, a stream of `n` chunks (`step i/n`, one per
 * `everyMs`, default 100) returning `{steps}`; the `label` of each run a cancel stopped
 * lands in `cancelled`. For task tests.
 */
export async function natsWithJob(t: TestContext): Promise<{ nats: NatsServer; cancelled: Set<string> }> {
  const nats = await NatsServer.start();
  const node = await Mesh.connect({ servers: nats.url, node: "n1" });
  const cancelled = new Set<string>();
  t.after(async () => {
    await node.close().catch(() => {});
    await nats.stop();
  });
  await node.registerTool({
    name: "job",
    methods: {
      run: {
        stream: true,
        handler: async (p, ctx) => {
          const n = p.n as number;
          for (let i = 1; i <= n && !ctx.signal.aborted; i++) {
            ctx.emit({ message: `step ${i}/${n}` });
            await new Promise((r) => setTimeout(r, (p.everyMs as number | undefined) ?? 100));
          }
          if (ctx.signal.aborted) cancelled.add(String(p.label));
          return { steps: n };
        },
      },
    },
  });
  return { nats, cancelled };
}

/** An SDK client connected over Streamable HTTP; closed after the test. */
export async function connectClient(t: TestContext, url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "http-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
  });
  await client.connect(transport);
  t.after(() => client.close().catch(() => {}));
  return client;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request (node:http, so Host and Origin can be anything). */
export function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

export const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});

/** Initializes a session with raw requests and returns its id. */
export async function rawSession(url: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await raw(url, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: INITIALIZE });
  if (r.status !== 200) throw new Error(`initialize: ${r.status} ${r.body}`);
  const id = r.headers["mcp-session-id"];
  if (typeof id !== "string") throw new Error("no Mcp-Session-Id");
  const note = await raw(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  if (note.status !== 202) throw new Error(`initialized: ${note.status} ${note.body}`);
  return id;
}

/** Polls until `probe` gives a truthy value. */
export async function waitFor<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
