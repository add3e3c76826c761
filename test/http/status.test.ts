/**
 * The status page (`/status`, `/status.json`) and `mesh-mcp status`: a real nats-server,
 * real mesh nodes, the built CLI over HTTP with a bearer token, an SDK client making the
 * calls, and Debian's Chromium (driven by playwright-core) reading the page.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdirSync } from "node:fs";
import { test, type TestContext } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Mesh } from "../../src/mesh/index.js";
import { runCli as runCliFull } from "../helpers/mcp.js";
import { waitFor } from "../helpers/mesh.js";
import { meshWithTools, startCli, type Cli } from "./helpers.js";

const TOKEN = "status-test-token-1234567890";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

interface View {
  nodes: Array<{ name: string; tools: Array<{ tool: string; methods: string[] }> }>;
  calls: Array<{ tool: string; node?: string; caller?: string; ageMs: number; callId?: string; candidates: string[] }>;
  failures: Array<{ tool: string; outcome: string; reason: string; caller?: string }>;
  sessions: { open: number; list?: Array<{ caller: string }> };
  nats: { state: string };
  tasks: { enabled: boolean; open: unknown[] };
}

async function statusJson(cli: Cli, token = TOKEN): Promise<{ status: number; body: string; view?: View }> {
  const res = await fetch(`${cli.base}/status.json`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = await res.text();
  return { status: res.status, body, view: res.ok ? (JSON.parse(body) as View) : undefined };
}

async function agent(t: TestContext, cli: Cli, name = "status-test-agent"): Promise<Client> {
  const client = new Client({ name, version: "1.2.3" });
  await client.connect(new StreamableHTTPClientTransport(new URL(cli.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  t.after(() => client.close());
  return client;
}

/** A second node that joins later: `extra.hello`. */
async function joinNode(t: TestContext, natsUrl: string, name: string): Promise<Mesh> {
  const m = await Mesh.connect({ servers: natsUrl, node: name });
  t.after(() => m.close().catch(() => {}));
  await m.registerTool({
    name: "extra", version: "2.0.0", description: "A tool of a node that joined later",
    methods: { hello: { schema: { type: "object", properties: {} }, handler: () => "hi" } },
  });
  return m;
}

test("/status.json: behind the token; shows nodes, a call in flight with its caller, and a failure with its reason; nothing secret", async (t) => {
  const env = await meshWithTools(t);
  // The token's holder is the principal "alice": the caller the view names.
  const cli = await startCli(t, ["--nats", env.nats.url, "--auth-token", TOKEN, "--auth-token-name", "alice", "--refresh-interval", "1"]);

  // Same auth as /mcp: no token or a wrong one gets 401 and no data.
  assert.equal((await statusJson(cli, "")).status, 401);
  const wrong = await statusJson(cli, "not-the-token-at-all");
  assert.equal(wrong.status, 401);
  assert.doesNotMatch(wrong.body, /slow|calc/);
  // The page itself is static (no data), served without the token, with a CSP that allows nothing from elsewhere.
  const page = await fetch(`${cli.base}/status`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\//, "the page loads nothing from elsewhere");
  assert.doesNotMatch(html, new RegExp(TOKEN));
  // `/` leads a browser to the page.
  const root = await fetch(`${cli.base}/`, { redirect: "manual" });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get("location"), "/status");

  const first = await waitFor(async () => {
    const s = await statusJson(cli);
    return s.view?.nodes.some((n) => n.name === "n1") ? s.view : undefined;
  }, "node n1 on the status view", { timeoutMs: 10_000 });
  assert.deepEqual(first.nodes.find((n) => n.name === "n1")?.tools.map((x) => x.tool), ["calc", "slow"]);
  assert.equal(first.nats.state, "connected");

  // A node that joins shows up.
  await joinNode(t, env.nats.url, "n2");
  await waitFor(async () => (await statusJson(cli)).view?.nodes.some((n) => n.name === "n2" && n.tools[0]?.tool === "extra"), "node n2 joining", { timeoutMs: 10_000 });

  // A call in flight: tool, node, caller (the session's principal, by name), age.
  const client = await agent(t, cli);
  const stop = new AbortController();
  const call = client.callTool({ name: "slow__wait", arguments: { ms: 60_000 } }, undefined, { signal: stop.signal });
  await env.slowStarted();
  const inflight = await waitFor(async () => (await statusJson(cli)).view?.calls.find((c) => c.tool === "slow.wait"), "the call in flight", { timeoutMs: 5000 });
  assert.equal(inflight.node, "n1", "the node the call went to");
  assert.equal(inflight.caller, "alice");
  assert.ok(inflight.callId, "the mesh call id");
  const sessions = (await statusJson(cli)).view!.sessions;
  assert.equal(sessions.open, 1);
  assert.equal(sessions.list?.[0]?.caller, "alice");

  // A rejected call: its reason is kept (not only "invalid arguments:").
  const bad = await client.callTool({ name: "calc__add", arguments: { a: "two" } });
  assert.equal(bad.isError, true);
  const failure = (await statusJson(cli)).view!.failures.find((f) => f.tool === "calc.add");
  assert.ok(failure, "the failure is listed");
  assert.equal(failure.outcome, "invalid");
  assert.match(failure.reason, /a must be number/);
  assert.match(failure.reason, /must have required property 'b'/);
  assert.equal(failure.caller, "alice");

  // Nothing secret anywhere in the view: not the token, not the MCP session id.
  const body = (await statusJson(cli)).body;
  assert.doesNotMatch(body, new RegExp(TOKEN));
  const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
  assert.ok(sessionId);
  assert.doesNotMatch(body, new RegExp(sessionId));

  // The call ends (cancelled by the client): it leaves the list.
  stop.abort();
  await call.catch(() => {});
  await waitFor(async () => (await statusJson(cli)).view?.calls.length === 0, "the call to leave the list", { timeoutMs: 10_000 });
  // The log line of the rejected call keeps its reason too.
  assert.match(cli.stderr(), /call calc\.add invalid in \d+ ms: calc\.add: invalid arguments: .*a must be number/);
});

test("mesh-mcp status: nodes and tools from a direct mesh connection, as text and --json", async (t) => {
  const env = await meshWithTools(t);
  const text = await runCliFull(["status", "--nats", env.nats.url]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /NATS: connected/);
  assert.match(text.stdout, /^ {2}n1$/m);
  assert.match(text.stdout, /slow v1\.0\.0: count, wait/);
  const json = await runCliFull(["status", "--json", "--nats", env.nats.url]);
  assert.equal(json.code, 0, json.stderr);
  const view = JSON.parse(json.stdout) as View;
  assert.deepEqual(view.nodes.map((n) => n.name), ["n1"]);
  assert.equal(view.tasks.enabled, true);
});

test("the status page in a real browser (Chromium): a node that joins and a call in flight appear by themselves; fits a phone", async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  const { chromium } = await import("playwright-core");
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--auth-token", TOKEN, "--auth-token-name", "claude-code", "--refresh-interval", "1"]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  // A phone-sized page (iPhone 13-like).
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });

  // Without a token the page asks for one; a wrong one is refused; the right one shows the mesh.
  await page.goto(`${cli.base}/status`);
  await page.locator("#auth").waitFor({ state: "visible", timeout: 10_000 });
  await page.fill("#token", "wrong-token-0000000000");
  await page.click("#auth button");
  await page.locator("#autherr", { hasText: "refused" }).waitFor({ timeout: 10_000 });
  await page.fill("#token", TOKEN);
  await page.click("#auth button");
  await page.locator('#s-nodes [data-node="n1"]').waitFor({ timeout: 10_000 });
  assert.match((await page.locator("#nats").textContent()) ?? "", /connected/);

  // A node joins after the page is open: it appears without a reload.
  await joinNode(t, env.nats.url, "n2");
  await page.locator('#s-nodes [data-node="n2"]', { hasText: "extra" }).waitFor({ timeout: 15_000 });

  // A call in flight appears, with its node and caller.
  const client = await agent(t, cli, "claude-code");
  const stop = new AbortController();
  const call = client.callTool({ name: "slow__wait", arguments: { ms: 60_000 } }, undefined, { signal: stop.signal });
  await env.slowStarted();
  const row = page.locator('#s-calls [data-tool="slow.wait"]');
  await row.waitFor({ timeout: 10_000 });
  const rowText = (await row.textContent()) ?? "";
  assert.match(rowText, /on n1/);
  assert.match(rowText, /for claude-code/);
  // A failure with its reason.
  await client.callTool({ name: "calc__add", arguments: { a: 1 } });
  await page.locator("#s-failures li", { hasText: "must have required property 'b'" }).waitFor({ timeout: 10_000 });

  // Usable on a phone: nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
  // The token is not left in the address bar when given in the fragment.
  const page2 = await browser.newPage();
  await page2.goto(`${cli.base}/status#token=${TOKEN}`);
  await page2.locator('#s-nodes [data-node="n1"]').waitFor({ timeout: 10_000 });
  assert.doesNotMatch(page2.url(), new RegExp(TOKEN));
  await page2.close();

  if (process.env.STATUS_SCREENSHOT) {
    // STATUS_SCREENSHOT=docs/status-page.png: the phone view there, a desktop one beside it (…-desktop.png).
    mkdirSync("docs", { recursive: true });
    await page.screenshot({ path: process.env.STATUS_SCREENSHOT, fullPage: true });
    const desktop = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await desktop.goto(`${cli.base}/status#token=${TOKEN}`);
    await desktop.locator('#s-calls [data-tool="slow.wait"]').waitFor({ timeout: 10_000 });
    await desktop.screenshot({ path: process.env.STATUS_SCREENSHOT.replace(/\.png$/, "-desktop.png"), fullPage: true });
    await desktop.close();
  }
  assert.deepEqual(problems, []);
  stop.abort();
  await call.catch(() => {});
  // The call ended: the page says so by itself.
  await page.locator("#s-calls .empty").waitFor({ timeout: 10_000 });
});

test("/status.json: a 2026-07-28 client's call in flight names the client (sessionless: no session, the request's clientInfo)", async (t) => {
  const { connect } = await import("../eras/kit.js");
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url]);
  const client = await connect(t, "v2-pinned", { wire: "http", url: cli.url });
  assert.equal(client.protocolVersion(), "2026-07-28");
  await waitFor(async () => (await client.listTools()).some((x) => x.name === "slow__wait"), "slow__wait listed", { timeoutMs: 10_000 });
  const stop = new AbortController();
  const call = client.call("slow__wait", { ms: 60_000 }, { signal: stop.signal });
  await env.slowStarted();
  const inflight = await waitFor(async () => (await statusJson(cli, "")).view?.calls.find((c) => c.tool === "slow.wait"), "the 2026 call in flight", { timeoutMs: 5000 });
  assert.equal(inflight.caller, "era-test-v2-pinned/1.0.0");
  assert.equal(inflight.node, "n1");
  stop.abort();
  await call.catch(() => {});
});

test("/status.json lists open tasks (any owner, no owner shown) and never creates the task bucket itself", async (t) => {
  const { natsWithJob } = await import("./helpers.js");
  const { CreateTaskResultSchema } = await import("@modelcontextprotocol/sdk/types.js");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const { connect } = await import("@nats-io/transport-node");
  const { nats } = await natsWithJob(t);
  const cli = await startCli(t, ["--nats", nats.url, "--auth-token", TOKEN]);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const buckets = async () => (await jsm.streams.names().next()).filter((n) => n.startsWith("KV_mesh-mcp-tasks"));

  const before = await waitFor(async () => (await statusJson(cli)).view, "the status view");
  assert.deepEqual(before.tasks.open, []);
  assert.deepEqual(await buckets(), [], "reading the status created no bucket");

  const client = new Client({ name: "task-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(cli.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  t.after(() => client.close());
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "job__run"), "job__run listed", { timeoutMs: 10_000 });
  const { task } = await client.request({ method: "tools/call", params: { name: "job__run", arguments: { n: 100, everyMs: 100 }, task: {} } }, CreateTaskResultSchema);
  const open = await waitFor(async () => (await statusJson(cli)).view?.tasks.open.find((x) => (x as { id: string }).id === task.taskId) as
    { id: string; tool: string; status: string; node: string } | undefined, "the task on the status view", { timeoutMs: 10_000 });
  assert.equal(open.tool, "job.run");
  assert.equal(open.status, "working");
  assert.equal(open.node, "n1");
  assert.doesNotMatch((await statusJson(cli)).body, /owner/i, "no task owner on the view");
});
