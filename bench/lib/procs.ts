/**
 * Processes of the benchmark: the nats-server, the example-style nodes (TypeScript
 * children run through tsx), the mesh-mcp server (dist/cli.js), and /proc readings.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NatsServer } from "../../test/helpers/nats-server.js";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** The mesh-mcp under test; MESH_MCP_BENCH_CLI points at another build for an A/B run. */
export const CLI = process.env.MESH_MCP_BENCH_CLI ?? join(ROOT, "dist", "cli.js");
export const BENCH_DIR = join(ROOT, "bench");

/**
 * The bench nats-server: JetStream on, and max_payload raised to 96 MB so that the
 * `files.*` path (whole object base64-encoded in one reply) can carry a 50 MB object.
 * The default 1 MiB limit would stop files.* at ~750 KB of content.
 */
export const BENCH_MAX_PAYLOAD = "96MB";

export async function startBenchNats(): Promise<{ server: NatsServer; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-bench-"));
  const conf = join(dir, "nats.conf");
  writeFileSync(conf, `max_payload: ${BENCH_MAX_PAYLOAD}\nmax_pending: 256MB\n`);
  const server = await NatsServer.start({ args: ["-c", conf] });
  return {
    server,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port nothing listens on (for "NATS unreachable"). */
export { freePort } from "../../test/helpers/nats-server.js";

export interface Child {
  proc: ChildProcess;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
  /** What the child printed after `ready` (an HTTP child's URL), if anything. */
  readyInfo?: string;
}

/** Waits for `proc` to print a line matching `ready` on stdout (or `stream`), failing if it exits first. */
function waitForLine(proc: ChildProcess, stream: "stdout" | "stderr", ready: RegExp, timeoutMs: number, what: string, errText: () => string): Promise<RegExpMatchArray> {
  return new Promise((resolvePromise, reject) => {
    let buf = "";
    const src = proc[stream]!;
    const timer = setTimeout(() => done(new Error(`${what} did not get ready within ${timeoutMs} ms: ${errText().slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += String(d);
      const m = buf.match(ready);
      if (m) done(undefined, m);
    };
    const onExit = (code: number | null) => done(new Error(`${what} exited (code ${code}) before it was ready: ${errText().trim().slice(-500)}`));
    const done = (err?: Error, m?: RegExpMatchArray) => {
      clearTimeout(timer);
      src.off("data", onData);
      proc.off("exit", onExit);
      if (err) reject(err);
      else resolvePromise(m!);
    };
    src.on("data", onData);
    proc.once("exit", onExit);
  });
}

async function stopProc(proc: ChildProcess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

/** Runs `bench/<script>` under tsx and waits for it to print `ready`. */
export async function startTsChild(script: string, args: string[], opts: { timeoutMs?: number; nodeArgs?: string[] } = {}): Promise<Child> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), "--import", "tsx", join(BENCH_DIR, script), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (d) => (err = (err + String(d)).slice(-20_000)));
  proc.stdout!.resume();
  const m = await waitForLine(proc, "stdout", /^ready\b[ \t]*(\S*)/m, opts.timeoutMs ?? 60_000, script, () => err);
  return { proc, pid: proc.pid!, stderr: () => err, stop: () => stopProc(proc), readyInfo: m[1] || undefined };
}

export interface HttpServer extends Child {
  url: string;
}

/**
 * Starts `node dist/cli.js --transport http --port 0` and finds its URL in the log.
 * Rejects (with the server's own message) when the transport is not available.
 */
export async function startHttpServer(natsUrl: string, opts: { nodeArgs?: string[]; extraArgs?: string[]; cli?: string } = {}): Promise<HttpServer> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? CLI, "--transport", "http", "--port", "0", "--log-level", "info", ...(opts.extraArgs ?? [])], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NATS_URL: natsUrl },
  });
  let err = "";
  proc.stderr!.on("data", (d) => (err = (err + String(d)).slice(-20_000)));
  proc.stdout!.on("data", (d) => (err = (err + String(d)).slice(-20_000)));
  const m = await waitForLine(proc, "stderr", /Streamable HTTP at (https?:\/\/(?:\[[^\]]+\]|[\w.-]+):(\d+))(\/[\w/.-]*)?/, 20_000, "mesh-mcp --transport http", () => err);
  const base = m[1]!;
  const path = m[3] && m[3] !== "/" ? m[3] : "/mcp";
  return { proc, pid: proc.pid!, url: `${base}${path}`, stderr: () => err, stop: () => stopProc(proc) };
}

export interface ProcMemory {
  rssKb: number;
  hwmKb: number;
}

/** VmRSS and VmHWM (peak RSS) of a process, from /proc/<pid>/status. */
export function procMemory(pid: number): ProcMemory {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

/** Machine facts for the report. */
export function machine(): { nproc: number; cpu: string; node: string; platform: string; memGb: number } {
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? "unknown";
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return {
    nproc: availableParallelism(),
    cpu,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memGb: mem ? Math.round(Number(mem) / 1024 / 1024) : 0,
  };
}

/** Starts the HTTP server, or explains why it cannot (the transport may not have landed yet). */
export async function tryStartHttp(natsUrl: string, opts: { nodeArgs?: string[]; extraArgs?: string[]; cli?: string } = {}): Promise<{ server: HttpServer } | { skip: string }> {
  try {
    return { server: await startHttpServer(natsUrl, opts) };
  } catch (err) {
    const msg = (err as Error).message.replace(/\s+/g, " ").trim();
    return { skip: `HTTP skipped: \`mesh-mcp --transport http --port 0\` did not start (${msg.slice(0, 300)})` };
  }
}
