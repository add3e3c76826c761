/**
 * First-contact rough edges (issue 25): what a newcomer's mistakes get told. The built
 * CLI against a real nats-server and mesh node.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { test } from "node:test";
import { nodeVersionWarning } from "../../src/node-version.js";
import { closest } from "../../src/suggest.js";
import { CLI, mcpEnv, registerCalculator, runCli } from "../helpers/mcp.js";

test("an unknown flag gets 'did you mean', not parseArgs' hint about positionals after '--'", async () => {
  const r = await runCli(["--prot", "3000"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option --prot \(did you mean --port\?\)/);
  assert.doesNotMatch(r.stderr, /positional|'--'/);
  const far = await runCli(["--zzzzzzzz"]);
  assert.match(far.stderr, /unknown option --zzzzzzzz\. Run mesh-mcp --help/, "no wild guess when nothing is close");
  assert.equal(closest("transprot", ["transport", "port"]), "transport");
  assert.equal(closest("nats-tokn", ["nats-token", "nats-user"]), "nats-token");
});

test("a port in use: the error suggests --port 0", async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  t.after(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const r = await runCli(["--transport", "http", "--port", String(port), "--nats", "nats://127.0.0.1:1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*--port 0 for any free port`));
});

test("call TOOL.nope says the tool exists and lists its methods; a misspelt tool gets 'did you mean'", async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const r = await runCli(["call", "calculator.ad", "a=1", "--nats", env.nats.url]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /calculator has no method "ad" \(did you mean calculator\.add\?\); its methods: add, fail/);
  assert.doesNotMatch(r.stderr, /no node/);
  const typo = await runCli(["call", "calculater.add", "--nats", env.nats.url]);
  assert.match(typo.stderr, /no tool "calculater" in the catalog \(did you mean calculator\?\)/);
});

test("tools --json prints what tools/list returns", async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const r = await runCli(["tools", "--json", "--nats", env.nats.url]);
  assert.equal(r.code, 0, r.stderr);
  const { tools } = JSON.parse(r.stdout) as { tools: Array<{ name: string; inputSchema: { properties: Record<string, unknown> } }> };
  const add = tools.find((x) => x.name === "calculator__add");
  assert.ok(add, "calculator__add listed");
  assert.ok(add.inputSchema.properties.a);
  assert.ok(tools.some((x) => x.name === "mesh_upload_file"), "built-ins too");
});

test("Node older than 22: one warning at start", async (t) => {
  assert.match(nodeVersionWarning("20.20.2") ?? "", /Node\.js 20\.20\.2 is older than mesh-mcp supports \(22 or later/);
  assert.equal(nodeVersionWarning("22.0.0"), undefined);
  assert.equal(nodeVersionWarning("24.1.0"), undefined);
  // The machine's Debian Node (20 on this image), when there is one: the warning is said once, on stderr.
  const old = "/usr/bin/node";
  const version = existsSync(old) ? await new Promise<string>((r) => execFile(old, ["-p", "process.versions.node"], (e, out) => r(e ? "" : out.trim()))) : "";
  if (!version || Number(version.split(".")[0]) >= 22) return t.skip(`no Node older than 22 at ${old}`);
  const r = await new Promise<{ stderr: string; stdout: string }>((resolve) =>
    execFile(old, [CLI, "call"], { timeout: 20_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })));
  assert.equal(r.stderr.match(/warning: Node\.js 20/g)?.length, 1, r.stderr);
  assert.equal(r.stdout, "", "stdout stays clean (stdio: it belongs to the protocol)");
});
