/**
 * Memory under a session flood (issue 9): N `initialize` requests from one client
 * against `mesh-mcp --transport http`, then the server's resident memory (VmRSS) and
 * peak (VmHWM) from /proc. Usage:
 *   node --import tsx bench/session-flood.ts [N=30000] [path/to/cli.js] [extra flags…]
 * Needs nats-server on PATH (or /usr/sbin) and Linux (/proc).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { NatsServer } from "../test/helpers/nats-server.js";

const N = Number(process.argv[2] ?? 30_000);
const cli = process.argv[3] ?? new URL("../dist/cli.js", import.meta.url).pathname;
const extra = process.argv.slice(4);
const CONCURRENCY = 50;
const INIT = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "flood", version: "1" } } });

function post(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end(INIT);
  });
}

function mem(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

const nats = await NatsServer.start();
const proc = spawn(process.execPath, [cli, "--transport", "http", "--port", "0", "--nats", nats.url, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
let err = "";
const url = await new Promise<string>((resolve, reject) => {
  proc.stderr!.on("data", (d) => {
    err += String(d);
    const m = /at (http:\/\/\S+\/mcp)/.exec(err);
    if (m) resolve(m[1]!);
  });
  proc.once("exit", () => reject(new Error(err)));
});
await new Promise((r) => setTimeout(r, 1500));
const before = mem(proc.pid!);
const codes = new Map<number, number>();
const t0 = performance.now();
for (let i = 0; i < N; i += CONCURRENCY) {
  const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N - i) }, () => post(url)));
  for (const c of batch) codes.set(c, (codes.get(c) ?? 0) + 1);
}
const secs = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 2000));
const after = mem(proc.pid!);
const ready = await new Promise<string>((resolve) => {
  request(url.replace(/\/mcp$/, "/readyz"), { agent: false }, (res) => {
    let b = "";
    res.on("data", (d) => (b += d));
    res.on("end", () => resolve(b));
  }).end();
});
console.log(JSON.stringify({
  cli, initializes: N, seconds: Number(secs.toFixed(1)), statuses: Object.fromEntries(codes),
  rssBeforeMB: Math.round(before.rss), rssAfterMB: Math.round(after.rss), peakMB: Math.round(after.hwm), readyz: JSON.parse(ready),
}));
proc.kill("SIGKILL");
await nats.stop();
