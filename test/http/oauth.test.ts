/**
 * OAuth 2.1 sign-in over HTTP against a real OpenID provider (oidc-provider, started
 * here): the official SDK clients' own flows end to end in both revisions (401 →
 * protected-resource metadata → authorization-server metadata → dynamic client
 * registration → authorization code with PKCE, consent automated → token → tools), and
 * every kind of bad token refused with a message that says what is wrong.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError, type OAuthClientProvider, type OAuthDiscoveryState } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http, UnauthorizedError as V2Unauthorized } from "@modelcontextprotocol/client";
import { SignJWT, base64url } from "jose";
import { freePort } from "../helpers/nats-server.js";
import { authorize, SCOPE, signingKey, startIssuer, type Issuer } from "../helpers/oidc.js";
import { MCP_HEADERS, meshWithTools, raw, startCli, waitFor, type Cli } from "./helpers.js";

const REDIRECT = "http://127.0.0.1:9/callback";

/** An OAuthClientProvider as a CLI client would write one, its "browser" being authorize(). */
class TestProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";
  authUrl?: URL;
  constructor(private readonly name: string) {}
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.name, redirect_uris: [REDIRECT], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  discovery?: OAuthDiscoveryState;
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
}

interface Setup {
  iss: Issuer;
  cli: Cli;
  resource: string;
}

async function setup(t: TestContext, extra: string[] = []): Promise<Setup> {
  const env = await meshWithTools(t);
  const iss = await startIssuer();
  t.after(() => iss.close());
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const cli = await startCli(t, ["--nats", env.nats.url, "--port", String(port), "--oauth-issuer", iss.issuer, "--public-url", resource, "--oauth-scopes", SCOPE, ...extra]);
  return { iss, cli, resource };
}

const CALL = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });

function post(s: Setup, token?: string) {
  return raw(s.resource, { method: "POST", headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: CALL });
}

async function refused(s: Setup, token: string, why: RegExp, label: string): Promise<void> {
  const r = await post(s, token);
  assert.equal(r.status, 401, `${label}: ${r.body}`);
  const challenge = String(r.headers["www-authenticate"]);
  assert.match(challenge, /error="invalid_token"/, label);
  assert.match(challenge, /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/, label);
  assert.match(JSON.parse(r.body).error.message, why, label);
}

test("OAuth: metadata, challenges, and the SDK clients' own sign-in flows in both revisions", async (t) => {
  const s = await setup(t);

  await t.test("protected-resource metadata (RFC 9728) at the well-known paths", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const r = await raw(`${s.cli.base}${path}`);
      assert.equal(r.status, 200, path);
      const prm = JSON.parse(r.body);
      assert.equal(prm.resource, s.resource);
      assert.deepEqual(prm.authorization_servers, [s.iss.issuer]);
      assert.deepEqual(prm.scopes_supported, [SCOPE]);
      assert.equal(r.headers["access-control-allow-origin"], "*", "browser-based clients may read it");
    }
    const preflight = await raw(`${s.cli.base}/.well-known/oauth-protected-resource/mcp`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-headers": "mcp-protocol-version" } });
    assert.equal(preflight.status, 204);
    assert.match(String(preflight.headers["access-control-allow-headers"]), /MCP-Protocol-Version/);
  });

  await t.test("no token and a wrong token get different, helpful 401s", async () => {
    const none = await post(s);
    assert.equal(none.status, 401);
    assert.match(String(none.headers["www-authenticate"]), /^Bearer resource_metadata="[^"]+", scope="mcp:tools"$/);
    assert.match(JSON.parse(none.body).error.message, /sign-in required \(the request carried no Authorization header\).*accepts OAuth access tokens from http:\/\/127\.0\.0\.1/);
    const wrong = await post(s, "not-a-token-from-anyone");
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers["www-authenticate"]), /error="invalid_token"/);
    assert.match(JSON.parse(wrong.body).error.message, /invalid access token: the access token is not a JWT/);
    assert.doesNotMatch(wrong.body + JSON.stringify(wrong.headers), /not-a-token-from-anyone/, "the token is never echoed");
  });

  await t.test("v1 SDK client (2025-11-25): 401 → PRM → AS metadata → DCR → code + PKCE → token → tools", async () => {
    const provider = new TestProvider("v1 test client");
    const first = new StreamableHTTPClientTransport(new URL(s.resource), { authProvider: provider });
    await assert.rejects(new Client({ name: "v1", version: "1" }).connect(first), UnauthorizedError);
    assert.ok(provider.info?.client_id, "registered dynamically");
    assert.ok(provider.authUrl, "sent to the authorization endpoint");
    assert.equal(provider.authUrl.searchParams.get("resource"), s.resource, "RFC 8707 resource from the PRM");
    assert.equal(provider.authUrl.searchParams.get("code_challenge_method"), "S256");
    const back = await authorize(provider.authUrl, REDIRECT, "alice");
    await first.finishAuth(back.get("code")!);
    assert.ok(provider.saved?.access_token);

    const client = new Client({ name: "v1", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.resource), { authProvider: provider }));
    t.after(() => client.close());
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === "calc__add"));
    const r = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } });
    assert.equal((r.content as Array<{ text: string }>)[0]!.text, "5");
  });

  await t.test("v2 SDK client pinned to 2026-07-28: the same flow", async () => {
    const provider = new TestProvider("v2 test client");
    const mk = () => new V2Client({ name: "v2", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const first = new V2Http(new URL(s.resource), { authProvider: provider as never });
    await assert.rejects(mk().connect(first), V2Unauthorized);
    assert.ok(provider.authUrl);
    assert.equal(provider.authUrl.searchParams.get("resource"), s.resource);
    const back = await authorize(provider.authUrl, REDIRECT, "bob");
    assert.equal(back.get("iss"), s.iss.issuer, "RFC 9207 iss in the authorization response");
    await first.finishAuth(back);

    const client = mk();
    await client.connect(new V2Http(new URL(s.resource), { authProvider: provider as never }));
    t.after(() => client.close());
    assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === "calc__add"));
    const r = await client.callTool({ name: "calc__add", arguments: { a: 40, b: 2 } });
    assert.equal((r.content as Array<{ text: string }>)[0]!.text, "42");
  });

  await t.test("a real token for this resource is accepted; insufficient scope is 403 with the scope needed", async () => {
    const ok = await post(s, await s.iss.clientToken(s.resource));
    assert.equal(ok.status, 200, ok.body);
    // The lean 2026-07-28 path (a plain tools/call, no SDK dispatch) is behind the same edge.
    const call26 = (token: string) => raw(s.resource, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "calc__add" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "calc__add", arguments: { a: 1, b: 1 }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} } } }),
    });
    const lean = await call26(await s.iss.clientToken(s.resource));
    assert.equal(lean.status, 200, lean.body);
    assert.match(lean.body, /"text":"2"/);
    const leanExpired = await call26(await s.iss.sign({ aud: s.resource, exp: Math.floor(Date.now() / 1000) - 3600 }));
    assert.equal(leanExpired.status, 401, "an expired token never reaches the lean path");
    const narrow = await post(s, await s.iss.clientToken(s.resource, { scope: "mcp:admin" }));
    assert.equal(narrow.status, 403, narrow.body);
    assert.match(String(narrow.headers["www-authenticate"]), /^Bearer error="insufficient_scope", scope="mcp:tools", resource_metadata="/);
    assert.match(JSON.parse(narrow.body).error.message, /lacks the scope mcp:tools/);
  });

  await t.test("refused: expired, not yet valid, wrong issuer, wrong audience, another resource's token, alg none, HS256 with the public key, unknown kid, tampered signature", async () => {
    const now = Math.floor(Date.now() / 1000);
    const aud = s.resource;
    // Sanity: the forging kit makes tokens this server accepts when nothing is wrong.
    assert.equal((await post(s, await s.iss.sign({ aud }))).status, 200, "a well-formed token signed by the issuer's key");

    await refused(s, await s.iss.sign({ aud, iat: now - 7200, exp: now - 3600 }), /has expired/, "expired");
    await refused(s, await s.iss.sign({ aud, nbf: now + 3600 }), /not valid yet/, "not yet valid");
    await refused(s, await s.iss.sign({ aud, iss: "http://127.0.0.1:1/evil" }), /issued by http:\/\/127\.0\.0\.1:1\/evil, not by/, "wrong issuer");
    await refused(s, await s.iss.sign({ aud: "https://other.example/mcp" }), /issued for "https:\/\/other\.example\/mcp", not for this server/, "wrong audience");
    await refused(s, await s.iss.clientToken("http://127.0.0.1:1/other-mcp"), /not for this server/, "a real token for another resource");

    const payload = base64url.encode(JSON.stringify({ iss: s.iss.issuer, sub: "x", aud, exp: now + 600, scope: SCOPE }));
    await refused(s, `${base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${payload}.`, /signed with none, which is not accepted/, "alg none");

    const publicKeyBytes = new TextEncoder().encode(JSON.stringify(s.iss.key.publicJwk));
    const hs = await new SignJWT({ sub: "x", scope: SCOPE }).setProtectedHeader({ alg: "HS256", kid: s.iss.key.kid })
      .setIssuer(s.iss.issuer).setAudience(aud).setExpirationTime("10m").sign(publicKeyBytes);
    await refused(s, hs, /signed with HS256, which is not accepted/, "HS256 with the public key");

    const stranger = await signingKey("not-published");
    await refused(s, await s.iss.sign({ aud }, {}, stranger), /a key the issuer does not publish/, "unknown kid");

    const good = await s.iss.clientToken(s.resource);
    const [h, p, sig] = good.split(".");
    const flipped = sig!.slice(0, 10) + (sig![10] === "A" ? "B" : "A") + sig!.slice(11);
    await refused(s, `${h}.${p}.${flipped}`, /signature does not verify/, "tampered signature");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const tamperedPayload = base64url.encode(JSON.stringify({ ...claims, sub: "someone-else" }));
    await refused(s, `${h}.${tamperedPayload}.${sig}`, /signature does not verify/, "tampered claims");
  });

  await t.test("a key rotation at the issuer is followed without restart", async () => {
    const before = await s.iss.clientToken(s.resource);
    assert.equal((await post(s, before)).status, 200);
    const next = await s.iss.rotate();
    const after = await s.iss.clientToken(s.resource);
    const kid = JSON.parse(Buffer.from(after.split(".")[0]!, "base64url").toString()).kid;
    assert.equal(kid, next.kid, "the issuer signs with its new key");
    // jose refetches the JWKS on an unknown kid at most every 5 s (its cooldown): allow for one.
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await post(s, after)).status) !== 200) await new Promise((r) => setTimeout(r, 500));
    assert.equal(status, 200, "a token signed with the rotated-in key is accepted");
  });
});

test("OAuth: opaque access tokens are introspected (RFC 7662)", async (t) => {
  const env = await meshWithTools(t);
  const iss = await startIssuer();
  t.after(() => iss.close());
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const cli = await startCli(t, ["--nats", env.nats.url, "--port", String(port), "--oauth-issuer", iss.issuer, "--public-url", resource,
    "--oauth-introspection-client-id", iss.client.id, "--oauth-introspection-client-secret", iss.client.secret, "--log-level", "debug"]);
  const s = { iss, cli, resource };
  const opaque = await iss.clientToken(resource, { opaque: true });
  assert.ok(!opaque.includes("."), "the issuer gave an opaque token");
  const r = await post(s, opaque);
  assert.equal(r.status, 200, r.body);
  await refused(s, "opaque-but-unknown-to-the-issuer", /not active/, "unknown opaque token");
  const other = await iss.clientToken("http://127.0.0.1:1/other-mcp", { opaque: true });
  await refused(s, other, /not for this server/, "opaque token of another resource");
  assert.doesNotMatch(cli.stderr(), new RegExp(iss.client.secret), "the introspection secret is never logged");
  assert.doesNotMatch(cli.stderr(), new RegExp(opaque), "tokens are never logged");
});

test("OAuth: start-up refuses nonsense with a clear error", async (t) => {
  const { runCli } = await import("./helpers.js");
  const cases: Array<[string[], RegExp]> = [
    [["--oauth-issuer", "https://id.example.com"], /--oauth-issuer needs --public-url/],
    [["--oauth-issuer", "http://id.example.com", "--public-url", "https://mesh.example.com/mcp"], /--oauth-issuer: http:\/\/id\.example\.com must be https:\/\//],
    [["--oauth-issuer", "https://id.example.com", "--public-url", "http://mesh.example.com/mcp"], /--public-url: .* must be https/],
    [["--oauth-issuer", "https://id.example.com", "--public-url", "https://mesh.example.com/mcp", "--oauth-algorithms", "HS256"], /HS256 not accepted: only asymmetric/],
    [["--oauth-scopes", "x"], /need --oauth-issuer/],
  ];
  for (const [args, want] of cases) {
    const r = await runCli(["--transport", "http", "--port", "0", "--nats", "nats://127.0.0.1:1", ...args]);
    assert.notEqual(r.code, 0, args.join(" "));
    assert.match(r.stderr, want, args.join(" "));
  }
  void t;
});

test("OAuth: the principal a token makes (name, issuer-qualified id, scopes, groups, claims, expiry), cached until it expires", async (t) => {
  const { OAuthResourceServer } = await import("../../src/transports/oauth.js");
  const { Logger } = await import("../../src/mcp/log.js");
  const iss = await startIssuer();
  t.after(() => iss.close());
  const resource = "https://mesh.example.com/mcp";
  const rs = new OAuthResourceServer({ issuer: iss.issuer, publicUrl: `${resource}/` }, new Logger("error", false));
  assert.equal(rs.resource, resource, "canonical: no trailing slash");
  assert.equal(rs.metadataUrl, "https://mesh.example.com/.well-known/oauth-protected-resource/mcp");
  const exp = Math.floor(Date.now() / 1000) + 600;
  const token = await iss.sign({ aud: resource, sub: "u-123", preferred_username: "carol", email: "carol@example.com", groups: ["ops"], roles: ["Mesh.Admin"], scope: "mcp:tools mcp:admin", exp, nonce: "n" });
  const v = await rs.verify(token);
  assert.ok(v.ok, JSON.stringify(v));
  const p = v.principal;
  assert.equal(p.name, "carol");
  assert.equal(p.id, `${new URL(iss.issuer).host}/u-123`);
  assert.equal(p.source, "oauth");
  assert.deepEqual(p.scopes, ["mcp:tools", "mcp:admin"]);
  assert.deepEqual(p.groups, ["ops", "Mesh.Admin"], "groups, then Entra's roles");
  assert.equal(p.claims.email, "carol@example.com");
  assert.equal(p.claims.nonce, undefined, "binding material is not a claim a policy sees");
  assert.equal(p.expiresAt, exp * 1000);
  const again = await rs.verify(token);
  assert.ok(again.ok && again.principal === p, "verified once, then cached");

  const entra = new OAuthResourceServer({ issuer: iss.issuer, publicUrl: resource, audience: ["api://mesh"], nameClaims: ["upn"], groupsClaims: ["roles"] }, new Logger("error", false));
  const e = await entra.verify(await iss.sign({ aud: "api://mesh", sub: "oid-1", upn: "dave@corp.example", roles: ["Mesh.Reader"], scope: undefined, scp: "mcp.tools" }));
  assert.ok(e.ok, JSON.stringify(e));
  assert.equal(e.principal.name, "dave@corp.example");
  assert.deepEqual(e.principal.groups, ["Mesh.Reader"]);
  assert.deepEqual(e.principal.scopes, ["mcp.tools"], "Entra's scp");
  const notOurs = await entra.verify(await iss.sign({ aud: resource }));
  assert.ok(!notOurs.ok, "--oauth-audience replaces the public URL as the accepted audience");
});

test("OAuth: mcp-remote's own flow, headless (its browser is a script that signs in at the provider)", async (t) => {
  const { mkdtempSync, writeFileSync, chmodSync, rmSync, readFileSync, existsSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const s = await setup(t);
  const root = new URL("../..", import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-remote-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // mcp-remote opens the browser with the `open` package: its xdg-open runs $BROWSER with the URL.
  const browser = join(dir, "browser.sh");
  writeFileSync(browser, `#!/bin/sh\ncd '${root}' && exec '${process.execPath}' --import tsx test/helpers/oidc-browser.ts "$1"\n`);
  chmodSync(browser, 0o755);
  const trace = join(dir, "browser.log");
  const env: Record<string, string> = { ...(process.env as Record<string, string>), BROWSER: browser, MCP_REMOTE_CONFIG_DIR: join(dir, "auth"), OIDC_BROWSER_LOG: trace, OIDC_BROWSER_LOGIN: "alice" };
  for (const k of ["DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION"]) delete env[k];
  const transport = new StdioClientTransport({ command: process.execPath, args: [join(root, "node_modules/mcp-remote/dist/proxy.js"), s.resource], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += String(d)));
  const client = new Client({ name: "via-mcp-remote", version: "1" });
  t.after(() => client.close().catch(() => {}));
  try {
    await client.connect(transport, { timeout: 60_000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nmcp-remote stderr:\n${stderr.slice(-3000)}\nbrowser: ${existsSync(trace) ? readFileSync(trace, "utf8") : "(never ran)"}`);
  }
  assert.match(readFileSync(trace, "utf8"), /callback \/oauth\/callback → HTTP 200/, "the sign-in reached mcp-remote's callback");
  const { tools } = await client.listTools();
  assert.ok(tools.some((x) => x.name === "calc__add"));
  const r = await client.callTool({ name: "calc__add", arguments: { a: 20, b: 22 } });
  assert.equal((r.content as Array<{ text: string }>)[0]!.text, "42");
});

test("OAuth: the public URL's host passes the Host check; an unreachable issuer gives 503 with Retry-After, not a hang", async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--oauth-issuer", "https://issuer.invalid/realms/x", "--public-url", "https://mesh.example.com/mcp"]);
  const at = (host: string, token?: string) => raw(cli.url, { method: "POST", headers: { ...MCP_HEADERS, host, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: CALL });
  const ours = await at("mesh.example.com");
  assert.equal(ours.status, 401, "past the Host check, asked to sign in");
  assert.match(String(ours.headers["www-authenticate"]), /resource_metadata="https:\/\/mesh\.example\.com\/\.well-known\/oauth-protected-resource\/mcp"/);
  assert.equal((await at("evil.example")).status, 403, "other names are still refused");
  const down = await at("mesh.example.com", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
  assert.equal(down.status, 503, down.body);
  assert.equal(down.headers["retry-after"], "5");
  assert.match(JSON.parse(down.body).error.message, /Sign-in is unavailable: cannot load the authorization server's metadata for https:\/\/issuer\.invalid\/realms\/x/);
  await waitFor(() => /OAuth: cannot load the authorization server's metadata/.test(cli.stderr()), "the start-up warning");
});

test("OAuth beside a token file, stateless: both credentials accepted; a wrong token is said to be none of them", async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { sha256Hex } = await import("../../src/transports/auth.js");
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-tokens-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "tokens"), `sha256:${sha256Hex("scraper-token-0123456789")} prometheus monitoring\n`);
  const s = await setup(t, ["--stateless", "--token-file", join(dir, "tokens")]);
  // Stateless: every request stands alone, authenticated alone.
  const client = new Client({ name: "stateless", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(s.resource), { requestInit: { headers: { authorization: `Bearer ${await s.iss.clientToken(s.resource)}` } } }));
  t.after(() => client.close());
  const r = await client.callTool({ name: "calc__add", arguments: { a: 3, b: 4 } });
  assert.equal((r.content as Array<{ text: string }>)[0]!.text, "7");
  const metrics = await raw(`${s.cli.base}/metrics`, { headers: { authorization: "Bearer scraper-token-0123456789" } });
  assert.equal(metrics.status, 200, "a token-file token beside OAuth (a metrics scraper)");
  const wrong = await post(s, "typo-scraper-token");
  assert.equal(wrong.status, 401);
  assert.match(JSON.parse(wrong.body).error.message, /not a JWT.*Nor is it one of its --token-file tokens\./);
});
