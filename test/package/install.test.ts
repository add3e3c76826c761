/**
 * The package as a new user gets it: `npm pack` (from a copy of the repository, so the
 * build it runs never touches the dist/ other tests use), `npm install -g` of the tarball
 * into an empty prefix, and then every client snippet of the README started exactly as
 * the client would start it, parsed from README.md itself: list the tools and call one
 * on a real nats-server with the installed example node.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { NatsServer } from "../helpers/nats-server.js";
import { ROOT, textOf, waitFor } from "../helpers/mcp.js";
import { fromClaudeMcpAdd, fromJsonConfig, readmeBlock, type HttpLaunch, type Launch, type StdioLaunch } from "./readme-blocks.js";

const run = promisify(execFile);
const T = { timeout: 60_000 };
const README_NATS = "nats://localhost:4222";
const README_URL = "http://127.0.0.1:3000/mcp";
const TOKEN = "t0k3n-for-the-readme-test";

let work: string;
let prefix: string;
let nats: NatsServer;
let exampleNode: ChildProcess;
let httpServer: ChildProcess | undefined;
let httpUrl: string;
const timings: Record<string, number> = {};

/** PATH as a desktop app has it plus the global npm bin: the installed `mesh-mcp`, this node, npx. */
function clientPath(): string {
  return [join(prefix, "bin"), dirname(process.execPath), dirname(process.execPath.replace(/node$/, "npx")), "/usr/local/bin", "/usr/bin", "/bin"].join(delimiter);
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timings[what] = Math.round(performance.now() - t0);
  }
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "mesh-mcp-pack-"));
  const copy = join(work, "repo");
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", "claude_desktop_config.example.json", "src", "examples", "static"]) {
    cpSync(join(ROOT, f), join(copy, f), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
  await timed("npm pack (prepack builds)", () => run("npm", ["pack", "--pack-destination", work, "--loglevel", "error"], { cwd: copy, timeout: 180_000 }));
  const tgz = readdirSync(work).find((f) => /^mesh-mcp-.*\.tgz$/.test(f));
  assert.ok(tgz, "npm pack made no tarball");
  prefix = join(work, "prefix");
  // Exactly the README's `npm install -g ./mesh-mcp-*.tgz`, into an empty prefix; cached packages are fine.
  await timed("npm install -g tarball", () =>
    run("npm", ["install", "-g", "--prefix", prefix, join(work, tgz), "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error"], {
      cwd: work,
      timeout: 180_000,
    }),
  );
  nats = await NatsServer.start();
  const pkg = join(prefix, "lib", "node_modules", "mesh-mcp");
  exampleNode = spawn(process.execPath, [join(pkg, "dist", "examples", "all.js")], {
    env: { PATH: clientPath(), NATS_URL: nats.url, MESH_NODE: "pkg-node" },
    stdio: ["ignore", "ignore", "pipe"],
  });
});

after(async () => {
  for (const p of [exampleNode, httpServer]) if (p && p.exitCode === null) p.kill("SIGKILL");
  await nats?.stop();
  rmSync(work, { recursive: true, force: true });
  process.stderr.write(`package timings (ms): ${JSON.stringify(timings)}\n`);
});

/** Starts the client as the README block says (NATS_URL and the HTTP URL/token pointed at this test's servers). */
async function connect(launch: Launch, name: string): Promise<{ client: Client; stderr: () => string }> {
  const client = new Client({ name, version: "1.0.0" });
  let stderr = "";
  if (launch.kind === "stdio") {
    const env: Record<string, string> = { ...getDefaultEnvironment(), PATH: clientPath(), HOME: work, MCP_REMOTE_CONFIG_DIR: join(work, "mcp-auth"), ...launch.env };
    if (env.NATS_URL === README_NATS) env.NATS_URL = nats.url;
    if (env.AUTH_HEADER) env.AUTH_HEADER = env.AUTH_HEADER.replace("<token>", TOKEN);
    const args = launch.args.map((a) => a.replace(README_URL, httpUrl));
    // The command is resolved on PATH as the client does: the installed bin, or npx.
    // Not inside the repository (whose package is named mesh-mcp too) unless npx must find the mcp-remote devDependency.
    const cwd = launch.command === "npx" ? ROOT : work;
    const transport = new StdioClientTransport({ command: launch.command, args, env, cwd, stderr: "pipe" });
    transport.stderr?.on("data", (d) => (stderr += String(d)));
    await client.connect(transport).catch((e: Error) => {
      throw new Error(`${name}: ${e.message}\n${stderr}`);
    });
  } else {
    const headers = Object.fromEntries(Object.entries(launch.headers).map(([k, v]) => [k, v.replace("<token>", TOKEN)]));
    await client.connect(new StreamableHTTPClientTransport(new URL(launch.url.replace(README_URL, httpUrl)), { requestInit: { headers } }));
  }
  return { client, stderr: () => stderr };
}

/** What a user checks first: the example tools are listed, and a call returns its answer. */
async function listAndCall(launch: Launch, name: string): Promise<string> {
  const { client, stderr } = await connect(launch, name);
  try {
    await waitFor(async () => (await client.listTools()).tools.some((t) => t.name === "calculator__add"), `${name}: calculator__add listed`, { timeoutMs: 20_000, intervalMs: 200 });
    const r = (await client.callTool({ name: "calculator__add", arguments: { a: 2, b: 40 } })) as CallToolResult;
    assert.equal(r.isError, undefined, textOf(r));
    assert.equal(textOf(r), "42");
    const img = (await client.callTool({ name: "image__render", arguments: { text: "from the package" } })) as CallToolResult;
    assert.ok(img.content.some((c) => c.type === "image"), `${name}: no image in ${JSON.stringify(img.content).slice(0, 300)}`);
    return stderr();
  } finally {
    await client.close();
  }
}

test("the packed package holds what it runs and nothing from devDependencies at runtime", T, () => {
  const pkg = join(prefix, "lib", "node_modules", "mesh-mcp");
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { bin: Record<string, string>; devDependencies?: object };
  const bin = join(pkg, manifest.bin["mesh-mcp"]!);
  assert.match(readFileSync(bin, "utf8"), /^#!\/usr\/bin\/env node\n/);
  assert.ok(existsSync(join(prefix, "bin", "mesh-mcp")), "npm install -g made no mesh-mcp command");
  // A global install gets no devDependencies: anything they provided would be missing here.
  assert.equal(existsSync(join(pkg, "node_modules", "typescript")), false);
  assert.equal(existsSync(join(pkg, "node_modules", "tsx")), false);
  assert.equal(existsSync(join(pkg, "src")), false, "sources are not shipped");
});

test("README Claude Desktop block (and claude_desktop_config.example.json) start the installed server", T, async () => {
  const block = readmeBlock(ROOT, "claude-desktop");
  assert.equal(block.lang, "json");
  const launch = fromJsonConfig(block.code) as StdioLaunch;
  assert.equal(launch.kind, "stdio");
  assert.equal(launch.env.NATS_URL, README_NATS);
  assert.deepEqual(JSON.parse(readFileSync(join(ROOT, "claude_desktop_config.example.json"), "utf8")), JSON.parse(block.code));
  await timed("claude desktop: start, list, call", () => listAndCall(launch, "claude-desktop"));
});

test("README Claude Code command (stdio) starts the installed server", T, async () => {
  const launch = fromClaudeMcpAdd(readmeBlock(ROOT, "claude-code").code);
  assert.equal(launch.kind, "stdio");
  await listAndCall(launch, "claude-code");
});

test("README VS Code / Cursor mcp.json (stdio) starts the installed server", T, async () => {
  const launch = fromJsonConfig(readmeBlock(ROOT, "vscode").code);
  assert.equal(launch.kind, "stdio");
  await listAndCall(launch, "vscode");
});

test("HTTP mode with a token: README's Claude Code, VS Code and mcp-remote blocks", { timeout: 120_000 }, async () => {
  httpServer = spawn(join(prefix, "bin", "mesh-mcp"), ["--transport", "http", "--port", "0"], {
    env: { PATH: clientPath(), NATS_URL: nats.url, MESH_MCP_AUTH_TOKEN: TOKEN },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  httpServer.stderr!.on("data", (d) => (log += String(d)));
  httpUrl = await waitFor(() => log.match(/(http:\/\/127\.0\.0\.1:\d+\/mcp)/)?.[1], "the HTTP URL in the log", { timeoutMs: 15_000 });

  const code = fromClaudeMcpAdd(readmeBlock(ROOT, "claude-code-http").code, { MESH_MCP_AUTH_TOKEN: TOKEN }) as HttpLaunch;
  assert.equal(code.kind, "http");
  assert.equal(code.headers.Authorization, `Bearer ${TOKEN}`);
  await listAndCall(code, "claude-code-http");

  const vscode = fromJsonConfig(readmeBlock(ROOT, "vscode-http").code);
  assert.equal(vscode.kind, "http");
  await listAndCall(vscode, "vscode-http");

  // Claude Desktop → npx -y mcp-remote → our HTTP endpoint, with the bearer header from env.
  const remote = fromJsonConfig(readmeBlock(ROOT, "mcp-remote").code) as StdioLaunch;
  assert.equal(remote.command, "npx");
  assert.ok(remote.args.includes("mcp-remote"));
  const remoteLog = await timed("mcp-remote: start, list, call", () => listAndCall(remote, "mcp-remote"));
  assert.match(remoteLog, /Connected to remote server/);
  assert.doesNotMatch(remoteLog, /OAuth callback server running|Client Registration|Authorization required/i, "mcp-remote guessed OAuth despite the header");

  // Without the header, mcp-remote guesses OAuth: it must end with our instructions, not a bare 404.
  const noHeader: StdioLaunch = { ...remote, args: remote.args.filter((a, i, all) => a !== "--header" && all[i - 1] !== "--header") };
  const failed = await connect(noHeader, "mcp-remote-no-header").then(
    async ({ client, stderr }) => (await client.close(), `connected: ${stderr()}`),
    (e: Error) => e.message,
  );
  assert.doesNotMatch(failed, /^connected/, "mcp-remote connected without the token");
  assert.match(failed, /mesh-mcp does not use OAuth: configure your MCP client to send the header/);
  const probe = await fetch(new URL("/.well-known/oauth-protected-resource", httpUrl));
  assert.equal(probe.status, 404);
  assert.match(await probe.text(), /mesh-mcp does not use OAuth: .*Authorization: Bearer <token>/);
  const unauth = await fetch(httpUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.headers.get("www-authenticate"), 'Bearer realm="mesh-mcp"');
  assert.match(await unauth.text(), /no bearer token.*MESH_MCP_AUTH_TOKEN/);
});

test("the installed package starts the demo (mesh-mcp demo) and serves its status page", { timeout: 90_000 }, async () => {
  // The demo's private nats-server is found on PATH (Debian puts it in /usr/sbin).
  const demo = spawn(join(prefix, "bin", "mesh-mcp"), ["demo"], {
    cwd: work,
    env: { PATH: `${clientPath()}${delimiter}/usr/sbin${delimiter}/usr/local/sbin`, HOME: work },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  demo.stdout!.on("data", (d) => (out += String(d)));
  demo.stderr!.on("data", (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => demo.once("exit", (code) => r(code)));
  try {
    const page = await waitFor(() => /Status page\s+(http:\/\/\S+\/status)/.exec(out)?.[1], `the demo's status page line (stdout: ${out.slice(-300)} stderr: ${err.slice(-300)})`, { timeoutMs: 60_000, intervalMs: 200 });
    assert.match(out, /MCP endpoint\s+http:\/\/127\.0\.0\.1:\d+\/mcp/);
    const res = await fetch(page);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<title>mesh-mcp status<\/title>/);
    const json = (await (await fetch(page.replace(/\/status$/, "/status.json"))).json()) as { nodes: Array<{ name: string }> };
    assert.ok(json.nodes.some((n) => n.name === "demo-node"), JSON.stringify(json.nodes));
  } finally {
    demo.kill("SIGTERM");
    await exited;
  }
  assert.match(out, /stopped: nothing of the demo is left running/);
});
