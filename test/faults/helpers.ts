/**
 * Shared kit of the fault suite: NATS outages at the same port, a loopback
 * nats-server cluster, mesh nodes in their own process (so they can be SIGKILLed),
 * misbehaving nodes built from raw NATS, process memory, and a seeded PRNG.
 * Everything a test starts is stopped in `t.after`, pass or fail.
 */
import type { TestContext } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { NatsServer, freePort } from "../helpers/nats-server.js";
import { ROOT, sleep, textOf, trackProcess, waitFor } from "../helpers/mcp.js";

export { NatsServer, freePort };

// ---------------------------------------------------------------- small things

export const ms = (t0: number): number => Math.round(performance.now() - t0);

/** Resident and peak resident memory of a Linux process, in MB (from /proc). */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: Math.round(kb("VmRSS") / 1024), peakMb: Math.round(kb("VmHWM") / 1024) };
}

/** A small seeded PRNG (mulberry32): the fuzzers replay the same inputs on every run. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}

/** The result's text, or the thrown error's message: what a user reads either way. */
export interface Settled {
  result?: CallToolResult;
  /** A thrown error (JSON-RPC error, client timeout, dropped connection). */
  error?: Error;
  text: string;
  /** When it settled (performance.now()). */
  at: number;
}

export async function settle(p: Promise<CallToolResult>): Promise<Settled> {
  try {
    const result = await p;
    return { result, text: textOf(result), at: performance.now() };
  } catch (err) {
    return { error: err as Error, text: (err as Error).message, at: performance.now() };
  }
}

/** Describes a settled call for assertion messages. */
export function show(s: Settled): string {
  if (s.error) return `threw ${s.error.name}: ${s.error.message}`;
  return `${s.result?.isError ? "isError" : "ok"}: ${s.text.slice(0, 300)}`;
}

// ---------------------------------------------------------------- NATS

/** A temporary nats-server config file (e.g. `max_payload`), removed after the test. */
export function natsConfig(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-faults-conf-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "nats.conf");
  writeFileSync(file, text);
  return file;
}

/**
 * Kills `server` (like a crash), keeps it down for `downMs`, then starts it again
 * on the same port and store. Resolves with the moment it listens again.
 */
export async function outage(server: NatsServer, downMs: number): Promise<number> {
  await server.kill();
  await sleep(downMs);
  await server.restart();
  return performance.now();
}

/** GET a nats-server monitoring endpoint (`-m PORT`) as JSON. */
export function monitor<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("error", reject);
    req.setTimeout(2000, () => req.destroy(new Error(`monitoring ${path} on ${port} did not answer`)));
  });
}

/** Three (or `size`) nats-servers on loopback, routed into one cluster, each with a monitoring port. */
export class NatsCluster {
  private constructor(readonly servers: NatsServer[], readonly monitorPorts: number[]) {}

  static async start(t: TestContext, size = 3): Promise<NatsCluster> {
    const clusterPorts: number[] = [];
    const monitorPorts: number[] = [];
    for (let i = 0; i < size; i++) {
      clusterPorts.push(await freePort());
      monitorPorts.push(await freePort());
    }
    const servers: NatsServer[] = [];
    t.after(() => Promise.all(servers.map((s) => s.stop())));
    for (let i = 0; i < size; i++) {
      const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(",");
      servers.push(
        await NatsServer.start({
          jetstream: false,
          args: [
            "--server_name", `fault-${i}`,
            "--cluster_name", "faults",
            "--cluster", `nats://127.0.0.1:${clusterPorts[i]}`,
            "--routes", routes,
            "-m", String(monitorPorts[i]),
          ],
        }),
      );
    }
    const cluster = new NatsCluster(servers, monitorPorts);
    await waitFor(async () => {
      const routes = await Promise.all(monitorPorts.map((p) => monitor<{ num_routes: number }>(p, "/routez")));
      return routes.every((r) => r.num_routes >= size - 1);
    }, "the cluster's routes", { timeoutMs: 10_000, intervalMs: 100 });
    return cluster;
  }

  url(i: number): string {
    return this.servers[i]!.url;
  }

  /** Index of the server holding a client connection named `name` (-1 when none does). */
  async serverOf(name: string): Promise<number> {
    for (let i = 0; i < this.servers.length; i++) {
      try {
        const connz = await monitor<{ connections?: Array<{ name?: string }> }>(this.monitorPorts[i]!, "/connz");
        if (connz.connections?.some((c) => c.name === name)) return i;
      } catch {
        /* that server is down */
      }
    }
    return -1;
  }
}

// ---------------------------------------------------------------- a node in its own process

const NODE_SCRIPT = join(ROOT, "test", "faults", "node-process.ts");

/**
 * A mesh node in a child process (test/faults/node-process.ts): `slow.sleep` and
 * the streaming `counter.count`. It prints `started <tool.method> <call_id>` when a
 * handler starts, so a test kills it while a call is known to be running.
 */
export class NodeProcess {
  private lines: string[] = [];
  stderr = "";

  private constructor(readonly proc: ChildProcess, readonly node: string) {}

  static async start(t: TestContext, natsUrl: string, node: string): Promise<NodeProcess> {
    const proc = spawn(process.execPath, ["--import", "tsx", NODE_SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: natsUrl, MESH_NODE: node },
      stdio: ["ignore", "pipe", "pipe"],
    });
    trackProcess(proc);
    const np = new NodeProcess(proc, node);
    t.after(() => np.kill());
    let buf = "";
    proc.stdout!.on("data", (d) => {
      buf += String(d);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      np.lines.push(...parts);
    });
    proc.stderr!.on("data", (d) => (np.stderr += String(d)));
    await waitFor(() => np.lines.includes("ready") || proc.exitCode !== null, `node process ${node} to be ready`, { timeoutMs: 15_000, intervalMs: 20 });
    if (!np.lines.includes("ready")) throw new Error(`node process ${node} exited (${proc.exitCode}):\n${np.stderr}`);
    return np;
  }

  /** Waits until a handler of `key` (`tool.method`) started; returns its call id. */
  async started(key: string, timeoutMs = 10_000): Promise<string> {
    const line = await waitFor(() => this.lines.find((l) => l.startsWith(`started ${key} `)), `${key} to start on node ${this.node}`, { timeoutMs, intervalMs: 10 });
    return line.split(" ")[2] ?? "";
  }

  /** The call ids of every handler started so far, in order. */
  startedIds(): string[] {
    return this.lines.filter((l) => l.startsWith("started ")).map((l) => l.split(" ")[2] ?? "");
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
  }
}

// ---------------------------------------------------------------- misbehaving nodes (raw NATS)

/** A raw NATS connection (closed after the test) that reconnects quickly, like a node would. */
export async function rawConnection(t: TestContext, url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, reconnectTimeWait: 200, maxReconnectAttempts: -1, name: "fault-raw-node" });
  t.after(() => nc.close().catch(() => {}));
  return nc;
}

export interface RawEndpoint {
  name: string;
  /** Endpoint metadata `schema`: an object (JSON-encoded here) or the raw string to publish. */
  schema?: Record<string, unknown> | string;
  /** Answers a request on `tools.<tool>.<name>` (and `.stream`); default: never answers. */
  answer?: (msg: Msg, nc: NatsConnection) => void | Promise<void>;
}

export interface RawNodeOptions {
  node: string;
  tool: string;
  endpoints: RawEndpoint[];
  /** Replaces the whole `$SRV.INFO` answer (garbage, wrong shapes). */
  info?: string | Uint8Array;
}

export interface RawNode {
  /** Every call request received (subject and parsed body). */
  requests: Array<{ subject: string; body: Record<string, unknown> }>;
  stop(): void;
}

/**
 * A "node" that speaks just enough of NATS micro (`$SRV.INFO`, `$SRV.PING`) to be
 * discovered and look alive, and answers calls (load-balanced and node-targeted
 * subjects) however the test says: the misbehaving nodes of the suite.
 * Subjects that are not valid NATS subjects (bad names) are advertised but not served.
 */
export async function rawNode(nc: NatsConnection, o: RawNodeOptions): Promise<RawNode> {
  const id = `raw${Math.random().toString(36).slice(2, 12)}`;
  const info = o.info ?? JSON.stringify({
    type: "io.nats.micro.v1.info_response",
    name: o.tool,
    id,
    version: "1.0.0",
    description: `misbehaving ${o.tool}`,
    metadata: { node: o.node },
    endpoints: o.endpoints.map((e) => ({
      name: e.name,
      subject: `tools.${o.tool}.${e.name}`,
      queue_group: "q",
      metadata: e.schema === undefined ? {} : { schema: typeof e.schema === "string" ? e.schema : JSON.stringify(e.schema) },
    })),
  });
  const subs: Array<{ unsubscribe(): void }> = [];
  const requests: RawNode["requests"] = [];
  const answerInfo = (_err: unknown, msg: Msg): void => void msg.respond(info);
  const ping = JSON.stringify({ type: "io.nats.micro.v1.ping_response", name: o.tool, id, version: "1.0.0", metadata: { node: o.node } });
  const answerPing = (_err: unknown, msg: Msg): void => void msg.respond(ping);
  const serve = (subject: string, callback: (err: unknown, msg: Msg) => void, queue?: string) => {
    try {
      subs.push(nc.subscribe(subject, { queue, callback }));
    } catch {
      /* not a valid subject (a bad name): advertised, but nothing can be served on it */
    }
  };
  serve("$SRV.INFO", answerInfo);
  serve(`$SRV.INFO.${o.tool}`, answerInfo);
  serve("$SRV.PING", answerPing);
  serve(`$SRV.PING.${o.tool}`, answerPing);
  serve(`$SRV.PING.${o.tool}.${id}`, answerPing);
  for (const e of o.endpoints) {
    const onCall = (_err: unknown, msg: Msg) => {
      let body: Record<string, unknown> = {};
      try {
        body = msg.json<Record<string, unknown>>();
      } catch {
        /* keep {} */
      }
      requests.push({ subject: msg.subject, body });
      void Promise.resolve(e.answer?.(msg, nc)).catch(() => {});
    };
    serve(`tools.${o.tool}.${e.name}`, onCall, "q");
    serve(`tools.${o.tool}.${e.name}.stream`, onCall);
    serve(`node.${o.node}.tools.${o.tool}.${e.name}`, onCall);
    serve(`node.${o.node}.tools.${o.tool}.${e.name}.stream`, onCall);
  }
  await nc.flush();
  return { requests, stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** Makes a running mesh-mcp look again now (a lifecycle event), instead of at its next periodic refresh. */
export function announce(nc: NatsConnection, node: string): void {
  nc.publish("events.tool.started", JSON.stringify({ type: "tool.started", node, timestamp: new Date().toISOString(), data: {} }));
}

/** Replies with `body` (a JSON value, or raw bytes/string when `raw`). */
export function reply(msg: Msg, body: unknown, raw = false): void {
  if (!msg.reply) return;
  msg.respond(raw ? (body as string | Uint8Array) : JSON.stringify(body));
}
