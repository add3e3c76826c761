/**
 * Per-call latency of one small mesh call over each way of serving MCP, in one run:
 * the CLI over stdio, the CLI over HTTP (auto/json/sse answers), and in-process
 * serveHttp vs the SDK's node:http wrapper (StreamableHTTPServerTransport).
 * Not part of the suite: `npm run build && node --import tsx test/http/bench.ts [calls]`.
 */
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { Mesh } from "../../src/mesh/index.js";
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { createServer } from "../../src/mcp/server.js";
import { serveHttp } from "../../src/transports/http.js";
import { NatsServer } from "../helpers/nats-server.js";

const CALLS = Number(process.argv[2] ?? 500);
const CLI = new URL("../../dist/cli.js", import.meta.url).pathname;

interface Variant {
  label: string;
  client: Client;
  times: number[];
}

async function connect(label: string, transport: Transport): Promise<Variant> {
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  const tools = await client.listTools();
  if (!tools.tools.some((t) => t.name === "calc__add")) throw new Error(`${label}: calc__add missing`);
  for (let i = 0; i < 100; i++) await client.callTool({ name: "calc__add", arguments: { a: i, b: 1 } });
  return { label, client, times: [] };
}

/** Rounds of 50 calls per variant, interleaved, so background load hits all alike. */
async function measure(variants: Variant[]): Promise<void> {
  for (let done = 0; done < CALLS; done += 50) {
    for (const v of variants) {
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const r = await v.client.callTool({ name: "calc__add", arguments: { a: i, b: 1 } });
        v.times.push(performance.now() - t0);
        if (r.isError) throw new Error(`${v.label}: ${JSON.stringify(r)}`);
      }
    }
  }
  for (const v of variants) {
    const t = [...v.times].sort((a, b) => a - b);
    const q = (p: number) => t[Math.min(t.length - 1, Math.floor(p * t.length))]!.toFixed(3);
    console.log(`${v.label.padEnd(36)} median ${q(0.5)} ms   p90 ${q(0.9)} ms   p99 ${q(0.99)} ms`);
    await v.client.close();
  }
}

function spawnHttp(nats: string, mode: string): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [CLI, "--transport", "http", "--port", "0", "--nats", nats], {
    env: { ...process.env, MESH_MCP_HTTP_RESPONSE: mode },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d) => {
      err += String(d);
      const m = /at (http:\/\/\S+\/mcp)/.exec(err);
      if (m) resolve({ url: m[1]!, stop: () => child.kill("SIGTERM") });
    });
    child.once("exit", (code) => reject(new Error(`mesh-mcp exited ${code}: ${err}`)));
  });
}

/** The SDK's node:http wrapper, one session, for reference. */
async function sdkNodeWrapper(bridge: Bridge, json: boolean): Promise<{ url: string; stop(): void }> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => crypto.randomUUID(), enableJsonResponse: json });
  await createServer(bridge).server.connect(transport);
  const http = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    await transport.handleRequest(req, res, chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, stop: () => (http.closeAllConnections(), http.close()) };
}

const nats = await NatsServer.start();
const node = await Mesh.connect({ servers: nats.url, node: "bench" });
await node.registerTool({
  name: "calc", version: "1.0.0", description: "Calculator",
  methods: { add: { schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } }, handler: (p) => (p.a as number) + (p.b as number) } },
});
const mesh = await Mesh.connect({ servers: nats.url });
const bridge = await Bridge.withMesh(mesh, {}, new Logger("error"));
const stops: Array<() => void> = [];
try {
  console.log(`${CALLS} sequential calc.add calls per variant (interleaved rounds of 50), after 100 warm-up calls\n`);
  const variants: Variant[] = [];
  variants.push(await connect("stdio (CLI process)", new StdioClientTransport({ command: process.execPath, args: [CLI, "--nats", nats.url, "--log-level", "error"] })));
  for (const mode of ["auto", "json", "sse"]) {
    const s = await spawnHttp(nats.url, mode);
    stops.push(s.stop);
    variants.push(await connect(`http ${mode} (CLI process)`, new StreamableHTTPClientTransport(new URL(s.url))));
  }
  // In-process servers share the event loop with this client: compare them with each other only.
  const config = {
    host: "127.0.0.1", port: 0, authToken: undefined, insecureNoAuth: false, allowedOrigin: [], allowedHost: [],
    stateless: false, sessionIdleTimeout: 600, maxBody: 1 << 22, maxInflight: 32,
  };
  for (const mode of (process.env.BENCH_INPROC_MODES?.split(",") ?? ["auto", "sse"]) as Array<"auto" | "sse" | "json">) {
    const s = await serveHttp(bridge, config, new Logger("error"), () => {}, { responseMode: mode });
    stops.push(() => void s.close());
    variants.push(await connect(`serveHttp ${mode} (in-process)`, new StreamableHTTPClientTransport(new URL(s.url))));
  }
  {
    for (const json of [true, false]) {
      const s = await sdkNodeWrapper(bridge, json);
      stops.push(s.stop);
      variants.push(await connect(`SDK node wrapper ${json ? "json" : "sse"} (in-process)`, new StreamableHTTPClientTransport(new URL(s.url))));
    }
  }
  await measure(variants);
} finally {
  for (const stop of stops) stop();
  await bridge.shutdown();
  await node.close();
  await nats.stop();
}
