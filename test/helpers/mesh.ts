/**
 * Shared setup for the mesh library tests: a real nats-server per test plus the
 * meshes and raw connections the test opens, all closed when the test ends (pass
 * or fail), and small polling helpers so no test needs a fixed sleep.
 */
import type { TestContext } from "node:test";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { Mesh, type MeshOptions } from "../../src/mesh/index.js";
import { NatsServer, type NatsServerOptions } from "./nats-server.js";

export interface MeshEnv {
  server: NatsServer;
  /** A mesh connected to this env's server (reconnect wait 200 ms), closed after the test. */
  mesh(opts?: MeshOptions): Promise<Mesh>;
  /** A mesh serving as node `name`. */
  node(name: string, opts?: MeshOptions): Promise<Mesh>;
  /** A plain nats.js connection, for fake nodes and for watching subjects. */
  raw(): Promise<NatsConnection>;
  /** Runs `fn` at cleanup, before the meshes close (e.g. release a held handler). */
  defer(fn: () => unknown): void;
}

/** Starts a nats-server for test `t`; everything opened through the env is closed when `t` ends. */
export async function meshEnv(t: TestContext, serverOpts: NatsServerOptions = {}): Promise<MeshEnv> {
  const server = await NatsServer.start(serverOpts);
  const closers: Array<() => unknown> = [];
  t.after(async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        /* keep cleaning up */
      }
    }
    await server.stop();
  });
  const track = <T>(value: T, close: (v: T) => unknown): T => {
    closers.push(() => close(value));
    return value;
  };
  const env: MeshEnv = {
    server,
    mesh: async (opts = {}) =>
      track(await Mesh.connect({ servers: server.url, reconnectWaitMs: 200, ...opts }), (m) => m.close()),
    node: (name, opts = {}) => env.mesh({ ...opts, node: name }),
    raw: async () => track(await connect({ servers: server.url, reconnectTimeWait: 200, maxReconnectAttempts: -1 }), (nc) => nc.close()),
    defer: (fn) => void closers.push(fn),
  };
  return env;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value (or resolves to one) and returns it. */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  { timeoutMs = 5000, intervalMs = 20 } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Rejects when `p` has not settled within `ms` (so a hang fails fast with a message). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Records every message on `subject` (wildcards allowed) seen by `nc`. */
export class SubjectLog {
  readonly messages: Array<{ subject: string; data: string; at: number }> = [];
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, subject: string) {
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) this.messages.push({ subject: msg.subject, data: msg.string(), at: performance.now() });
      },
    });
  }

  /** Subscribes and flushes, so the server has the interest before the test goes on. */
  static async open(nc: NatsConnection, subject: string): Promise<SubjectLog> {
    const log = new SubjectLog(nc, subject);
    await nc.flush();
    return log;
  }

  get subjects(): string[] {
    return this.messages.map((m) => m.subject);
  }

  /** Waits until a message on exactly `subject` has been seen. */
  waitFor(subject: string, timeoutMs = 5000): Promise<{ subject: string; data: string; at: number }> {
    return waitFor(() => this.messages.find((m) => m.subject === subject), `a message on ${subject}`, { timeoutMs });
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

/** Subscribes and flushes, so the server has the interest before the test goes on. */
export async function subjectLog(nc: NatsConnection, subject: string): Promise<SubjectLog> {
  const log = new SubjectLog(nc, subject);
  await nc.flush();
  return log;
}

/** Collects every frame of an async iterable. */
export async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}
