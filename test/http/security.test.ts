/**
 * Access control and limits of the HTTP transport: the policy functions on their
 * own, then the status codes of a running CLI with raw HTTP requests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OriginPolicy, TokenCheck, isLoopback, splitHost, startupProblem } from "../../src/transports/http-security.js";
import { connectClient, INITIALIZE, MCP_HEADERS, meshWithTools, raw, rawSession, runCli, startCli } from "./helpers.js";

test("isLoopback and splitHost", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "foo.localhost"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com"]) assert.ok(!isLoopback(h), h);
  assert.deepEqual(splitHost("Example.COM:8080"), { hostname: "example.com", port: 8080 });
  assert.deepEqual(splitHost("[::1]:3000"), { hostname: "::1", port: 3000 });
  assert.deepEqual(splitHost("[::1]"), { hostname: "::1", port: undefined });
  assert.deepEqual(splitHost("example.com"), { hostname: "example.com", port: undefined });
});

test("startupProblem: non-loopback needs a token or --insecure-no-auth", () => {
  assert.equal(startupProblem("127.0.0.1", undefined, false), undefined);
  assert.equal(startupProblem("::1", undefined, false), undefined);
  assert.match(startupProblem("0.0.0.0", undefined, false)!, /refusing to listen on 0\.0\.0\.0/);
  assert.match(startupProblem("192.168.1.5", "", false)!, /--auth-token/);
  assert.equal(startupProblem("0.0.0.0", "secret", false), undefined);
  assert.equal(startupProblem("0.0.0.0", undefined, true), undefined);
});

test("TokenCheck", () => {
  const c = new TokenCheck("s3cret-token");
  assert.equal(c.check("Bearer s3cret-token"), "ok");
  assert.equal(c.check("bearer s3cret-token"), "ok");
  assert.equal(c.check("Bearer s3cret-tokeN"), "invalid");
  assert.equal(c.check("Bearer s3cret-token-and-more"), "invalid");
  assert.equal(c.check("Bearer "), "missing");
  assert.equal(c.check("Basic czNjcmV0"), "missing");
  assert.equal(c.check(undefined), "missing");
});

test("OriginPolicy: loopback defaults, listen address, --allowed-host/--allowed-origin", () => {
  const p = new OriginPolicy({ listenHost: "127.0.0.1", port: 3000, allowedHosts: ["mcp.example.com", "other.example:8443"], allowedOrigins: ["https://app.example.com/"] });
  for (const h of ["127.0.0.1:3000", "localhost:3000", "[::1]:3000", "LOCALHOST:3000", "localhost:8080", "mcp.example.com", "mcp.example.com:443", "other.example:8443"]) {
    assert.ok(p.hostAllowed(h), h);
  }
  for (const h of [undefined, "", "evil.example:3000", "127.0.0.1.evil.example:3000", "other.example", "other.example:80"]) assert.ok(!p.hostAllowed(h), String(h));
  for (const o of [undefined, "http://localhost:6274", "http://127.0.0.1:3000", "https://app.example.com"]) assert.ok(p.originAllowed(o), String(o));
  for (const o of ["https://evil.example", "null", "file://", "https://app.example.com.evil.example"]) assert.ok(!p.originAllowed(o), o);

  const any = new OriginPolicy({ listenHost: "10.1.2.3", port: 8000, allowedHosts: [], allowedOrigins: ["*"] });
  assert.ok(any.hostAllowed("10.1.2.3:8000"));
  assert.ok(!any.hostAllowed("10.1.2.4:8000"));
  assert.ok(any.originAllowed("https://anything.example"));
});

test("a non-loopback --host without a token is refused with a clear error", async () => {
  const r = await runCli(["--transport", "http", "--host", "0.0.0.0", "--port", "0", "--nats", "nats://127.0.0.1:1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without authentication/);
  assert.match(r.stderr, /--auth-token/);
});

test("HTTP access control and limits", async (t) => {
  const env = await meshWithTools(t);
  const token = "test-token-0123456789";
  const cli = await startCli(t, ["--nats", env.nats.url, "--max-body", "2000", "--session-idle-timeout", "0.6"], { MESH_MCP_AUTH_TOKEN: token });
  const auth = { authorization: `Bearer ${token}` };
  const port = new URL(cli.url).port;

  await t.test("401 without a token and with a wrong one, with WWW-Authenticate: Bearer", async () => {
    const none = await raw(cli.url, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE });
    assert.equal(none.status, 401);
    assert.match(String(none.headers["www-authenticate"]), /^Bearer\b/);
    const wrong = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, authorization: "Bearer nope" }, body: INITIALIZE });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers["www-authenticate"]), /error="invalid_token"/);
    assert.equal((await raw(`${cli.base}/metrics`)).status, 401);
  });

  await t.test("the SDK client works with the token", async () => {
    const client = await connectClient(t, cli.url, token);
    const r = await client.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } });
    assert.equal((r.content as Array<{ text: string }>)[0]!.text, "3");
  });

  await t.test("403 for a foreign Host and a foreign Origin; allowed ones pass", async () => {
    const post = (headers: Record<string, string>) => raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, ...auth, ...headers }, body: INITIALIZE });
    assert.equal((await post({ host: `evil.example:${port}` })).status, 403);
    assert.equal((await post({ origin: "https://evil.example" })).status, 403);
    const local = await post({ host: `localhost:${port}`, origin: `http://localhost:${port}` });
    assert.equal(local.status, 200);
    assert.equal(local.headers["access-control-allow-origin"], `http://localhost:${port}`);
    const preflight = await raw(cli.url, { method: "OPTIONS", headers: { origin: "http://localhost:5173" } });
    assert.equal(preflight.status, 204);
    assert.match(String(preflight.headers["access-control-allow-headers"]), /Mcp-Session-Id/);
  });

  await t.test("404 for an unknown session and for one ended by DELETE", async () => {
    const h = { ...MCP_HEADERS, ...auth, "mcp-protocol-version": "2025-06-18" };
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" });
    const unknown = await raw(cli.url, { method: "POST", headers: { ...h, "mcp-session-id": "no-such-session" }, body: list });
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).error.code, -32001);
    assert.equal((await raw(cli.url, { method: "GET", headers: { ...h, "mcp-session-id": "no-such-session" } })).status, 404);

    const sid = await rawSession(cli.url, auth);
    const ok = await raw(cli.url, { method: "POST", headers: { ...h, "mcp-session-id": sid }, body: list });
    assert.equal(ok.status, 200);
    assert.equal((await raw(cli.url, { method: "DELETE", headers: { ...h, "mcp-session-id": sid } })).status, 200);
    assert.equal((await raw(cli.url, { method: "POST", headers: { ...h, "mcp-session-id": sid }, body: list })).status, 404);
    assert.equal((await raw(cli.url, { method: "DELETE", headers: { ...h, "mcp-session-id": sid } })).status, 404);
    // No session id on a non-initialize request: 400, as the spec says.
    assert.equal((await raw(cli.url, { method: "POST", headers: h, body: list })).status, 400);
  });

  await t.test("idle sessions expire (--session-idle-timeout) and then get 404", async () => {
    const sid = await rawSession(cli.url, auth);
    await new Promise((r) => setTimeout(r, 1200));
    const r = await raw(cli.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    assert.equal(r.status, 404);
    assert.match(cli.stderr(), new RegExp(`session ${sid} idle`));
  });

  await t.test("413 for a body over --max-body", async () => {
    const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { pad: "x".repeat(5000) } });
    const r = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, ...auth }, body: big });
    assert.equal(r.status, 413);
    const chunked = await raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, ...auth, "transfer-encoding": "chunked" }, body: big });
    assert.equal(chunked.status, 413);
  });

  await t.test("/healthz needs no token; other paths are 404; other methods 405", async () => {
    const h = await raw(`${cli.base}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(JSON.parse(h.body), { status: "ok" });
    assert.equal((await raw(`${cli.base}/nope`)).status, 404);
    assert.equal((await raw(cli.url, { method: "PUT", headers: auth })).status, 405);
  });
});
