/**
 * Named static tokens (--token-file) and --auth-token's principal: who a token names,
 * one principal per session, the file re-read when it changes, and the CLI helper.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { parseTokenFile, sha256Hex } from "../../src/transports/auth.js";
import { startupProblem } from "../../src/transports/http-security.js";
import { CLI, connectClient, MCP_HEADERS, meshWithTools, raw, rawSession, startCli, waitFor } from "./helpers.js";

const ALICE = "alice-token-0123456789";
const BOB = "bob-token-0123456789";
const CAROL = "carol-token-0123456789";
const line = (token: string, name: string, roles = "") => `sha256:${sha256Hex(token)} ${name} ${roles}`.trim();

test("parseTokenFile: lines and JSON; errors name the line", () => {
  const m = parseTokenFile(`# team tokens\n${line(ALICE, "alice", "operators,readers")}\n\n${line(BOB, "bob")}  # no roles\n`);
  assert.deepEqual(m.get(sha256Hex(ALICE)), { name: "alice", roles: ["operators", "readers"] });
  assert.deepEqual(m.get(sha256Hex(BOB)), { name: "bob", roles: [] });
  const j = parseTokenFile(JSON.stringify([{ sha256: sha256Hex(CAROL), name: "carol", roles: ["admins"] }]));
  assert.deepEqual(j.get(sha256Hex(CAROL)), { name: "carol", roles: ["admins"] });
  assert.throws(() => parseTokenFile(`${line(ALICE, "alice")}\nsha256:abc bob`, "tokens.txt"), /tokens\.txt line 2: the hash must be sha256:<64 hex digits>.*hash-token/);
  assert.throws(() => parseTokenFile(`${line(ALICE, "alice")}\n${line(BOB, "alice")}`), /line 2: the name "alice" is used twice/);
  assert.throws(() => parseTokenFile(`${line(ALICE, "alice")}\n${line(ALICE, "bob")}`), /line 2: the same token hash appears twice/);
  assert.throws(() => parseTokenFile(`${line(ALICE, "alice", "readers")} extra`), /line 1: expected/);
});

test("startupProblem: a token file or OAuth counts as authentication", () => {
  assert.equal(startupProblem("0.0.0.0", true, false), undefined);
  assert.match(startupProblem("0.0.0.0", false, false)!, /--token-file FILE.*--oauth-issuer URL/);
});

test("mesh-mcp hash-token prints a token file line (and a new token when none is given)", async () => {
  const run = promisify(execFile);
  const given = await run(process.execPath, [CLI, "hash-token", ALICE]);
  assert.equal(given.stdout.trim(), `token file line (replace NAME and ROLES): sha256:${sha256Hex(ALICE)} NAME ROLES`);
  const fresh = await run(process.execPath, [CLI, "hash-token"]);
  const token = /: (\S+)\n/.exec(fresh.stdout)![1]!;
  assert.ok(token.length >= 40, "a long random token");
  assert.match(fresh.stdout, new RegExp(`sha256:${sha256Hex(token)} NAME ROLES`));
});

test("--token-file and --auth-token: named principals, one per session, the file re-read on change", async (t) => {
  const env = await meshWithTools(t);
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-tokens-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "tokens");
  writeFileSync(file, `${line(ALICE, "alice", "operators")}\n${line(BOB, "bob", "readers")}\n`);
  const cli = await startCli(t, ["--nats", env.nats.url, "--token-file", file, "--auth-token", "zero-config-token-123", "--auth-token-name", "ci", "--log-level", "debug"]);
  assert.match(cli.stderr(), /auth: bearer token, token file \(2 token\(s\)\)/);

  // Both revisions accept a named token (2025 session; 2026 per request, the principal in authInfo).
  const v1 = await connectClient(t, cli.url, ALICE);
  assert.ok((await v1.listTools()).tools.some((x) => x.name === "calc__add"));
  const v2 = new V2Client({ name: "v2", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await v2.connect(new V2Http(new URL(cli.url), { requestInit: { headers: { authorization: `Bearer ${BOB}` } } }));
  t.after(() => v2.close());
  assert.equal(v2.getNegotiatedProtocolVersion(), "2026-07-28");
  const r = await v2.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } });
  assert.equal((r.content as Array<{ text: string }>)[0]!.text, "3");
  assert.ok((await (await connectClient(t, cli.url, "zero-config-token-123")).listTools()).tools.length > 0, "--auth-token still works beside the file");

  // Missing and wrong tokens read differently.
  const missing = await raw(cli.url, { method: "POST", headers: MCP_HEADERS, body: "{}" });
  assert.equal(missing.status, 401);
  assert.match(JSON.parse(missing.body).error.message, /no bearer token \(the request carried no Authorization header\)/);
  const wrong = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, authorization: "Bearer nope-nope" }, body: "{}" });
  assert.equal(wrong.status, 401);
  assert.match(JSON.parse(wrong.body).error.message, /invalid token \(neither the server's MESH_MCP_AUTH_TOKEN nor one of its --token-file tokens\)\. The client did send a bearer token/);

  // One principal per session: bob cannot ride alice's session.
  const session = await rawSession(cli.url, { authorization: `Bearer ${ALICE}` });
  const list = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} });
  const hdr = (token: string) => ({ ...MCP_HEADERS, authorization: `Bearer ${token}`, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" });
  const bobs = await raw(cli.url, { method: "POST", headers: hdr(BOB), body: list });
  assert.equal(bobs.status, 403, bobs.body);
  assert.match(JSON.parse(bobs.body).error.message, /opened by another principal/);
  assert.equal((await raw(cli.url, { method: "DELETE", headers: hdr(BOB) })).status, 403, "nor end it");
  assert.equal((await raw(cli.url, { method: "POST", headers: hdr(ALICE), body: list })).status, 200, "alice still can");

  // The file is re-read when it changes: carol comes, bob goes; a broken edit keeps the last good entries.
  writeFileSync(file, `${line(ALICE, "alice", "operators")}\n${line(CAROL, "carol")}\n`);
  const status = async (token: string) => (await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: list })).status;
  await waitFor(async () => (await status(CAROL)) === 400, "carol's token accepted (400: no session, past auth)", 10_000);
  assert.equal(await status(BOB), 401, "bob's token is gone");
  writeFileSync(file, "this is not a token file\n");
  // The file is looked at when a token-file token is checked, at most once a second.
  await waitFor(async () => (await status(CAROL), /not re-read \(keeping the previous 2 token\(s\)\): .*line 1/.test(cli.stderr())), "the broken edit reported", 10_000);
  assert.equal(await status(CAROL), 400, "the previous entries stay");
  for (const secret of [ALICE, BOB, CAROL, "zero-config-token-123"]) assert.ok(!cli.stderr().includes(secret), "no token in the log");
});

test("behind mcp-remote, a wrong token no longer reads like a missing one", async (t) => {
  const { spawn } = await import("node:child_process");
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--auth-token", "the-right-token-123"]);
  const root = new URL("../..", import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-remote-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  /** mcp-remote's stderr until it gives up on OAuth (it cannot sign in: the server has none). */
  const remote = (headerArgs: string[]) => new Promise<string>((resolve) => {
    const proc = spawn(process.execPath, [join(root, "node_modules/mcp-remote/dist/proxy.js"), cli.url, ...headerArgs], {
      env: { ...process.env, MCP_REMOTE_CONFIG_DIR: join(dir, String(Math.random())), BROWSER: "/bin/false" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    let err = "";
    const done = () => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      resolve(err);
    };
    const timer = setTimeout(done, 30_000);
    proc.stderr!.on("data", (d) => {
      err += String(d);
      if (/Registration rejected/.test(err)) done();
    });
    proc.once("exit", done);
    proc.stdin!.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } }) + "\n");
  });
  const wrong = await remote(["--header", "Authorization: Bearer not-the-right-token"]);
  assert.match(wrong, /your client DID send a bearer token, but not one this server accepts/, wrong.slice(-2000));
  const none = await remote([]);
  assert.match(none, /mesh-mcp does not use OAuth: configure your MCP client to send the header/, none.slice(-2000));
  assert.doesNotMatch(none, /DID send/);
});
