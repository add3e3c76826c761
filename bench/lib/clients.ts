/**
 * MCP clients of the benchmark, all the SDK's own `Client`: in-process (linked
 * in-memory transports around `createServer`), stdio (spawning dist/cli.js) and
 * Streamable HTTP.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { Bridge, type BridgeOptions } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { createServer } from "../../src/mcp/server.js";
import { Mesh, type MeshOptions } from "../../src/mesh/index.js";
import { CLI, ROOT } from "./procs.js";
import { sleep } from "./stats.js";

export interface McpHandle {
  client: Client;
  /** The server's process id (stdio), when it runs in its own process. */
  pid?: number;
  close(): Promise<void>;
}

function newClient(): Client {
  return new Client({ name: "mesh-mcp-bench", version: "0.1.0" }, { capabilities: {} });
}

/** Sees every message as the transport delivers it, in wire order, before the SDK dispatches it. */
export type WireTap = (message: JSONRPCMessage) => void;

/** Connects `client` over `transport`, with `tap` called first for each incoming message. */
async function connectTapped(client: Client, transport: Transport, tap?: WireTap): Promise<void> {
  // Protocol.connect keeps a handler already set on the transport and calls it before its own.
  if (tap) transport.onmessage = tap;
  await client.connect(transport);
}

export interface InProcOptions {
  bridge?: Omit<BridgeOptions, "mesh">;
  mesh?: MeshOptions;
  tap?: WireTap;
}

/** A Bridge over its own mesh connection and an SDK client linked to it in memory. */
export async function inProcClient(natsUrl: string, opts: InProcOptions = {}): Promise<McpHandle & { bridge: Bridge; mesh: Mesh }> {
  const mesh = await Mesh.connect({ servers: natsUrl, ...opts.mesh });
  const bridge = await Bridge.withMesh(mesh, opts.bridge ?? {}, new Logger("error", false));
  const session = createServer(bridge);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await session.server.connect(serverSide);
  const client = newClient();
  await connectTapped(client, clientSide, opts.tap);
  return {
    client,
    bridge,
    mesh,
    async close() {
      await client.close().catch(() => {});
      await session.close();
      await bridge.shutdown();
    },
  };
}

export interface StdioOptions {
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Script to run (default dist/cli.js). */
  script?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Largest single message the client accepts (the SDK default is 10 MB). */
  maxBufferSize?: number;
  tap?: WireTap;
}

/** Spawns a stdio MCP server (dist/cli.js by default) and connects an SDK client to it. */
export async function stdioClient(natsUrl: string, opts: StdioOptions = {}): Promise<McpHandle & { stderr(): string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...(opts.nodeArgs ?? []), opts.script ?? CLI, ...(opts.args ?? [])],
    env: { NATS_URL: natsUrl, MESH_MCP_LOG_LEVEL: "warning", ...opts.env },
    stderr: "pipe",
    cwd: ROOT,
    maxBufferSize: opts.maxBufferSize,
  });
  let err = "";
  (transport.stderr as NodeJS.ReadableStream | null)?.on("data", (d) => (err = (err + String(d)).slice(-20_000)));
  const client = newClient();
  await connectTapped(client, transport, opts.tap);
  return {
    client,
    pid: transport.pid ?? undefined,
    stderr: () => err,
    async close() {
      await client.close().catch(() => {});
    },
  };
}

/** Connects an SDK client over Streamable HTTP (one client = one session). */
export async function httpClient(url: string, tap?: WireTap): Promise<McpHandle> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = newClient();
  await connectTapped(client, transport as Transport, tap);
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/** Polls tools/list until `ok(names)` holds; returns the tool names. */
export async function waitForTools(client: Client, ok: (names: string[]) => boolean, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const names = (await client.listTools()).tools.map((t) => t.name);
    if (ok(names)) return names;
    if (Date.now() > deadline) throw new Error(`tools/list did not reach the expected state within ${timeoutMs} ms (has ${names.length} tools)`);
    await sleep(50);
  }
}

/** Calls a tool and throws when the result is an error (a benchmark must not time failures). */
export async function callOk(client: Client, name: string, args: Record<string, unknown>): Promise<void> {
  const r = await client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
}
