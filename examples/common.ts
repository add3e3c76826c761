/**
 * Shared bits of the example nodes: configuration from the environment, logging
 * (stderr only), parameter checks, an abortable sleep, and `runNode`, which connects,
 * registers and serves until SIGINT/SIGTERM.
 */
import { realpathSync } from "node:fs";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { Mesh, type JsonObject, type LogLevel } from "mesh-mcp";

export const DEFAULT_NATS_URL = "nats://localhost:4222";

/** Makes `name` one NATS subject token: dots and whitespace become `-`, wildcards are dropped. */
export function sanitiseNodeName(name: string): string {
  const token = name
    .trim()
    .replace(/[.\s]+/g, "-")
    .replace(/[*>]/g, "");
  return token || "node";
}

export interface NodeEnv {
  /** NATS_URL: one URL or a comma-separated list. */
  natsUrl: string;
  /** MESH_NODE, else the host name made into a subject token. */
  node: string;
}

/** Reads NATS_URL (default nats://localhost:4222) and MESH_NODE (default: the sanitised host name). */
export function readEnv(env: NodeJS.ProcessEnv = process.env, host: string = hostname()): NodeEnv {
  return {
    natsUrl: env.NATS_URL?.trim() || DEFAULT_NATS_URL,
    // An explicit MESH_NODE is used as given: an invalid one fails loudly at registration.
    node: env.MESH_NODE?.trim() || sanitiseNodeName(host),
  };
}

/** A logger writing `<time> [<label>] <level>: <message>` to stderr (stdout stays clean). */
export function stderrLogger(label: string): (level: LogLevel, message: string) => void {
  return (level, message) => {
    if (level === "debug" && !process.env.MESH_DEBUG) return;
    process.stderr.write(`${new Date().toISOString()} [${label}] ${level}: ${message}\n`);
  };
}

/**
 * True when the module with this `import.meta.url` is the program being run
 * (`npx tsx examples/x.ts`, `node dist/examples/x.js`), false when it is imported.
 */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  let path = script;
  try {
    path = realpathSync(script);
  } catch {
    /* keep the path as given */
  }
  const strip = (u: string) => u.replace(/[?#].*$/, "");
  return strip(importMetaUrl) === pathToFileURL(path).href;
}

// ---------------- parameters ----------------

/** Params arrive as JSON, or as strings from `key=value` command lines: accept numeric strings. */
export function numberParam(
  params: JsonObject,
  name: string,
  opts: { default?: number; min?: number; max?: number; integer?: boolean } = {},
): number {
  const raw = params[name];
  let n: number;
  if (raw === undefined || raw === null || raw === "") {
    if (opts.default === undefined) throw new Error(`${name} is required`);
    n = opts.default;
  } else if (typeof raw === "number") {
    n = raw;
  } else if (typeof raw === "string" && raw.trim() !== "" && Number.isFinite(Number(raw))) {
    n = Number(raw);
  } else {
    throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  }
  if (!Number.isFinite(n)) throw new Error(`${name} must be a finite number, got ${n}`);
  if (opts.integer && !Number.isInteger(n)) throw new Error(`${name} must be a whole number, got ${n}`);
  if (opts.min !== undefined && n < opts.min) throw new Error(`${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new Error(`${name} must be at most ${opts.max}, got ${n}`);
  return n;
}

/** An optional string param ("" when absent). */
export function stringParam(params: JsonObject, name: string): string {
  const raw = params[name];
  if (raw === undefined || raw === null) return "";
  if (typeof raw !== "string") throw new Error(`${name} must be a string, got ${typeof raw}`);
  return raw;
}

// ---------------- cancellation ----------------

/** Waits `ms`, or less when `signal` aborts. Resolves true when the full time passed. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error a handler throws when its caller cancelled: the reply (if anyone still listens) says so. */
export function cancelledError(detail: string): Error {
  return new Error(`cancelled: ${detail}`);
}

// ---------------- running a node ----------------

export interface RunNodeOptions {
  env?: NodeJS.ProcessEnv;
  /** Longest wait for a clean close before giving up with exit code 1. Default 10 s. */
  closeTimeoutMs?: number;
}

/**
 * Connects to NATS_URL as node MESH_NODE, calls `register`, then serves until
 * SIGINT/SIGTERM: closes the mesh (stops the services, drains the connection) and
 * exits 0. A second signal, or a close that hangs, exits 1. Startup failures exit 1.
 */
export async function runNode(label: string, register: (mesh: Mesh) => Promise<void>, opts: RunNodeOptions = {}): Promise<void> {
  const log = stderrLogger(label);
  const { natsUrl, node } = readEnv(opts.env);
  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  let mesh: Mesh | undefined;
  let closingSince = 0;

  // Installed before connecting, so that a stop request during startup is clean too.
  const shutdown = (signal: NodeJS.Signals) => {
    if (closingSince) {
      // A wrapper (npm, a process manager) may deliver one stop request twice; a
      // second signal a moment later is a user insisting.
      if (Date.now() - closingSince < 500) return;
      log("warning", `${signal} again: exiting without a clean close`);
      process.exit(1);
    }
    closingSince = Date.now();
    log("info", `${signal}: closing`);
    // Still connecting: nothing to close yet; runNode closes once connected.
    if (mesh) closeAndExit(mesh);
  };
  const closeAndExit = (mesh: Mesh) => {
    setTimeout(() => {
      log("error", `close did not finish within ${closeTimeoutMs} ms; exiting`);
      process.exit(1);
    }, closeTimeoutMs).unref();
    mesh.close().then(
      () => {
        log("info", "closed");
        process.exit(0);
      },
      (err: unknown) => {
        log("error", `close failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  try {
    // MESH_LOG_CALLS=1: a line per call, cancel and failure (the demo shows them).
    mesh = await Mesh.connect({ servers: natsUrl, node, log, logCalls: Boolean(process.env.MESH_LOG_CALLS) });
  } catch (err) {
    log("error", `cannot connect to NATS at ${natsUrl}: ${(err as Error).message} (set NATS_URL to your server)`);
    process.exit(1);
  }
  if (closingSince) return closeAndExit(mesh); // stopped while connecting
  try {
    await register(mesh);
  } catch (err) {
    if (closingSince) return; // stopped during registration: closeAndExit is at work
    log("error", `registration failed: ${(err as Error).message}`);
    await mesh.close().catch(() => {});
    process.exit(1);
  }
  if (!closingSince) log("info", `ready: node ${node} on ${mesh.server} (Ctrl-C to stop)`);
}

/**
 * `runNode(label, register)` when the calling module is the program being run
 * (pass its `import.meta.url`); nothing when it is imported, e.g. by all.ts.
 */
export function runIfMain(importMetaUrl: string, label: string, register: (mesh: Mesh) => Promise<void>): void {
  if (!isMain(importMetaUrl)) return;
  runNode(label, register).catch((err: unknown) => {
    stderrLogger(label)("error", (err as Error).stack ?? String(err));
    process.exit(1);
  });
}
