/**
 * What a new user sees when the one-shot commands cannot work: credentials refused,
 * NATS not there; and the conveniences they expect (`--embedded-nats`, MCP tool names).
 * The built CLI against a real nats-server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { freePort } from "../helpers/nats-server.js";
import { ensureBuilt, mcpEnv, registerCalculator, runCli, textOf } from "../helpers/mcp.js";
import { listening } from "../../src/embedded-nats.js";

const T = { timeout: 60_000 };
const SECRET = "s3cret-Passw0rd";

test("Authorization Violation names the credential options and which one is set, never the secret", T, async (t) => {
  const env = await mcpEnv(t, { args: ["--user", "mesh", "--pass", "right-password"] });
  const url = env.nats.url;
  const cases: Array<{ env: Record<string, string>; inUse: RegExp }> = [
    { env: { NATS_URL: url, NATS_USER: "mesh", NATS_PASSWORD: SECRET }, inUse: /Credentials in use: user\/password \(user "mesh"\)/ },
    { env: { NATS_URL: url }, inUse: /Credentials in use: none/ },
    { env: { NATS_URL: url, NATS_TOKEN: SECRET }, inUse: /Credentials in use: a token/ },
  ];
  for (const c of cases) {
    for (const cmd of [["tools"], ["call", "calculator.add", "a=1"], ["doctor"]]) {
      const t0 = performance.now();
      const r = await runCli(cmd, { env: c.env });
      const all = r.stdout + r.stderr;
      assert.equal(r.code, 1, `${cmd[0]}: ${all}`);
      assert.ok(performance.now() - t0 < 8000, `${cmd[0]} took ${performance.now() - t0} ms to give up`);
      assert.match(all, /Authorization Violation/);
      assert.match(all, c.inUse);
      for (const opt of ["NATS_TOKEN", "NATS_USER", "NATS_PASSWORD", "NATS_CREDS", "NATS_NKEY"]) assert.ok(all.includes(opt), `${opt} not named: ${all}`);
      assert.ok(!all.includes(SECRET), `the secret leaked: ${all}`);
      assert.doesNotMatch(all, /start nats-server|keeps retrying|retrying every/);
    }
  }
  // The right password works: the message above was about credentials, not the server.
  const node = await env.node("n1", { user: "mesh", password: "right-password" });
  await registerCalculator(node);
  const ok = await runCli(["call", "calculator.add", "a=1", "b=2"], { env: { NATS_URL: url, NATS_USER: "mesh", NATS_PASSWORD: "right-password" } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), "3");
});

test("tools/call with NATS down say what failed and exit 1 at once, without promising retries", T, async () => {
  await ensureBuilt();
  const url = `nats://127.0.0.1:${await freePort()}`;
  for (const cmd of [["tools"], ["call", "calculator__add", "a=1"]]) {
    const t0 = performance.now();
    const r = await runCli(cmd, { env: { NATS_URL: url } });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(performance.now() - t0 < 8000);
    assert.match(r.stderr, new RegExp(`could not connect to NATS at ${url.replace(/\./g, "\\.")}`));
    assert.match(r.stderr, /Is nats-server running there\?/);
    assert.doesNotMatch(r.stderr, /retrying/);
  }
});

test("call accepts the MCP tool names that `tools` prints", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const url = { NATS_URL: env.nats.url };
  const listed = await runCli(["tools"], { env: url });
  assert.match(listed.stdout, /^calculator__add$/m);
  const byName = await runCli(["call", "calculator__add", "a=2", "b=3"], { env: url });
  assert.equal(byName.code, 0, byName.stderr);
  assert.equal(byName.stdout.trim(), "5");
  const unknown = await runCli(["call", "nosuch__tool"], { env: url });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /"nosuch__tool" is neither TOOL\.METHOD nor an MCP tool name of this mesh \(see mesh-mcp tools\)/);
});

test("doctor, tools and call honour --embedded-nats and leave no nats-server behind", T, async () => {
  await ensureBuilt();
  const doctor = await runCli(["doctor", "--embedded-nats"]);
  // An empty private mesh: NATS and JetStream work, discovery finds nothing (exit 1 for that alone).
  assert.match(doctor.stdout, /^ok {4}NATS: connected to 127\.0\.0\.1:(\d+)/m, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^ok {4}JetStream: enabled/m);
  assert.match(doctor.stdout, /^FAIL {2}discovery: no tools found/m);
  const port = Number(doctor.stdout.match(/connected to 127\.0\.0\.1:(\d+)/)![1]);
  assert.equal(await listening(port), false, "the embedded nats-server outlived doctor");

  const tools = await runCli(["tools", "--embedded-nats"]);
  assert.equal(tools.code, 0, tools.stderr);
  assert.match(tools.stdout, /^mesh_upload_file$/m);
  const call = await runCli(["call", "calculator.add", "a=1", "--embedded-nats"], { env: { MESH_MCP_LOG_LEVEL: "error" } });
  assert.equal(call.code, 1);
  assert.match(call.stderr, /no node answers on tools\.calculator\.add/);
});

test("serving with refused credentials: an agent's call names the credential options, not 'start nats-server'", T, async (t) => {
  const env = await mcpEnv(t, { args: ["--user", "mesh", "--pass", "right-password"] });
  const client = await env.client({ env: { NATS_USER: "mesh", NATS_PASSWORD: SECRET } });
  await new Promise((r) => setTimeout(r, 500)); // the first connect attempt fails
  const r = await client.call("calculator__add", { a: 1, b: 2 });
  assert.equal(r.isError, true);
  const text = textOf(r);
  assert.match(text, /Authorization Violation/);
  assert.match(text, /user\/password \(user "mesh"\)/);
  assert.match(text, /NATS_CREDS/);
  assert.doesNotMatch(text, /start nats-server/);
  assert.ok(!text.includes(SECRET));
});
