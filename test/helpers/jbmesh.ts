/**
 * The jb-mesh fixtures (test/jbmesh: a Go node serving tools the way a deployed
 * jb-mesh node does, a Go caller on jb-mesh's client paths, nats-server 2.12
 * built from the Go module proxy, jb-service's attach_file write on nats-py)
 * started as processes, like
 * nats-server.ts starts nats-server. `.ci/run` builds them; `ensureFixtures()`
 * builds them when missing (Go required).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./mcp.js";
import { NatsServer, type NatsServerOptions } from "./nats-server.js";
import { waitFor, within } from "./mesh.js";

export const FIXTURES = join(ROOT, "test", "jbmesh");
const BIN = join(FIXTURES, "bin");
export const NODE_BIN = join(BIN, "node");
export const CALLER_BIN = join(BIN, "caller");
export const NATS_212_BIN = join(BIN, "nats-server");
const PYTHON_BIN = join(BIN, "py", "bin", "python");
const ATTACH_PY = join(FIXTURES, "python", "attach_file.py");

let building: Promise<void> | undefined;

/** Runs test/jbmesh/build.sh once per process (a no-op when everything is built). */
export function ensureFixtures(): Promise<void> {
  building ??= new Promise((resolve, reject) => {
    execFile(join(FIXTURES, "build.sh"), { cwd: FIXTURES, timeout: 600_000 }, (err, _out, stderr) => {
      if (err || !existsSync(NODE_BIN) || !existsSync(CALLER_BIN) || !existsSync(NATS_212_BIN)) {
        reject(new Error(`building the jb-mesh fixtures failed (run test/jbmesh/build.sh; it needs Go and the module proxy):\n${stderr}`));
      } else resolve();
    });
  });
  return building;
}

/** The nats-server versions the interop suites run against. */
export type NatsFlavour = "2.9" | "2.12";
export const NATS_FLAVOURS: NatsFlavour[] = ["2.9", "2.12"];

/** 2.9 is Debian's (/usr/sbin or PATH), 2.12 the one build.sh installed. */
export async function startNats(flavour: NatsFlavour, opts: NatsServerOptions = {}): Promise<NatsServer> {
  if (flavour === "2.12") await ensureFixtures();
  return NatsServer.start({ ...opts, bin: flavour === "2.12" ? NATS_212_BIN : opts.bin });
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

export interface GoNodeOptions {
  natsUrl: string;
  name: string;
  /** Tools of the fixture's catalogue: calc, writer, slow, images (default), quirks, notebook. */
  tools?: string[];
  /** jb-mesh behaviour where versions differ: v0.0.9 registers the `files` tool, v0.0.2 does not. */
  flavour?: "v0.0.9" | "v0.0.2";
  /** Tools registered whose process is gone: calls fail with "tool X is not running". */
  notRunning?: string[];
  noStore?: boolean;
  /** Pause between `tool.started` and the tool's registration (ms). */
  registerDelayMs?: number;
  /** Pause between `node.left` and stopping the services on SIGTERM (ms, default 300). */
  stopDelayMs?: number;
  reconnectWaitMs?: number;
  /** No lifecycle events at all (a program on pkg/mesh alone). */
  noEvents?: boolean;
  /** Write attached files with jb-service's own code path: nats-py in a Python process. */
  pythonAttach?: boolean;
  /** jumpboot's wait for a cancelled method to answer (ms, default 5000 like jumpboot). */
  cancelGraceMs?: number;
  /** Start-up of the Python a REPL oneshot tool (`notebook`) gets per call (ms, default 250). */
  oneshotStartMs?: number;
}

/** One line the node printed on stdout: `{"ev": ..., ...}`. */
export interface NodeEvent {
  ev: string;
  tool?: string;
  method?: string;
  call_id?: string;
  params?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A running Go node fixture. */
export class GoNode {
  readonly events: NodeEvent[] = [];
  stderr = "";
  private proc!: ChildProcess;
  private exited!: Promise<void>;

  private constructor(readonly opts: GoNodeOptions) {}

  static async start(opts: GoNodeOptions): Promise<GoNode> {
    await ensureFixtures();
    const n = new GoNode(opts);
    await n.spawn();
    return n;
  }

  get name(): string {
    return this.opts.name;
  }

  private async spawn(): Promise<void> {
    const o = this.opts;
    const args = ["--nats", o.natsUrl, "--name", o.name, "--flavour", o.flavour ?? "v0.0.9"];
    if (o.tools) args.push("--tools", o.tools.join(","));
    if (o.notRunning?.length) args.push("--not-running", o.notRunning.join(","));
    if (o.noStore) args.push("--no-store");
    if (o.noEvents) args.push("--no-events");
    if (o.pythonAttach) args.push("--python", PYTHON_BIN, "--python-attach", ATTACH_PY);
    if (o.registerDelayMs) args.push("--register-delay", `${o.registerDelayMs}ms`);
    if (o.stopDelayMs !== undefined) args.push("--stop-delay", `${o.stopDelayMs}ms`);
    if (o.cancelGraceMs !== undefined) args.push("--cancel-grace", `${o.cancelGraceMs}ms`);
    if (o.oneshotStartMs !== undefined) args.push("--oneshot-start", `${o.oneshotStartMs}ms`);
    args.push("--reconnect-wait", `${o.reconnectWaitMs ?? 250}ms`);
    const since = this.events.length;
    const p = spawn(NODE_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = p;
    live.add(p);
    this.exited = new Promise((r) => p.once("exit", () => (live.delete(p), r())));
    let buf = "";
    p.stdout!.on("data", (d) => {
      buf += String(d);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.events.push(JSON.parse(line) as NodeEvent);
        } catch {
          this.stderr += `unparsable stdout: ${line}\n`;
        }
      }
    });
    p.stderr!.on("data", (d) => (this.stderr += String(d)));
    await this.waitForEvent("ready", undefined, { since, timeoutMs: 15_000 });
  }

  /** Waits for an event named `ev` (matching `match`) printed after index `since`. */
  waitForEvent(ev: string, match?: (e: NodeEvent) => boolean, { since = 0, timeoutMs = 5000 } = {}): Promise<NodeEvent> {
    return waitFor(
      () => {
        if (this.proc.exitCode !== null && ev !== "exit") throw new Error(`node ${this.name} exited: ${this.stderr}`);
        return this.events.slice(since).find((e) => e.ev === ev && (!match || match(e)));
      },
      `node ${this.name}: ${ev}`,
      { timeoutMs, intervalMs: 10 },
    );
  }

  /** Events named `ev` so far. */
  seen(ev: string, match?: (e: NodeEvent) => boolean): NodeEvent[] {
    return this.events.filter((e) => e.ev === ev && (!match || match(e)));
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Graceful stop (SIGTERM): node.left, then the services stop. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill("SIGTERM");
    await within(this.exited, 10_000, `node ${this.name} stop`).catch(() => this.proc.kill("SIGKILL"));
  }

  /** A crash: SIGKILL, no event, no unsubscribe. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** Starts the same node again (after stop or kill). */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }
}

/** What one caller command printed (parsed JSON) plus how it exited. */
export interface CallerRun<T = Record<string, unknown>> {
  out: T;
  code: number | null;
  stderr: string;
}

export interface CallerOptions {
  node?: string;
  /** The params (or admin body); null sends `"params": null`, as a Go caller passing nil does. */
  params?: Record<string, unknown> | null;
  /** Go duration (e.g. "5s"). */
  timeout?: string;
  cancelAfter?: string;
  cancelAfterFrames?: number;
}

/** Runs the Go caller once: `caller [flags] <command> <args...>`. */
export async function goCaller<T = Record<string, unknown>>(natsUrl: string, command: string[], o: CallerOptions = {}): Promise<CallerRun<T>> {
  await ensureFixtures();
  const args = ["--nats", natsUrl];
  if (o.node) args.push("--node", o.node);
  if (o.params !== undefined) args.push("--params", JSON.stringify(o.params));
  if (o.timeout) args.push("--timeout", o.timeout);
  if (o.cancelAfter) args.push("--cancel-after", o.cancelAfter);
  if (o.cancelAfterFrames) args.push("--cancel-after-frames", String(o.cancelAfterFrames));
  args.push(...command);
  return new Promise((resolve, reject) => {
    const p = spawn(CALLER_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(p);
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (d) => (stdout += String(d)));
    p.stderr!.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.once("error", reject);
    p.once("close", (code) => {
      clearTimeout(timer);
      live.delete(p);
      try {
        resolve({ out: JSON.parse(stdout) as T, code, stderr });
      } catch {
        reject(new Error(`caller ${args.join(" ")} printed no JSON (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** The Go nodes of one suite, started on its nats-server (`natsUrl` is read at each start); the suite kills `nodes` after. */
export function goNodes(natsUrl: () => string): { nodes: GoNode[]; start(o: Omit<GoNodeOptions, "natsUrl">): Promise<GoNode> } {
  const nodes: GoNode[] = [];
  return {
    nodes,
    async start(o) {
      const n = await GoNode.start({ natsUrl: natsUrl(), ...o });
      nodes.push(n);
      return n;
    },
  };
}
