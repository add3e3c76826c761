/**
 * Every kind of client a user may point at mesh-mcp, behind one small interface, so
 * one test body runs against each: the v2 SDK client pinned to 2026-07-28, in `auto`
 * mode (probes server/discover, falls back), in legacy mode (the 2025 handshake), and
 * the v1 SDK client; each over stdio (the built CLI as a child) and Streamable HTTP.
 */
import type { TestContext } from "node:test";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { StdioClientTransport as V2Stdio } from "@modelcontextprotocol/client/stdio";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as V1Stdio } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport as V1Http } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { CLI, ensureBuilt } from "../helpers/mcp.js";

export type ClientKind = "v2-pinned" | "v2-auto" | "v2-legacy" | "v1";
export type Wire = "stdio" | "http";
export const CLIENT_KINDS: ClientKind[] = ["v2-pinned", "v2-auto", "v2-legacy", "v1"];

export interface Progress {
  progress: number;
  total?: number;
}

export interface CallOpts {
  onprogress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Extra `_meta` for the request (trace context). */
  meta?: Record<string, unknown>;
}

export interface CallResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
  structuredContent?: unknown;
}

/** A change the server told this client about. */
export interface Heard {
  method: string;
  uri?: string;
  at: number;
}

export interface EraClient {
  kind: ClientKind;
  wire: Wire;
  /** The revision the client ended up speaking. */
  protocolVersion(): string | undefined;
  listTools(): Promise<Array<{ name: string; inputSchema: unknown }>>;
  call(name: string, args: Record<string, unknown>, opts?: CallOpts): Promise<CallResult>;
  readResource(uri: string): Promise<{ contents: Array<{ uri: string; text?: string; blob?: string }> }>;
  /** Asks to hear tools/resources list changes and updates of `uris` (listen on 2026, subscribe on 2025). */
  watch(uris: string[]): Promise<void>;
  heard: Heard[];
  close(): Promise<void>;
}

export interface Target {
  wire: Wire;
  /** HTTP: the endpoint URL. */
  url?: string;
  /** stdio: the NATS URL and extra CLI flags for the spawned mesh-mcp. */
  natsUrl?: string;
  args?: string[];
}

function negotiation(kind: ClientKind) {
  if (kind === "v2-pinned") return { mode: { pin: "2026-07-28" } } as const;
  if (kind === "v2-auto") return { mode: "auto" } as const;
  return { mode: "legacy" } as const;
}

export async function connect(t: TestContext, kind: ClientKind, target: Target): Promise<EraClient> {
  if (target.wire === "stdio") await ensureBuilt();
  const heard: Heard[] = [];
  const stdioParams = () => ({
    command: process.execPath,
    args: [CLI, ...(target.args ?? [])],
    env: { ...process.env, NATS_URL: target.natsUrl ?? "" } as Record<string, string>,
    stderr: "ignore" as const,
  });
  let out: EraClient;
  if (kind === "v1") {
    const client = new V1Client({ name: "era-test-v1", version: "1.0.0" });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async (n) => void heard.push({ method: n.method, at: performance.now() }));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, async (n) => void heard.push({ method: n.method, at: performance.now() }));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void heard.push({ method: n.method, uri: n.params.uri, at: performance.now() }));
    await client.connect(target.wire === "stdio" ? new V1Stdio(stdioParams()) : new V1Http(new URL(target.url!)));
    out = {
      kind, wire: target.wire, heard,
      protocolVersion: () => (client.transport as { protocolVersion?: string } | undefined)?.protocolVersion ?? "2025",
      listTools: async () => (await client.listTools()).tools,
      call: async (name, args, opts = {}) =>
        (await client.callTool({ name, arguments: args, ...(opts.meta ? { _meta: opts.meta } : {}) }, undefined, { onprogress: opts.onprogress, signal: opts.signal, resetTimeoutOnProgress: true })) as CallResult,
      readResource: (uri) => client.readResource({ uri }) as never,
      watch: async (uris) => {
        for (const uri of uris) await client.subscribeResource({ uri });
      },
      close: () => client.close(),
    };
  } else {
    const client = new V2Client({ name: `era-test-${kind}`, version: "1.0.0" }, { versionNegotiation: negotiation(kind) });
    client.setNotificationHandler("notifications/tools/list_changed", (n) => void heard.push({ method: n.method, at: performance.now() }));
    client.setNotificationHandler("notifications/resources/list_changed", (n) => void heard.push({ method: n.method, at: performance.now() }));
    client.setNotificationHandler("notifications/resources/updated", (n) => void heard.push({ method: n.method, uri: n.params.uri, at: performance.now() }));
    await client.connect(target.wire === "stdio" ? new V2Stdio(stdioParams()) : new V2Http(new URL(target.url!)));
    const modern = () => client.getNegotiatedProtocolVersion() === "2026-07-28";
    let subscription: { close(): Promise<void> | void } | undefined;
    out = {
      kind, wire: target.wire, heard,
      protocolVersion: () => client.getNegotiatedProtocolVersion(),
      listTools: async () => (await client.listTools(undefined, { cacheMode: "bypass" } as never)).tools,
      call: async (name, args, opts = {}) =>
        (await client.callTool({ name, arguments: args, ...(opts.meta ? { _meta: opts.meta } : {}) }, { onprogress: opts.onprogress, signal: opts.signal, resetTimeoutOnProgress: true })) as CallResult,
      readResource: (uri) => client.readResource({ uri }, { cacheMode: "bypass" } as never) as never,
      watch: async (uris) => {
        if (modern()) {
          subscription = await client.listen({ toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: uris });
        } else {
          for (const uri of uris) await client.subscribeResource({ uri });
        }
      },
      close: async () => {
        await subscription?.close();
        await client.close();
      },
    };
  }
  t.after(() => out.close().catch(() => {}));
  return out;
}
