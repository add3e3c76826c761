/**
 * The server side of MCP over stdio: the SDK's StdioServerTransport (same message
 * parsing, same start/close behaviour) with its output path rebuilt after the
 * benchmark (BENCHMARKS.md) showed where it loses time and memory:
 *
 *  - Messages sent in one event-loop turn leave in one write. A stream's burst of
 *    progress notifications cost one syscall each.
 *  - While stdout is congested, one `drain` listener serves every waiting message.
 *    The SDK adds a `once('drain')` listener per send; Node then removes them one by
 *    one from a long array, which is quadratic (over a second of CPU for 30,000
 *    notifications).
 *  - A large message (a resources/read of a big file) is written in slices as stdout
 *    drains, its big strings escaped slice by slice, instead of building the whole
 *    JSON text (and a second native copy for the pipe) next to the result object.
 *  - Input lines are split without re-concatenating the buffer for every chunk.
 *  - The queue is read with a moving head, not `Array.prototype.shift()`: shift moves
 *    every element, so draining a queue that grew while stdout was congested (1,000
 *    concurrent streams) was quadratic — 58.8 % of all CPU in `flush`.
 *  - No message is longer than the client can read (`maxMessageBytes`; the SDK clients
 *    drop the connection past 10 MiB a line): an answer that would be is replaced by a
 *    JSON-RPC error saying so, a notification is dropped (and logged on stderr).
 */
import { randomUUID } from "node:crypto";
import process from "node:process";
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { safeParseMessage } from "./jsonrpc-shape.js";
import { stringifyMessageParts } from "../mcp/server.js";

/** Strings at least this long are written in slices, not embedded in one JSON text. */
const LARGE_STRING = 1 << 20;
/** Slice size for large strings, and the most a batch of small messages gathers. */
const SLICE = 1 << 20;

/** Stands in for a large string inside the JSON text; the nonce keeps it from matching content. */
const PLACEHOLDER = `mesh-mcp-slice-${randomUUID()}-`;
const PLACEHOLDER_RE = new RegExp(`"${PLACEHOLDER}(\\d+)"`);

interface Outgoing {
  message: JSONRPCMessage;
  /** Its large content strings, when it has any. */
  large?: Set<string>;
  resolve: () => void;
}

/** The content strings of a result that may be large (resource contents, tool content). */
function largeStrings(message: JSONRPCMessage): Set<string> | undefined {
  const result = (message as { result?: { contents?: unknown; content?: unknown } }).result;
  let found: Set<string> | undefined;
  for (const list of [result?.contents, result?.content]) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (typeof item !== "object" || item === null) continue;
      for (const v of Object.values(item as Record<string, unknown>)) {
        if (typeof v === "string" && v.length >= LARGE_STRING) (found ??= new Set()).add(v);
      }
    }
  }
  return found;
}

/** What is wrong with a JSON object that is not a JSON-RPC message, in a client's terms. */
function whyInvalid(m: Record<string, unknown>): string {
  if (m.jsonrpc !== "2.0") return 'jsonrpc must be "2.0"';
  if ("method" in m) {
    if (typeof m.method !== "string") return "method must be a string";
    if (m.params !== undefined && (typeof m.params !== "object" || m.params === null || Array.isArray(m.params))) return "params must be an object";
  }
  return "not a JSON-RPC 2.0 request, notification or response";
}

export interface StdioTransportOptions {
  /** Longest message written, in bytes (newline included); larger ones are refused. Default: unbounded. */
  maxMessageBytes?: number;
  log?: { warn(message: string): void };
}

/** What is sent instead of a message over the bound: an error answer to a response's id, else nothing. */
function oversized(message: JSONRPCMessage, bytes: number, max: number): JSONRPCMessage | undefined {
  const m = message as { id?: unknown; method?: unknown };
  if (m.method !== undefined || (typeof m.id !== "string" && typeof m.id !== "number")) return undefined;
  return {
    jsonrpc: "2.0",
    id: m.id,
    error: {
      code: -32603,
      message:
        `the answer is at least ${bytes} bytes, more than one MCP message over stdio may carry (${max} bytes; the official MCP clients read at most 10 MiB a line), so it was not sent. ` +
        `Ask for less (a smaller file or result; --result-max stores large tool results in the mesh file store), or use mesh-mcp over HTTP.`,
    },
  } as JSONRPCMessage;
}

export class StdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private started = false;
  private partial: Buffer[] = [];
  private queue: Outgoing[] = [];
  /** The first message not yet taken; entries before it are spent (cleared to free them). */
  private head = 0;
  /** A flush is scheduled for the end of this turn (set after a direct write too). */
  private turnBusy = false;
  /** Waiting for `drain`, or writing a large message: everything else queues. */
  private blocked = false;

  private readonly max: number;

  constructor(private readonly stdin: Readable = process.stdin, private readonly stdout: Writable = process.stdout, private readonly opts: StdioTransportOptions = {}) {
    this.max = opts.maxMessageBytes ?? Infinity;
  }

  /**
   * The line to write for `message`, in pieces (a cached tools/list JSON is one, written
   * as it is): its JSON, or (over the bound) the error that replaces it, or nothing (dropped).
   */
  private line(message: JSONRPCMessage): string[] {
    const parts = stringifyMessageParts(message);
    parts[parts.length - 1] += "\n";
    let length = 0;
    for (const p of parts) length += p.length;
    // A UTF-16 unit is at most 3 UTF-8 bytes: measure only what might be over.
    if (length * 3 <= this.max) return parts;
    let bytes = 0;
    for (const p of parts) bytes += Buffer.byteLength(p);
    if (bytes <= this.max) return parts;
    const instead = this.refuse(message, bytes);
    return instead ? [instead] : [];
  }

  private refuse(message: JSONRPCMessage, bytes: number): string {
    const instead = oversized(message, bytes, this.max);
    const what = (message as { method?: string }).method ?? `the answer to ${JSON.stringify((message as { id?: unknown }).id)}`;
    this.opts.log?.warn(`stdio: ${what} is at least ${bytes} bytes, over the ${this.max}-byte bound of one stdio message; ${instead ? "answered with an error instead" : "dropped"}`);
    return instead ? JSON.stringify(instead) + "\n" : "";
  }

  private readonly ondata = (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        if (start < chunk.length) this.partial.push(chunk.subarray(start));
        return;
      }
      // CRLF too; the common case (nothing left from an earlier chunk) decodes in place.
      const end = nl > start && chunk[nl - 1] === 13 ? nl - 1 : nl;
      let line: string;
      if (this.partial.length === 0) line = chunk.toString("utf8", start, end);
      else {
        this.partial.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.partial).toString("utf8").replace(/\r$/, "");
        this.partial = [];
      }
      start = nl + 1;
      if (line.trim() !== "") this.receive(line);
    }
  };

  /**
   * One input line → a message, or a JSON-RPC error reply: a client that sent a
   * malformed request learns why instead of waiting for an answer that never comes.
   */
  private receive(line: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.onerror?.(new Error("stdio: a line that is not JSON was answered with a parse error"));
      void this.send({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error: the line is not valid JSON" } } as unknown as JSONRPCMessage);
      return;
    }
    const parsed = safeParseMessage(raw);
    if (parsed.success) {
      this.onmessage?.(parsed.data);
      return;
    }
    const id = (raw as { id?: unknown } | null)?.id;
    this.onerror?.(new Error(`stdio: invalid JSON-RPC message${id === undefined ? "" : ` (id ${JSON.stringify(id)})`}`));
    // A notification gets no reply (JSON-RPC), whatever is wrong with it; anything with an id does.
    if (typeof id !== "string" && typeof id !== "number") return;
    void this.send({ jsonrpc: "2.0", id, error: { code: -32600, message: `Invalid Request: ${whyInvalid(raw as Record<string, unknown>)}` } });
  }

  private readonly onstdinError = (error: Error) => {
    this.onerror?.(error);
  };

  async start(): Promise<void> {
    if (this.started) {
      throw new Error("StdioServerTransport already started! If using Server class, note that connect() calls start() automatically.");
    }
    this.started = true;
    this.stdin.on("data", this.ondata);
    this.stdin.on("error", this.onstdinError);
  }

  async close(): Promise<void> {
    this.stdin.off("data", this.ondata);
    this.stdin.off("error", this.onstdinError);
    if (this.stdin.listenerCount("data") === 0) this.stdin.pause();
    this.partial = [];
    this.onclose?.();
  }

  /** Resolves once the message is handed to stdout (like the SDK: on `drain` when congested). */
  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ message, large: largeStrings(message), resolve });
      if (this.blocked || this.turnBusy) return;
      // First message of this turn: out at once (no added latency); the rest of the turn batches.
      this.turnBusy = true;
      setImmediate(() => {
        this.turnBusy = false;
        this.flush();
      });
      this.flush();
    });
  }

  /** The next queued message, without taking it. */
  private peek(): Outgoing | undefined {
    return this.queue[this.head];
  }

  /** Takes the next message; the spent prefix is dropped once it is half the array. */
  private take(): Outgoing {
    const next = this.queue[this.head]!;
    this.queue[this.head++] = undefined as never;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return next;
  }

  private flush(): void {
    while (this.peek() && !this.blocked) {
      const first = this.peek()!;
      if (first.large) {
        this.take();
        this.blocked = true;
        void this.writeLarge(first.message, first.large).then(
          () => this.unblock([first.resolve]),
          (err: Error) => {
            this.onerror?.(err);
            this.unblock([first.resolve]);
          },
        );
        return;
      }
      // Small pieces are joined into one write; a piece of a slice or more goes out as it is.
      const out: string[] = [];
      let batch = "";
      let size = 0;
      const done: Array<() => void> = [];
      while (this.peek() && !this.peek()!.large && size < SLICE) {
        const next = this.take();
        for (const piece of this.line(next.message)) {
          size += piece.length;
          if (piece.length < SLICE) batch += piece;
          else {
            if (batch !== "") out.push(batch);
            batch = "";
            out.push(piece);
          }
        }
        done.push(next.resolve);
      }
      if (batch !== "") out.push(batch);
      let flowing = true;
      for (const piece of out) flowing = this.stdout.write(piece) && flowing;
      if (flowing) {
        for (const r of done) r();
      } else {
        this.blocked = true;
        this.stdout.once("drain", () => this.unblock(done));
      }
    }
  }

  private unblock(done: Array<() => void>): void {
    this.blocked = false;
    for (const r of done) r();
    this.flush();
  }

  private async write(text: string): Promise<void> {
    if (!this.stdout.write(text)) await new Promise<void>((r) => this.stdout.once("drain", () => r()));
  }

  /**
   * Writes JSON text with each large string emitted in escaped slices. The slices are
   * made before anything is written, so a message over the bound is refused whole
   * (never half a line); making them stops as soon as the bound is passed.
   */
  private async writeLarge(message: JSONRPCMessage, large: Set<string>): Promise<void> {
    const holes: string[] = [];
    const json = JSON.stringify(message, (_k, v: unknown) => {
      if (typeof v === "string" && large.has(v)) {
        holes.push(v);
        return `${PLACEHOLDER}${holes.length - 1}`;
      }
      return v;
    });
    const parts = json.split(PLACEHOLDER_RE);
    const pieces: string[] = [];
    let bytes = 1; // the newline
    const add = (piece: string) => {
      pieces.push(piece);
      bytes += Buffer.byteLength(piece);
    };
    for (let i = 0; i < parts.length && bytes <= this.max; i++) {
      if (i % 2 === 0) {
        if (parts[i]) add(parts[i]!);
        continue;
      }
      const s = holes[Number(parts[i])]!;
      add('"');
      for (let at = 0; at < s.length && bytes <= this.max; ) {
        let end = Math.min(s.length, at + SLICE);
        // Never split a surrogate pair: JSON.stringify would escape each half on its own.
        const last = s.charCodeAt(end - 1);
        if (end < s.length && last >= 0xd800 && last <= 0xdbff) end++;
        add(JSON.stringify(s.slice(at, end)).slice(1, -1));
        at = end;
      }
      add('"');
    }
    if (bytes > this.max) {
      const instead = this.refuse(message, bytes);
      if (instead) await this.write(instead);
      return;
    }
    for (const piece of pieces) await this.write(piece);
    await this.write("\n");
  }
}
