/** Clients of bench/children/relay.ts: one request at a time over its stdin/stdout, or HTTP POSTs. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { BENCH_DIR, ROOT } from "./procs.js";

export interface Relay {
  call(body: string): Promise<string>;
  close(): Promise<void>;
}

async function waitReady(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d: Buffer) => {
      buf += String(d);
      const m = /^ready ?(\S*)\n/m.exec(buf);
      if (m) {
        proc.stdout!.off("data", onData);
        resolve(m[1] ?? "");
      }
    };
    proc.stdout!.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`relay exited (${code}) before it was ready`)));
  });
}

function spawnRelay(natsUrl: string, http: boolean, nodeArgs: string[]): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, "--import", "tsx", join(BENCH_DIR, "children", "relay.ts"), "--nats", natsUrl, ...(http ? ["--http"] : [])], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.stdin?.end();
  proc.kill("SIGTERM");
  await exited;
}

/** A line relay over a child's stdin/stdout (sequential use: one call at a time). */
export async function stdioRelay(natsUrl: string, nodeArgs: string[] = []): Promise<Relay> {
  const proc = spawnRelay(natsUrl, false, nodeArgs);
  await waitReady(proc);
  let buf = "";
  let waiting: ((line: string) => void) | undefined;
  proc.stdout!.on("data", (d: Buffer) => {
    buf += String(d);
    const nl = buf.indexOf("\n");
    if (nl >= 0 && waiting) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting;
      waiting = undefined;
      w(line);
    }
  });
  return {
    call(body) {
      return new Promise((resolve) => {
        waiting = resolve;
        proc.stdin!.write(`${body}\n`);
      });
    },
    close: () => stop(proc),
  };
}

/** The same relay over HTTP (fetch with keep-alive, like the SDK's HTTP client). */
export async function httpRelay(natsUrl: string, nodeArgs: string[] = []): Promise<Relay> {
  const proc = spawnRelay(natsUrl, true, nodeArgs);
  const url = await waitReady(proc);
  return {
    async call(body) {
      const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
      return res.text();
    },
    close: () => stop(proc),
  };
}
