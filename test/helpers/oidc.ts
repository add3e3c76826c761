/**
 * A real OpenID provider for the sign-in tests: panva's certified `oidc-provider`, with
 * dynamic client registration, PKCE, resource indicators (JWT access tokens bound to
 * the resource the client names), client credentials and introspection. Consent is
 * automated through its own dev interactions (the login and consent forms), driven by
 * `authorize()` with fetch and a cookie jar, as a browser would.
 *
 * Its signing key is generated here and known to the test, so forged tokens (expired,
 * wrong audience …) can be signed with the issuer's real key: what is refused is then
 * the claim, not the signature. `rotate()` swaps in a new signing key at the issuer.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import Provider from "oidc-provider";

export const SCOPE = "mcp:tools";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { kid, privateKey, publicJwk, privateJwk };
}

/** Accounts: login name → claims in its access tokens. Any other login signs in with no groups. */
const ACCOUNTS: Record<string, { email: string; groups: string[] }> = {
  alice: { email: "alice@example.com", groups: ["operators"] },
  bob: { email: "bob@example.com", groups: ["readers"] },
};

export interface Issuer {
  issuer: string;
  /** The key that signs now. */
  key: SigningKey;
  /** A confidential client for client_credentials and introspection. */
  client: { id: string; secret: string };
  /** A client whose tokens are opaque (introspected). */
  opaqueClient: { id: string; secret: string };
  /** A real access token for `resource` (client_credentials). */
  clientToken(resource: string, opts?: { opaque?: boolean; scope?: string }): Promise<string>;
  /** A token signed with the issuer's current key, claims as given (defaults: valid for `aud`). */
  sign(claims: JWTPayload, header?: Record<string, unknown>, key?: SigningKey): Promise<string>;
  /** Key rotation: a new signing key first in the issuer's JWKS (the old one still published). */
  rotate(): Promise<SigningKey>;
  close(): Promise<void>;
}

export async function startIssuer(opts: { ttlS?: number } = {}): Promise<Issuer> {
  let current: ((req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void) | undefined;
  const http: Server = createServer((req, res) => current!(req, res));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const client = { id: "mesh-ops", secret: "mesh-ops-secret-0123456789abcdef0123456789" };
  const opaqueClient = { id: "opaque-ops", secret: "opaque-ops-secret-0123456789abcdef012345" };
  let keys = [await signingKey("k1")];

  const make = () => {
    const provider = new Provider(issuer, {
      jwks: { keys: keys.map((k) => k.privateJwk) },
      clients: [
        { client_id: client.id, client_secret: client.secret, grant_types: ["client_credentials"], response_types: [], redirect_uris: [] },
        { client_id: opaqueClient.id, client_secret: opaqueClient.secret, grant_types: ["client_credentials"], response_types: [], redirect_uris: [] },
      ],
      clientDefaults: { grant_types: ["authorization_code"], id_token_signed_response_alg: "ES256", response_types: ["code"], token_endpoint_auth_method: "client_secret_basic" },
      // The resource scopes too: dynamic registration checks a client's `scope` against this list.
      scopes: ["openid", "email", "offline_access", SCOPE, "mcp:admin"],
      claims: { openid: ["sub"], email: ["email"] },
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: true },
        registration: { enabled: true },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => oneOf,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string, c: { clientId: string }) => ({
            scope: `${SCOPE} mcp:admin`,
            audience: resource,
            accessTokenTTL: opts.ttlS ?? 3600,
            accessTokenFormat: c.clientId === opaqueClient.id ? "opaque" : "jwt",
            jwt: { sign: { alg: "ES256" } },
          }),
        },
      },
      findAccount: (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: () => ({ sub: id, email: ACCOUNTS[id]?.email }),
      }),
      extraTokenClaims: (_ctx: unknown, token: { accountId?: string }) =>
        token.accountId ? { preferred_username: token.accountId, email: ACCOUNTS[token.accountId]?.email, groups: ACCOUNTS[token.accountId]?.groups ?? [] } : undefined,
      ttl: { AccessToken: opts.ttlS ?? 3600, ClientCredentials: opts.ttlS ?? 3600 },
    });
    // oidc-provider warns about dev interactions and its in-memory adapter on stderr: expected in tests.
    provider.on("server_error", (_ctx: unknown, err: Error) => process.stderr.write(`oidc-provider: ${err.message}\n`));
    return provider.callback();
  };
  current = make();

  const basic = (c: { id: string; secret: string }) => `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString("base64")}`;
  const iss: Issuer = {
    issuer,
    get key() {
      return keys[0]!;
    },
    client,
    opaqueClient,
    async clientToken(resource, o = {}) {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: { authorization: basic(o.opaque ? opaqueClient : client), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", resource, scope: o.scope ?? SCOPE }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`client_credentials: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async sign(claims, header = {}, key = keys[0]!) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, sub: "forger", iat: now, exp: now + 600, scope: SCOPE, ...claims })
        .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt", ...header })
        .sign(key.privateKey);
    },
    async rotate() {
      const next = await signingKey(`k${keys.length + 1}`);
      keys = [next, ...keys];
      current = make();
      return next;
    },
    close: () => new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    }),
  };
  return iss;
}

/**
 * The browser's part of an authorization-code flow: follows the redirects from the
 * authorization URL through the provider's login and consent forms (signing in as
 * `login`), with cookies, and returns the query of the final redirect to `redirectUri`.
 */
export async function authorize(authorizationUrl: string | URL, redirectUri: string, login = "alice"): Promise<URLSearchParams> {
  return (await authorizeTo(authorizationUrl, redirectUri, login)).searchParams;
}

/** As authorize(), returning the whole redirect URL (to deliver it to a client's callback server). */
export async function authorizeTo(authorizationUrl: string | URL, redirectUri: string, login = "alice"): Promise<URL> {
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  };
  let url = new URL(authorizationUrl);
  let method = "GET";
  let body: URLSearchParams | undefined;
  for (let hop = 0; hop < 20; hop++) {
    if (url.href.startsWith(redirectUri)) return url;
    const res = await fetch(url, { method, body, redirect: "manual", headers: { cookie: cookieHeader(), ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}) } });
    keep(res);
    method = "GET";
    body = undefined;
    const location = res.headers.get("location");
    if (location) {
      await res.arrayBuffer();
      url = new URL(location, url);
      continue;
    }
    const html = await res.text();
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html);
    if (res.status !== 200 || !form) throw new Error(`authorization flow stuck at ${url.pathname} (HTTP ${res.status}): ${html.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*>/gi)) {
      const name = m[1]!;
      const value = /value="([^"]*)"/.exec(m[0])?.[1];
      fields.set(name, name === "login" ? login : name === "password" ? "any-password" : value ?? "");
    }
    url = new URL(form[1]!.replace(/&amp;/g, "&"), url);
    method = "POST";
    body = fields;
  }
  throw new Error("authorization flow: too many redirects");
}
