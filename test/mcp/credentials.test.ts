/**
 * Credentials on a real nats-server with auth: given in the NATS URL they log in; given
 * any way (URL, --nats-token, NATS_PASSWORD, the HTTP bearer token) they never appear in
 * a log line, a notification, a tool result or error, doctor's report, or /metrics.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { mcpEnv, registerCalculator, runCli, textOf, waitFor } from "../helpers/mcp.js";
import { connectClient, startCli } from "../http/helpers.js";

const USER = "meshuser";
const PASS = "Pw-9f3kQ7zLx2";
const TOKEN = "Tok-4hV8wq1Rz6";
const BEARER = "Bearer-7Jm2Xc5Np0";

function noSecret(where: string, text: string, ...secrets: string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s) && !text.includes(encodeURIComponent(s)), `${where} shows a secret:\n${text.split("\n").filter((l) => l.includes(s)).join("\n").slice(0, 800)}`);
}

test("user:password in the NATS URL logs in, and the password appears nowhere (stdio, debug logs)", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t, { args: ["--user", USER, "--pass", PASS] });
  const node = await env.node("n1", { user: USER, password: PASS });
  await registerCalculator(node);
  const natsUrl = `nats://${USER}:${PASS}@127.0.0.1:${env.nats.port}`;
  const client = await env.client({ natsUrl, args: ["--log-level", "debug"] });
  await client.client.setLoggingLevel("debug");
  await client.waitForTools(["calculator__add"]);
  const results = [
    await client.call("calculator__add", { a: 1, b: 2 }),
    await client.call("calculator__add", { a: "not a number" }),
    await client.call("calculator__fail", {}),
    await client.call("nope__nope", {}),
  ];
  assert.equal(textOf(results[0]!), "3", "logged in with the URL's credentials");
  await waitFor(() => /call calculator\.add ok in \d+ ms \(node n1\)/.test(client.stderr), "the call log line");
  assert.match(client.stderr, /nats:\/\/\*\*\*@127\.0\.0\.1/, "the URL is logged, masked");
  noSecret("stderr", client.stderr, PASS);
  noSecret("notifications", JSON.stringify(client.notifications), PASS);
  noSecret("results", JSON.stringify(results), PASS);

  const doctor = await runCli(["doctor"], { env: { NATS_URL: natsUrl } });
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  noSecret("doctor", doctor.stdout + doctor.stderr, PASS);
});

test("a wrong password in the URL is refused clearly, without showing it", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t, { args: ["--user", USER, "--pass", PASS] });
  const wrong = "Wrong-Pw-55xq1";
  const natsUrl = `nats://${USER}:${wrong}@127.0.0.1:${env.nats.port}`;
  const client = await env.client({ natsUrl, args: ["--log-level", "debug"] });
  const r = await client.call("mesh_upload_file", { path: "/tmp/x" });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /refused the connection: Authorization Violation\. Credentials in use: user\/password \(user "meshuser"\) in the NATS URL/);
  noSecret("tool error", textOf(r), wrong);
  noSecret("stderr", client.stderr, wrong);
  const doctor = await runCli(["doctor"], { env: { NATS_URL: natsUrl } });
  assert.notEqual(doctor.code, 0);
  assert.match(doctor.stdout + doctor.stderr, /nats:\/\/\*\*\*@127\.0\.0\.1/);
  noSecret("doctor", doctor.stdout + doctor.stderr, wrong);
});

test("URL credentials that contradict the flags, or differ between URLs, are refused naming what to do", { timeout: 30_000 }, async () => {
  const a = await runCli(["tools", "--nats", `nats://${USER}:${PASS}@127.0.0.1:1`, "--nats-user", "other", "--nats-password", "Other-Pw-1234"]);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /credentials that differ from --nats-user\/--nats-password\/--nats-token; give them one way only/);
  noSecret("stderr", a.stderr, PASS, "Other-Pw-1234");
  const b = await runCli(["tools", "--nats", `nats://${USER}:${PASS}@127.0.0.1:1,nats://${USER}:Pw-Other-0000@127.0.0.1:2`]);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /the NATS URLs carry different credentials/);
  noSecret("stderr", b.stderr, PASS, "Pw-Other-0000");
});

function get(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", reject).end();
  });
}

test("a token in the URL, --nats-token and the HTTP bearer token: used, and in no log, result or metric (HTTP, debug logs)", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t, { args: ["--auth", TOKEN] });
  const node = await env.node("n1", { token: TOKEN });
  await registerCalculator(node);
  for (const [how, args] of [
    ["URL token", ["--nats", `nats://${TOKEN}@127.0.0.1:${env.nats.port}`]],
    ["--nats-token", ["--nats", env.nats.url, "--nats-token", TOKEN]],
  ] as const) {
    const cli = await startCli(t, [...args, "--log-level", "debug"], { MESH_MCP_AUTH_TOKEN: BEARER, NATS_URL: "" });
    const client = await connectClient(t, cli.url, BEARER);
    const notes: string[] = [];
    client.fallbackNotificationHandler = async (n) => void notes.push(JSON.stringify(n));
    await client.setLoggingLevel("debug");
    const results = [];
    for (let i = 0; i < 50 && !(await client.listTools()).tools.some((x) => x.name === "calculator__add"); i++) await new Promise((r) => setTimeout(r, 100));
    results.push(await client.callTool({ name: "calculator__add", arguments: { a: 20, b: 22 } }));
    results.push(await client.callTool({ name: "calculator__fail", arguments: {} }));
    assert.equal(textOf(results[0] as { content: unknown }), "42", `${how}: logged in`);
    const metrics = await get(cli.url.replace(/\/mcp$/, "/metrics"), { authorization: `Bearer ${BEARER}` });
    assert.match(metrics, /mesh_mcp_/, "metrics were served");
    const wrongBearer = await get(cli.url, { authorization: "Bearer nope-nope-nope" });
    await new Promise((r) => setTimeout(r, 200));
    for (const [where, text] of [["stderr", cli.stderr()], ["notifications", notes.join("\n")], ["results", JSON.stringify(results)], ["metrics", metrics], ["401 body", wrongBearer]] as const) {
      noSecret(`${how}: ${where}`, text, TOKEN, BEARER);
    }
  }
});

test("an nkey seed and a password given as flags/env never show, even when refused", { timeout: 60_000 }, async (t) => {
  const { nkeys } = await import("@nats-io/transport-node");
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  const env = await mcpEnv(t, { args: ["--user", USER, "--pass", PASS] });
  const withSeed = await env.client({ args: ["--nats-nkey", seed, "--log-level", "debug"] });
  const r1 = await withSeed.call("mesh_upload_file", { path: "/tmp/x" });
  assert.equal(r1.isError, true);
  const wrongPw = "Env-Pw-31337x";
  const withPw = await env.client({ env: { NATS_USER: USER, NATS_PASSWORD: wrongPw }, args: ["--log-level", "debug"] });
  const r2 = await withPw.call("mesh_upload_file", { path: "/tmp/x" });
  assert.match(textOf(r2), /Authorization Violation/);
  const doctor = await runCli(["doctor", "--nats", env.nats.url, "--nats-nkey", seed]);
  assert.notEqual(doctor.code, 0);
  for (const [where, text] of [["stderr (nkey)", withSeed.stderr], ["result (nkey)", JSON.stringify(r1)], ["doctor", doctor.stdout + doctor.stderr]] as const) noSecret(where, text, seed);
  for (const [where, text] of [["stderr (password)", withPw.stderr], ["result (password)", JSON.stringify(r2)]] as const) noSecret(where, text, wrongPw);
});
