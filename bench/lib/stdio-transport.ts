/**
 * A stdio client transport for large messages. The SDK's StdioClientTransport
 * appends every pipe chunk with `Buffer.concat` and rescans the whole buffer for a
 * newline each time: quadratic in the message size (a 67 MB resources/read answer
 * arrives in ~1,000 chunks of 64 KB). This one keeps the chunks in a list and joins
 * them once per line, so the files benchmark measures the server, not the client's
 * buffering. Messages are parsed with the SDK's own JSONRPCMessageSchema.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

export interface LineStdioParams {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export class LineStdioClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private proc?: ChildProcess;
  private pending: Buffer[] = [];
  private errText = "";

  constructor(private readonly params: LineStdioParams) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  stderr(): string {
    return this.errText;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const proc = spawn(this.params.command, this.params.args, {
        env: { ...process.env, ...this.params.env },
        cwd: this.params.cwd,
        stdio: ["pipe", "pipe", "pipe"],
      });
      this.proc = proc;
      proc.once("error", (e) => {
        reject(e);
        this.onerror?.(e);
      });
      proc.once("spawn", () => resolve());
      proc.once("close", () => {
        this.proc = undefined;
        this.onclose?.();
      });
      proc.stderr!.on("data", (d) => (this.errText = (this.errText + String(d)).slice(-20_000)));
      proc.stdout!.on("data", (chunk: Buffer) => this.onData(chunk));
    });
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        if (start < chunk.length) this.pending.push(chunk.subarray(start));
        return;
      }
      this.pending.push(chunk.subarray(start, nl));
      const line = (this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)).toString("utf8");
      this.pending = [];
      start = nl + 1;
      if (line.trim() === "") continue;
      try {
        this.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(line)));
      } catch (err) {
        this.onerror?.(err as Error);
      }
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.proc?.stdin;
      if (!stdin) return reject(new Error("Not connected"));
      if (stdin.write(JSON.stringify(message) + "\n")) resolve();
      else stdin.once("drain", () => resolve());
    });
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const closed = new Promise<void>((r) => proc.once("close", () => r()));
    proc.stdin?.end();
    const t = setTimeout(() => proc.kill("SIGTERM"), 2000);
    const k = setTimeout(() => proc.kill("SIGKILL"), 4000);
    await closed;
    clearTimeout(t);
    clearTimeout(k);
  }
}
