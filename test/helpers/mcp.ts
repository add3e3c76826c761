/**
 * Shared setup for the end-to-end tests of the stdio MCP server: a real
 * nats-server, mesh nodes served from the test process (our own node side), and
 * the BUILT CLI (`node dist/cli.js`) spawned by the official SDK client over
 * stdio. Everything a test opens is closed when the test ends, pass or fail, and
 * no CLI process outlives the test file.
 */
import type { TestContext } from "node:test";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  ListRootsRequestSchema,
  type CallToolResult,
  type ClientCapabilities,
  type Notification,
  type Progress,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { Mesh, type MeshOptions } from "../../src/mesh/index.js";
import { NatsServer, type NatsServerOptions } from "./nats-server.js";
import { sleep, waitFor, within } from "./mesh.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = join(ROOT, "dist", "cli.js");

// ---------------------------------------------------------------- build

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function stale(): boolean {
  if (!existsSync(CLI)) return true;
  return newestMtime(join(ROOT, "src")) > statSync(CLI).mtimeMs;
}

let building: Promise<void> | undefined;

/**
 * Builds dist/ when dist/cli.js is missing or older than src/ (`npm test` builds
 * first, so this is a no-op there). A lock folder keeps concurrent test files from
 * building at the same time.
 */
export function ensureBuilt(): Promise<void> {
  building ??= (async () => {
    if (!stale()) return;
    const lock = join(ROOT, "dist", ".build-lock");
    mkdirSync(join(ROOT, "dist"), { recursive: true });
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        // Someone else builds: wait for them, then re-check.
        const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
        if (Date.now() > deadline || Date.now() - since > 120_000) {
          rmSync(lock, { recursive: true, force: true });
        }
        await sleep(200);
        if (!existsSync(lock) && !stale()) return;
      }
    }
    try {
      if (!stale()) return;
      // Only the server (what these tests spawn), not the examples `npm run build` also compiles.
      const failure = await new Promise<string | undefined>((done) =>
        execFile(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: ROOT }, (err, out, stderr) =>
          done(err ? `${out}${stderr}` : undefined),
        ),
      );
      if (failure !== undefined) {
        // tsc still emits on type errors; only a missing CLI is fatal.
        if (!existsSync(CLI)) throw new Error(`building dist/ (tsc -p tsconfig.build.json) failed:\n${failure}`);
        process.stderr.write(`warning: rebuilding dist/ reported errors; testing the CLI as built:\n${failure}\n`);
      }
      chmodSync(CLI, 0o755);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
  return building;
}

// ---------------------------------------------------------------- small utilities

export { deferred, sleep, SubjectLog, waitFor, within, type Deferred } from "./mesh.js";

/** All text content of a tool result, joined by newlines. */
export function textOf(r: { content?: unknown }): string {
  const content = (r.content ?? []) as Array<{ type: string; text?: string }>;
  return content.filter((c) => c.type === "text").map((c) => c.text ?? "").join("\n");
}

// ---------------------------------------------------------------- the MCP client

/** Every CLI process spawned by this test file; killed on exit as a last resort. */
const liveProcs = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of liveProcs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

export interface ClientOptions {
  /** NATS_URL for the CLI. */
  natsUrl: string;
  /** Extra CLI flags (e.g. `--stream-idle-timeout 1`). */
  args?: string[];
  /** Extra environment for the CLI. */
  env?: Record<string, string>;
  /** Folders the client shares as MCP roots (sets the roots capability). */
  roots?: string[];
  capabilities?: ClientCapabilities;
}

export interface RecordedNotification {
  method: string;
  params?: Record<string, unknown>;
  at: number;
}

/** One spawned `mesh-mcp` (the built CLI) with an SDK client connected over stdio. */
export class McpClient {
  /** Every notification the server sent, in order. */
  readonly notifications: RecordedNotification[] = [];
  stderr = "";
  /** How long connect (spawn + initialize) took, in ms. */
  connectMs = 0;
  proc!: ChildProcess;
  exited!: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly client: Client, readonly transport: StdioClientTransport) {}

  static async start(opts: ClientOptions): Promise<McpClient> {
    await ensureBuilt();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, ...(opts.args ?? [])],
      env: { NATS_URL: opts.natsUrl, ...opts.env },
      stderr: "pipe",
      cwd: ROOT,
    });
    const capabilities: ClientCapabilities = { ...opts.capabilities };
    if (opts.roots) capabilities.roots = { listChanged: true };
    const client = new Client({ name: "mesh-mcp-e2e", version: "1.0.0" }, { capabilities });
    if (opts.roots) {
      const roots = opts.roots.map((dir) => ({ uri: `file://${dir}`, name: dir }));
      client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
    }
    const mc = new McpClient(client, transport);
    transport.stderr?.on("data", (d) => (mc.stderr += String(d)));
    client.fallbackNotificationHandler = async (n: Notification) => {
      mc.notifications.push({ method: n.method, params: n.params as Record<string, unknown> | undefined, at: performance.now() });
    };
    // connect() calls start(), which spawns: wrap it to get hold of the process (exit code, signals).
    const start = transport.start.bind(transport);
    transport.start = async () => {
      await start();
      const proc = (transport as unknown as { _process?: ChildProcess })._process!;
      mc.proc = proc;
      liveProcs.add(proc);
      mc.exited = new Promise((r) => {
        if (proc.exitCode !== null || proc.signalCode !== null) r({ code: proc.exitCode, signal: proc.signalCode });
        else proc.once("exit", (code, signal) => r({ code, signal }));
      });
      void mc.exited.then(() => liveProcs.delete(proc));
    };
    const t0 = performance.now();
    try {
      await client.connect(transport);
    } catch (err) {
      mc.proc?.kill("SIGKILL");
      throw new Error(`MCP connect failed: ${(err as Error).message}\nstderr:\n${mc.stderr}`);
    }
    mc.connectMs = performance.now() - t0;
    return mc;
  }

  async listTools(): Promise<Tool[]> {
    return (await this.client.listTools()).tools;
  }

  async tool(name: string): Promise<Tool | undefined> {
    return (await this.listTools()).find((t) => t.name === name);
  }

  /** The nodes offering the tool named `name` now, sorted, as mesh://tools says ([] when not listed). */
  async nodesOf(name: string): Promise<string[]> {
    const r = await this.client.readResource({ uri: "mesh://tools" });
    const list = JSON.parse((r.contents[0] as { text: string }).text) as Array<{ name?: string; nodes: string[] }>;
    return [...(list.find((x) => x.name === name)?.nodes ?? [])].sort();
  }

  /** Waits until tools/list shows every one of `names` and returns the list. */
  async waitForTools(names: string[], timeoutMs = 5000): Promise<Tool[]> {
    return waitFor(async () => {
      const tools = await this.listTools();
      return names.every((n) => tools.some((t) => t.name === n)) ? tools : undefined;
    }, `tools ${names.join(", ")} in tools/list`, { timeoutMs, intervalMs: 100 });
  }

  call(name: string, args: Record<string, unknown> = {}, options?: Parameters<Client["callTool"]>[2]): Promise<CallToolResult> {
    return this.client.callTool({ name, arguments: args }, undefined, options) as Promise<CallToolResult>;
  }

  /** Calls with a progress token; returns the result and every progress notification. */
  async callWithProgress(name: string, args: Record<string, unknown> = {}, options: Parameters<Client["callTool"]>[2] = {}): Promise<{ result: CallToolResult; progress: Progress[] }> {
    const progress: Progress[] = [];
    const result = await this.call(name, args, { ...options, onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true });
    return { result, progress };
  }

  /** Notifications of `method` received so far (optionally only after `since`). */
  received(method: string, since = 0): RecordedNotification[] {
    return this.notifications.filter((n) => n.method === method && n.at >= since);
  }

  /** Waits for a notification of `method` (arriving after `since`, matching `match`). */
  waitForNotification(
    method: string,
    { since = 0, timeoutMs = 5000, match }: { since?: number; timeoutMs?: number; match?: (n: RecordedNotification) => boolean } = {},
  ): Promise<RecordedNotification> {
    return waitFor(
      () => this.notifications.find((n) => n.method === method && n.at >= since && (!match || match(n))),
      `notification ${method}`,
      { timeoutMs, intervalMs: 10 },
    );
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Closes the client (stdin end → the server exits), killing the process if it lingers. */
  async close(): Promise<void> {
    if (this.alive) {
      await within(this.client.close(), 6000, "client close").catch(() => {});
    }
    if (this.alive) this.proc.kill("SIGKILL");
    await within(this.exited, 3000, "CLI exit").catch(() => {});
  }
}

// ---------------------------------------------------------------- the per-test environment

export interface McpEnv {
  nats: NatsServer;
  /** A mesh serving as node `name` (closed after the test). */
  node(name: string, opts?: MeshOptions): Promise<Mesh>;
  /** A caller-only mesh (closed after the test); `.nc` is a raw NATS connection for fake nodes and watching. */
  mesh(opts?: MeshOptions): Promise<Mesh>;
  /** Spawns the built CLI against this env's NATS with an SDK client (closed after the test). */
  client(opts?: Omit<ClientOptions, "natsUrl"> & { natsUrl?: string }): Promise<McpClient>;
  /** Runs `fn` at cleanup, before clients and meshes close. */
  defer(fn: () => unknown): void;
}

/** Starts a nats-server for test `t`; everything opened through the env is closed when `t` ends. */
export async function mcpEnv(t: TestContext, natsOpts: NatsServerOptions = {}): Promise<McpEnv> {
  const [nats] = await Promise.all([NatsServer.start(natsOpts), ensureBuilt()]);
  const early: Array<() => unknown> = [];
  const clients: McpClient[] = [];
  const meshes: Mesh[] = [];
  t.after(async () => {
    const quietly = async (fn: () => unknown) => {
      try {
        await fn();
      } catch {
        /* keep cleaning up */
      }
    };
    for (const fn of early.reverse()) await quietly(() => within(Promise.resolve(fn()), 5000, "a deferred cleanup"));
    await Promise.all(clients.map((c) => quietly(() => c.close())));
    await Promise.all(meshes.map((m) => quietly(() => within(m.close(), 3000, "mesh close"))));
    await nats.stop();
  });
  const env: McpEnv = {
    nats,
    mesh: async (opts = {}) => {
      const m = await Mesh.connect({ servers: nats.url, reconnectWaitMs: 200, ...opts });
      meshes.push(m);
      return m;
    },
    node: (name, opts = {}) => env.mesh({ ...opts, node: name }),
    client: async (opts = {}) => {
      const c = await McpClient.start({ natsUrl: nats.url, ...opts });
      clients.push(c);
      return c;
    },
    defer: (fn) => void early.push(fn),
  };
  return env;
}

/** The calculator every test can use: add, echo of its params and context, and a failing method. */
export async function registerCalculator(node: Mesh, calls: Array<{ method: string; params: unknown; node: string }> = []): Promise<void> {
  await node.registerTool({
    name: "calculator",
    version: "1.2.0",
    description: "Adds numbers",
    methods: {
      add: {
        schema: {
          type: "object",
          description: "Add two numbers.",
          properties: { a: { type: "number", description: "first" }, b: { type: "number", description: "second" } },
          required: ["a", "b"],
        },
        handler: (p, ctx) => {
          calls.push({ method: "add", params: p, node: ctx.node });
          return (p.a as number) + (p.b as number);
        },
      },
      fail: {
        schema: { type: "object", properties: {} },
        handler: () => {
          throw new Error("division by zero");
        },
      },
    },
  });
}

/** Spawns the built CLI directly (no SDK), for the raw stdio checks and the one-shot commands. */
export function runCli(
  args: string[],
  { env = {}, timeoutMs = 15_000 }: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    liveProcs.add(p);
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += String(d)));
    p.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`mesh-mcp ${args.join(" ")} did not exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    p.once("error", reject);
    p.once("close", (code) => {
      clearTimeout(timer);
      liveProcs.delete(p);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Tracks a raw child process so the exit hook kills it if the test forgets. */
export function trackProcess(p: ChildProcess): void {
  liveProcs.add(p);
  p.once("exit", () => liveProcs.delete(p));
}
