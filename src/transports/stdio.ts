/**
 * MCP over stdio: stdout carries only protocol messages; everything else goes to stderr.
 *
 * One process serves either revision. The connection's first message decides, once:
 * a 2026-07-28 request (its `_meta` names the protocol version; `server/discover` is
 * one) pins the connection to the modern server, served by the v2 SDK's `serveStdio`
 * (subscriptions/listen, per-request envelopes); anything else — `initialize` — is a
 * 2025 client and gets the session server of server.ts, exactly as before.
 */
import { randomUUID } from "node:crypto";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "../mcp/bridge.js";
import { createServer, principalTaskOwner as principalOwner, STDIO_MESSAGE_MAX } from "../mcp/server.js";
import { localPrincipal, type Principal } from "../mcp/principal.js";
import { StdioServerTransport } from "./stdio-transport.js";
import { sessionStart, StdioLeanCalls } from "./stdio-lean.js";
import type { StdioTaskListens } from "./stdio-task-listen.js";

/** The envelope key naming a request's protocol version (2026-07-28's `_meta`). */
const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";

/** True when the message claims the 2026 per-request envelope (the spec's body-only rule on stdio). */
export function claimsModernEra(message: JSONRPCMessage): boolean {
  if (!("method" in message)) return false;
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  return typeof meta?.[PROTOCOL_VERSION_META_KEY] === "string";
}

/**
 * Hands the already-started wire to the server chosen for the connection: replays
 * the messages read while choosing, then passes everything straight through.
 */
class Handoff implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** Set for a 2026 connection: task listens are served beside the SDK's router. */
  tasks?: StdioTaskListens;
  /** Plain mesh-tool calls, answered without the SDK's dispatch (stdio-lean.ts). */
  lean?: StdioLeanCalls;

  constructor(private readonly wire: StdioServerTransport, private readonly early: JSONRPCMessage[]) {}

  private deliver(m: JSONRPCMessage): void {
    if (this.lean?.inbound(m)) return;
    const passed = this.tasks ? this.tasks.inbound(m) : m;
    if (passed) this.onmessage?.(passed);
  }

  async start(): Promise<void> {
    this.wire.onmessage = (m) => this.deliver(m);
    this.wire.onerror = (e) => this.onerror?.(e);
    const ended = this.wire.onclose;
    this.wire.onclose = () => {
      this.tasks?.close();
      this.lean?.close();
      this.onclose?.();
      ended?.();
    };
    // The server set its handlers before start(); the replay must precede any later read.
    for (const m of this.early.splice(0)) this.deliver(m);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.wire.send(this.tasks ? this.tasks.outbound(message) : message);
  }

  close(): Promise<void> {
    return this.wire.close();
  }
}

/** `principal`: who the client is (default: the local user; --principal names one). */
export async function serveStdio(bridge: Bridge, onClosed: () => void, principal: Principal = localPrincipal()): Promise<{ close(): Promise<void> }> {
  const wire = new StdioServerTransport(undefined, undefined, { maxMessageBytes: STDIO_MESSAGE_MAX, log: bridge.log });
  const early: JSONRPCMessage[] = [];
  let close = () => wire.close();
  wire.onclose = onClosed;
  process.stdin.once("end", onClosed);
  wire.onmessage = (first) => {
    early.push(first);
    if (early.length > 1) return; // still connecting the chosen server
    const handoff = new Handoff(wire, early);
    // Tasks belong to this process unless a configured principal or --task-owner names a shared identity.
    const taskOwner = principalOwner(principal) ?? bridge.opts.tasks?.owner ?? `stdio:${process.pid}:${randomUUID()}`;
    if (claimsModernEra(first)) {
      // The v2 SDK (~100 ms to load) comes only for a 2026 client; what arrives meanwhile waits in `early`.
      const serving = (async () => {
        const [{ serveStdio: serveModernStdio }, { createModernServer }, { StdioTaskListens }, { modernStdioStart }] = await Promise.all([
          import("@modelcontextprotocol/server/stdio"),
          import("../mcp/modern.js"),
          import("./stdio-task-listen.js"),
          import("./modern-lean.js"),
        ]);
        handoff.tasks = new StdioTaskListens(bridge, taskOwner, (m) => void wire.send(m).catch(() => {}));
        handoff.lean = new StdioLeanCalls(modernStdioStart(bridge, principal), (m) => wire.send(m), bridge.log);
        return serveModernStdio(() => createModernServer(bridge, { pushChanges: true, taskOwner, principal, localClient: true, messageMax: STDIO_MESSAGE_MAX }), {
          transport: handoff as never,
          legacy: "reject",
          onerror: (err) => bridge.log.debug(`MCP stdio (2026-07-28): ${err.message}`),
        });
      })();
      serving.catch((err: Error) => bridge.log.error(`cannot serve MCP 2026-07-28 over stdio: ${err.message}`));
      close = () => serving.then((handle) => handle.close(), () => wire.close());
    } else {
      const session = createServer(bridge, { progressBarrier: true, taskOwner, principal, localClient: true, messageMax: STDIO_MESSAGE_MAX });
      handoff.lean = new StdioLeanCalls(sessionStart(session), (m) => wire.send(m), bridge.log);
      close = () => session.close();
      void session.server.connect(handoff);
    }
  };
  await wire.start();
  return { close: () => close() };
}
