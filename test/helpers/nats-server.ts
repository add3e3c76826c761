/**
 * Starts a real nats-server (JetStream on, temp store dir, free loopback port)
 * for a test, and stops it after. No mocked NATS anywhere in the suite.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, listening } from "../../src/embedded-nats.js";

export { freePort };

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
}

export interface NatsServerOptions {
  jetstream?: boolean;
  /** Extra command-line arguments (e.g. `--user`, `--pass`, a config file). */
  args?: string[];
  /** The nats-server binary (default: $NATS_SERVER_BIN, else `nats-server` on PATH). */
  bin?: string;
}

export class NatsServer {
  private proc?: ChildProcess;
  readonly storeDir: string;
  stderr = "";

  private constructor(readonly port: number, private readonly opts: NatsServerOptions) {
    this.storeDir = mkdtempSync(join(tmpdir(), "mesh-mcp-nats-"));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const s = new NatsServer(await freePort(), opts);
    await s.spawn();
    return s;
  }

  private async spawn(): Promise<void> {
    const args = ["-a", "127.0.0.1", "-p", String(this.port)];
    if (this.opts.jetstream !== false) args.push("-js", "-sd", this.storeDir);
    args.push(...(this.opts.args ?? []));
    const bin = this.opts.bin ?? process.env.NATS_SERVER_BIN ?? "nats-server";
    this.proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc.stderr?.on("data", (d) => (this.stderr += String(d)));
    const failed = new Promise<never>((_, reject) =>
      this.proc!.once("error", (e) =>
        reject(new Error(`cannot start ${bin} (${e.message}); install it: apt-get install -y nats-server`)),
      ),
    );
    await Promise.race([waitForPort(this.port, 10_000), failed]);
  }

  /** Kills the server (like a crash) without removing its store. */
  async kill(): Promise<void> {
    const p = this.proc;
    // A process killed by a signal has exitCode null and signalCode set.
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }

  /** Kill and start again on the same port and store. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
