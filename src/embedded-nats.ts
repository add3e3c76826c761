/**
 * A private nats-server with JetStream in a temp folder, for single-machine use
 * (`--embedded-nats`) and the demo. Found on PATH; a clear message when missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const INSTALL_HINT =
  "nats-server was not found on PATH. Install it: Debian/Ubuntu `sudo apt-get install -y nats-server`, " +
  "macOS `brew install nats-server`, or download it from the NATS releases page.";

export interface EmbeddedNats {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (also used by the tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

export async function startEmbeddedNats(opts: { port?: number; log?: (m: string) => void } = {}): Promise<EmbeddedNats> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-nats-"));
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  const proc: ChildProcess = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d) => (stderr += String(d)));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const spawned = await new Promise<Error | undefined>((resolve) => {
    proc.once("error", (e) => resolve(e));
    proc.once("spawn", () => resolve(undefined));
  });
  if (spawned) {
    cleanup();
    throw new Error((spawned as NodeJS.ErrnoException).code === "ENOENT" ? INSTALL_HINT : `cannot start nats-server: ${spawned.message}`);
  }
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      cleanup();
      throw new Error(`nats-server did not start on 127.0.0.1:${port}: ${stderr.trim().split("\n").slice(-3).join(" ")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  opts.log?.(`embedded nats-server with JetStream on nats://127.0.0.1:${port} (store ${dir})`);
  let stopped = false;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      cleanup();
    },
  };
}
