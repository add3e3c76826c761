/**
 * mesh-mcp as an OAuth 2.1 resource server, per the MCP authorization spec (2025-11-25
 * and 2026-07-28): Protected Resource Metadata (RFC 9728) naming the authorization
 * server, `WWW-Authenticate: Bearer resource_metadata=…` on 401, and access tokens
 * checked here:
 * - JWTs (RFC 9068) with `jose`: signature against the issuer's published keys (its
 *   RFC 8414 / OIDC metadata names the JWKS; keys it rotates in are fetched on the first
 *   unknown `kid`), issuer, audience = this server's canonical URL (RFC 8707), exp/nbf
 *   with a small skew, asymmetric algorithms only;
 * - opaque tokens by introspection (RFC 7662) when the issuer offers it and a client
 *   id/secret is configured.
 * A verified token is remembered until it expires (bounded), so a client reusing its
 * token costs one map lookup per request. Tokens are never logged nor kept beyond that cache.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { Logger } from "../mcp/log.js";
import type { Principal } from "../mcp/principal.js";
import { ASYMMETRIC_ALGS, canonicalResource } from "./auth.js";

export interface OAuthOptions {
  issuer: string;
  /** --public-url: the MCP endpoint as clients reach it. */
  publicUrl: string;
  /** Accepted audiences (default: the canonical public URL). */
  audience?: string[];
  /** Scopes every token must carry. */
  requiredScopes?: string[];
  algorithms?: string[];
  nameClaims?: string[];
  groupsClaims?: string[];
  clockSkewS?: number;
  introspection?: { clientId: string; clientSecret: string };
  /** Verified tokens remembered at most (default 10 000). */
  cacheMax?: number;
}

export type Verdict =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403 | 503; message: string; headers: Record<string, string> };

interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  scopes_supported?: string[];
}

const DEFAULT_NAME_CLAIMS = ["preferred_username", "email", "sub"];
const DEFAULT_GROUPS_CLAIMS = ["groups", "roles"];
/** Claims never copied into Principal.claims (binding material, not identity). */
const HIDDEN_CLAIMS = new Set(["nonce", "at_hash", "c_hash", "s_hash", "cnf", "jti", "sid"]);
const FETCH_TIMEOUT_MS = 5000;
/** Introspected (opaque) tokens are re-checked this often at most, so a revocation is seen. */
const INTROSPECTION_CACHE_MS = 60_000;
/** After a failed metadata fetch, the next request tries again once this has passed. */
const METADATA_RETRY_MS = 5000;

export class OAuthResourceServer {
  readonly issuer: string;
  /** The canonical resource identifier (RFC 8707): --public-url without trailing slash. */
  readonly resource: string;
  /** Where the protected-resource metadata is published (RFC 9728 §3.1: the well-known path + the resource's path). */
  readonly metadataUrl: string;
  private readonly audience: string[];
  private readonly scopes: string[];
  private readonly algorithms: string[];
  private readonly nameClaims: string[];
  private readonly groupsClaims: string[];
  private readonly skew: number;
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly cacheMax: number;
  private metadata?: Promise<IssuerMetadata>;
  private jwks?: ReturnType<typeof createRemoteJWKSet>;
  private introspectionEndpoint?: string;

  constructor(private readonly opts: OAuthOptions, private readonly log: Logger) {
    this.issuer = opts.issuer;
    this.resource = canonicalResource(opts.publicUrl);
    const u = new URL(this.resource);
    this.metadataUrl = `${u.origin}/.well-known/oauth-protected-resource${u.pathname === "/" ? "" : u.pathname}`;
    this.audience = opts.audience?.length ? opts.audience : [this.resource];
    this.scopes = opts.requiredScopes ?? [];
    this.algorithms = opts.algorithms?.length ? opts.algorithms : [...ASYMMETRIC_ALGS].filter((a) => a !== "Ed25519");
    this.nameClaims = opts.nameClaims?.length ? opts.nameClaims : DEFAULT_NAME_CLAIMS;
    this.groupsClaims = opts.groupsClaims?.length ? opts.groupsClaims : DEFAULT_GROUPS_CLAIMS;
    this.skew = opts.clockSkewS ?? 30;
    this.cacheMax = opts.cacheMax ?? 10_000;
  }

  /** Loads the issuer's metadata now (start-up), so a wrong issuer shows in the log at once. */
  async start(): Promise<void> {
    try {
      const m = await this.loadMetadata();
      this.log.info(`OAuth: issuer ${m.issuer}: keys at ${m.jwks_uri ?? "(none)"}${this.introspectionEndpoint ? `, opaque tokens introspected at ${this.introspectionEndpoint}` : ""}; resource ${this.resource}`);
    } catch (err) {
      this.log.warn(`OAuth: ${(err as Error).message} (requests get 503 until it answers; retried on demand)`);
    }
  }

  /** The protected-resource metadata document (RFC 9728). */
  resourceMetadata(): Record<string, unknown> {
    return {
      resource: this.resource,
      authorization_servers: [this.issuer],
      bearer_methods_supported: ["header"],
      ...(this.scopes.length ? { scopes_supported: this.scopes } : {}),
      resource_name: "mesh-mcp",
      resource_documentation: "https://github.com/richinsley/jb-mesh",
    };
  }

  /** The 401 challenge (RFC 6750 + RFC 9728 §5.1), with an error when a token was sent. */
  challenge(error?: { code: string; description: string }): string {
    const parts = [`resource_metadata="${this.metadataUrl}"`];
    if (this.scopes.length) parts.push(`scope="${this.scopes.join(" ")}"`);
    if (error) parts.push(`error="${error.code}"`, `error_description="${quotable(error.description)}"`);
    return `Bearer ${parts.join(", ")}`;
  }

  /** The verdict on a token verified before and not expired yet, else undefined (a map lookup: no I/O, no crypto). */
  cached(token: string): Verdict | undefined {
    const hit = this.cache.get(token);
    if (!hit) return undefined;
    if (Date.now() < hit.until) return this.scoped(hit.principal);
    this.cache.delete(token);
    return undefined;
  }

  /** Verifies an access token: a principal, or the refusal to send. */
  async verify(token: string): Promise<Verdict> {
    const hit = this.cached(token);
    if (hit) return hit;
    let meta: IssuerMetadata;
    try {
      meta = await this.loadMetadata();
    } catch (err) {
      return { ok: false, status: 503, message: `Sign-in is unavailable: ${(err as Error).message}. Retry shortly.`, headers: { "retry-after": "5" } };
    }
    let checked: { principal: Principal; until: number } | { refused: string; unavailable?: boolean };
    if (looksLikeJwt(token)) checked = await this.verifyJwt(token);
    else if (this.introspectionEndpoint && this.opts.introspection) checked = await this.introspect(token);
    else {
      checked = {
        refused: meta.introspection_endpoint
          ? "the access token is not a JWT, and opaque tokens need --oauth-introspection-client-id/-secret to be introspected"
          : "the access token is not a JWT, and the issuer offers no introspection endpoint: configure the authorization server to issue JWT access tokens for this resource",
      };
    }
    if ("refused" in checked) {
      if (checked.unavailable) return { ok: false, status: 503, message: `Sign-in is unavailable: ${checked.refused}. Retry shortly.`, headers: { "retry-after": "5" } };
      return {
        ok: false,
        status: 401,
        message: `Unauthorized: invalid access token: ${checked.refused}.`,
        headers: { "www-authenticate": this.challenge({ code: "invalid_token", description: checked.refused }) },
      };
    }
    this.remember(token, checked);
    return this.scoped(checked.principal);
  }

  /** 403 insufficient_scope (step-up) when the principal lacks a required scope. */
  private scoped(principal: Principal): Verdict {
    const missing = this.scopes.filter((s) => !principal.scopes.includes(s));
    if (missing.length === 0) return { ok: true, principal };
    const description = `the access token lacks the scope ${missing.join(" ")}`;
    return {
      ok: false,
      status: 403,
      message: `Forbidden: ${description}; sign in again granting scope "${this.scopes.join(" ")}".`,
      headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${this.scopes.join(" ")}", resource_metadata="${this.metadataUrl}", error_description="${quotable(description)}"` },
    };
  }

  private remember(token: string, entry: { principal: Principal; until: number }): void {
    if (this.cache.size >= this.cacheMax) {
      // Drop the expired first; if none, the oldest (Map order is insertion order).
      const now = Date.now();
      for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
      if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(token, entry);
  }

  private async verifyJwt(token: string): Promise<{ principal: Principal; until: number } | { refused: string; unavailable?: boolean }> {
    if (!this.jwks) return { refused: "the issuer publishes no signing keys (no jwks_uri in its metadata)" };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: this.algorithms,
        clockTolerance: this.skew,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      return jwtRefusal(err, token, this);
    }
    const principal = this.principalFrom(payload);
    return { principal, until: (payload.exp as number) * 1000 };
  }

  private async introspect(token: string): Promise<{ principal: Principal; until: number } | { refused: string; unavailable?: boolean }> {
    const { clientId, clientSecret } = this.opts.introspection!;
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64");
    let body: Record<string, unknown>;
    try {
      const res = await fetch(this.introspectionEndpoint!, {
        method: "POST",
        headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (!res.ok) return { refused: `the issuer's introspection endpoint answered HTTP ${res.status} (check --oauth-introspection-client-id/-secret)`, unavailable: res.status >= 500 };
      body = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      return { refused: `the issuer's introspection endpoint did not answer (${(err as Error).message})`, unavailable: true };
    }
    if (body.active !== true) return { refused: "the issuer says the token is not active (expired, revoked or unknown)" };
    if (body.iss !== undefined && body.iss !== this.issuer) return { refused: `issued by ${String(body.iss)}, not ${this.issuer}` };
    const aud = body.aud === undefined ? [] : Array.isArray(body.aud) ? body.aud : [body.aud];
    if (!aud.some((a) => this.audience.includes(String(a)))) return { refused: `issued for ${aud.length ? aud.join(", ") : "no audience"}, not for this server (${this.audience.join(", ")})` };
    const now = Date.now();
    const exp = typeof body.exp === "number" ? body.exp * 1000 : now + INTROSPECTION_CACHE_MS;
    if (exp + this.skew * 1000 <= now) return { refused: "the access token expired" };
    if (typeof body.nbf === "number" && body.nbf * 1000 - this.skew * 1000 > now) return { refused: "the access token is not valid yet (nbf)" };
    const principal = this.principalFrom({ ...body, sub: body.sub ?? body.client_id, preferred_username: body.preferred_username ?? body.username } as JWTPayload);
    return { principal, until: Math.min(exp, now + INTROSPECTION_CACHE_MS) };
  }

  private principalFrom(p: JWTPayload): Principal {
    const sub = String(p.sub ?? p.client_id ?? "");
    const host = new URL(this.issuer).host;
    const name = this.nameClaims.map((c) => p[c]).find((v) => typeof v === "string" && v !== "") as string | undefined;
    const scopes = scopeList(p.scope ?? p.scp);
    const groups = new Set<string>();
    for (const c of this.groupsClaims) for (const g of stringList(p[c])) groups.add(g);
    const claims: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (!HIDDEN_CLAIMS.has(k)) claims[k] = v;
    return Object.freeze({
      id: `${host}/${sub}`,
      name: name ?? sub,
      source: "oauth",
      roles: [],
      scopes: Object.freeze(scopes),
      groups: Object.freeze([...groups]),
      claims: Object.freeze(claims),
      ...(typeof p.exp === "number" ? { expiresAt: p.exp * 1000 } : {}),
    });
  }

  private loadMetadata(): Promise<IssuerMetadata> {
    this.metadata ??= discover(this.issuer).then(
      (m) => {
        if (m.jwks_uri) this.jwks = createRemoteJWKSet(new URL(m.jwks_uri), { timeoutDuration: FETCH_TIMEOUT_MS, cooldownDuration: 5000, cacheMaxAge: 600_000 });
        this.introspectionEndpoint = m.introspection_endpoint;
        return m;
      },
      (err: Error) => {
        setTimeout(() => (this.metadata = undefined), METADATA_RETRY_MS).unref();
        throw err;
      },
    );
    return this.metadata;
  }
}

/** The issuer's metadata: OIDC discovery, then RFC 8414 (path-inserted well-known). Its `issuer` must be exactly ours. */
async function discover(issuer: string): Promise<IssuerMetadata> {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, "");
  const candidates = [
    `${u.origin}${path}/.well-known/openid-configuration`,
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
  ];
  const failures: string[] = [];
  for (const url of candidates) {
    try {
      const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) {
        failures.push(`${url}: HTTP ${res.status}`);
        continue;
      }
      const m = (await res.json()) as IssuerMetadata;
      if (m.issuer !== issuer) {
        throw new Error(`the metadata at ${url} names the issuer "${m.issuer}", not "${issuer}": set --oauth-issuer to exactly the issuer's value (tokens carry it in "iss")`);
      }
      return m;
    } catch (err) {
      if ((err as Error).message.startsWith("the metadata at")) throw err;
      failures.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot load the authorization server's metadata for ${issuer} (${failures.join("; ")})`);
}

function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token);
}

function jwtRefusal(err: unknown, token: string, rs: { issuer: string; resource: string }): { refused: string; unavailable?: boolean } {
  const e = err as Error & { code?: string; claim?: string; payload?: JWTPayload };
  switch (e.code) {
    case "ERR_JWT_EXPIRED":
      return { refused: "the access token has expired; the client should refresh it or sign in again" };
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (e.claim === "nbf") return { refused: "the access token is not valid yet (nbf is in the future; check the clocks)" };
      if (e.claim === "iat") return { refused: "the access token was issued in the future (check the clocks)" };
      if (e.claim === "iss") return { refused: `the access token was issued by ${String(e.payload?.iss)}, not by ${rs.issuer}` };
      if (e.claim === "aud") return { refused: `the access token was issued for ${JSON.stringify(e.payload?.aud)}, not for this server (${rs.resource}); the client must request it with resource=${rs.resource}` };
      return { refused: `the access token's ${e.claim ?? "claims"} check failed` };
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return { refused: `the access token is signed with ${algOf(token)}, which is not accepted` };
    case "ERR_JWKS_NO_MATCHING_KEY":
      return { refused: "the access token is signed with a key the issuer does not publish" };
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return { refused: "the access token names no key id and the issuer publishes several" };
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return { refused: "the access token's signature does not verify" };
    case "ERR_JWKS_TIMEOUT":
      return { refused: "the issuer's keys could not be fetched in time", unavailable: true };
    case "ERR_JWT_CLAIM_INVALID":
    case "ERR_JWT_INVALID":
    case "ERR_JWS_INVALID":
      return { refused: "the access token is not a well-formed signed JWT" };
    default:
      if (err instanceof errors.JOSEError) return { refused: `the access token was refused (${e.code})` };
      return { refused: `the issuer's keys could not be loaded (${e.message})`, unavailable: true };
  }
}

function algOf(token: string): string {
  try {
    return String(decodeProtectedHeader(token).alg);
  } catch {
    return "an unknown algorithm";
  }
}

function scopeList(v: unknown): string[] {
  if (typeof v === "string") return v.split(" ").filter(Boolean);
  return stringList(v);
}

function stringList(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** An RFC 6750 quoted-string value: printable ASCII, no quote or backslash. */
function quotable(s: string): string {
  return s.replace(/[^\x20-\x7e]|["\\]/g, "'");
}
