/**
 * Authentication at the HTTP edge: one place that turns a request's credentials into
 * a Principal (src/mcp/principal.ts), before anything is dispatched, for every path
 * (2025 sessions, stateless, the 2026 SDK leg and its lean path, /metrics).
 *
 * Three kinds of credential, any mix of them:
 * - `--auth-token`: the zero-config single principal (named by --auth-token-name);
 * - `--token-file`: named static tokens, stored as SHA-256 hashes (re-read on change);
 * - `--oauth-issuer`: OAuth 2.1 access tokens of an authorization server (oauth.ts).
 *
 * Authorization (what a principal may do) is src/mcp's, not this file's.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError, type Config } from "../config.js";
import { ANONYMOUS, type Principal } from "../mcp/principal.js";
import { addSecret, type Logger } from "../mcp/log.js";
import { sendJson } from "./http-io.js";
import { NO_OAUTH, TokenCheck, isLoopback } from "./http-security.js";
import type { OAuthResourceServer, Verdict } from "./oauth.js";

/** What the edge decided about a request. */
export type AuthOutcome =
  | { ok: true; principal: Principal; /** Whose tasks it sees (undefined: createServer's default). */ taskOwner?: string }
  | { ok: false; status: 401 | 403 | 503; message: string; headers: Record<string, string> };

/** The principal each authenticated request carries from the edge to dispatch (and the lean 2026 path). */
const principals = new WeakMap<IncomingMessage, { principal: Principal; taskOwner?: string }>();

/** The principal the edge established for this request (ANONYMOUS when no credential was asked for). */
export function principalOf(req: IncomingMessage): Principal | undefined {
  return principals.get(req)?.principal;
}

/** The task owner the edge derived for this request, if any. */
export function taskOwnerOfRequest(req: IncomingMessage): string | undefined {
  return principals.get(req)?.taskOwner;
}

export function rememberPrincipal(req: IncomingMessage, principal: Principal, taskOwner?: string): void {
  principals.set(req, { principal, taskOwner });
}

/** The bearer token of an Authorization header, or undefined (absent, another scheme, empty). */
export function bearerOf(authorization: string | undefined): string | undefined {
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")?.[1];
}

export function sha256Hex(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

// ---------------- token file ----------------

export interface TokenEntry {
  name: string;
  roles: string[];
}

/**
 * Parses a token file: one entry a line, `sha256:HEX NAME [ROLE,ROLE…]` (`#` starts a
 * comment), or a JSON array of `{ "sha256": HEX, "name": NAME, "roles": [...] }`.
 * Throws with the line that is wrong.
 */
export function parseTokenFile(text: string, file = "token file"): Map<string, TokenEntry> {
  const out = new Map<string, TokenEntry>();
  const names = new Set<string>();
  const add = (hash: unknown, name: unknown, roles: unknown, where: string) => {
    const hex = typeof hash === "string" ? hash.replace(/^sha256:/i, "").toLowerCase() : "";
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file}${where}: the hash must be sha256:<64 hex digits> (make one with: mesh-mcp hash-token)`);
    if (typeof name !== "string" || !/^[^\s,]+$/.test(name)) throw new Error(`${file}${where}: a name (no spaces) must follow the hash`);
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== "string" || r === "")) throw new Error(`${file}${where}: roles must be a comma-separated list`);
    if (out.has(hex)) throw new Error(`${file}${where}: the same token hash appears twice`);
    if (names.has(name)) throw new Error(`${file}${where}: the name "${name}" is used twice (each token names one principal)`);
    names.add(name);
    out.set(hex, { name, roles: roles as string[] });
  };
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let list: unknown;
    try {
      list = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
    }
    (list as unknown[]).forEach((e, i) => {
      const o = (e ?? {}) as Record<string, unknown>;
      add(o.sha256, o.name, o.roles ?? [], ` entry ${i + 1}`);
    });
    return out;
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.replace(/#.*$/, "").trim();
    if (!l) return;
    const [hash, name, roles, extra] = l.split(/\s+/);
    if (extra !== undefined) throw new Error(`${file} line ${i + 1}: expected "sha256:HASH NAME [ROLE,ROLE]", got more fields`);
    add(hash, name, roles ? roles.split(",").filter(Boolean) : [], ` line ${i + 1}`);
  });
  return out;
}

/** How often (at most) the token file's mtime is looked at; a changed file is re-read. */
const TOKEN_FILE_CHECK_MS = 1000;

class TokenFile {
  private entries: Map<string, TokenEntry>;
  private stamp: string;
  private checkedAt = Date.now();
  private checking = false;

  constructor(private readonly path: string, private readonly log: Logger) {
    this.stamp = this.statStamp();
    this.entries = parseTokenFile(readFileSync(path, "utf8"), path);
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(token: string): TokenEntry | undefined {
    this.maybeReload();
    return this.entries.get(sha256Hex(token));
  }

  private statStamp(): string {
    const s = statSync(this.path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  }

  /** Re-reads a changed file; a broken edit keeps the previous entries (and says so). */
  private maybeReload(): void {
    const now = Date.now();
    if (this.checking || now - this.checkedAt < TOKEN_FILE_CHECK_MS) return;
    this.checkedAt = now;
    this.checking = true;
    try {
      const stamp = this.statStamp();
      if (stamp === this.stamp) return;
      this.entries = parseTokenFile(readFileSync(this.path, "utf8"), this.path);
      this.stamp = stamp;
      this.log.info(`token file ${this.path} re-read: ${this.entries.size} token(s)`);
    } catch (err) {
      this.log.warn(`token file ${this.path} not re-read (keeping the previous ${this.entries.size} token(s)): ${(err as Error).message}`);
    } finally {
      this.checking = false;
    }
  }
}

// ---------------- the edge ----------------

export interface EdgeAuthOptions {
  authToken?: string;
  authTokenName: string;
  tokenFile?: string;
  oauth?: OAuthResourceServer;
}

/** The zero-config principal of --auth-token. */
export function tokenPrincipal(name: string): Principal {
  return Object.freeze({ id: `token:${name}`, name, source: "token", roles: [], scopes: [], groups: [], claims: {} });
}

/** How long, and for how many addresses at most, a refused static token is remembered for noOAuthText. */
const REFUSED_MEMORY_MS = 60_000;
const REFUSED_MEMORY_MAX = 1000;

export class EdgeAuth {
  private readonly token?: TokenCheck;
  private readonly tokenPrincipal?: Principal;
  private readonly tokenOwner?: string;
  private readonly file?: TokenFile;
  readonly oauth?: OAuthResourceServer;
  /** Client addresses whose bearer token was refused lately (→ when): their OAuth probes say so. */
  private readonly refused = new Map<string, number>();

  constructor(opts: EdgeAuthOptions, log: Logger) {
    if (opts.authToken) {
      this.token = new TokenCheck(opts.authToken);
      this.tokenPrincipal = tokenPrincipal(opts.authTokenName);
      // As before principals: tasks of --auth-token's holder are keyed on the token (replicas with the same token share them).
      this.tokenOwner = `bearer:${opts.authToken}`;
    }
    if (opts.tokenFile) this.file = new TokenFile(opts.tokenFile, log);
    this.oauth = opts.oauth;
  }

  /** True when some credential is required. */
  get required(): boolean {
    return this.token !== undefined || this.file !== undefined || this.oauth !== undefined;
  }

  /** One line for the start-up log: what is accepted. */
  describe(): string {
    const kinds = [
      this.token ? "bearer token" : "",
      this.file ? `token file (${this.file.size} token(s))` : "",
      this.oauth ? `OAuth access tokens of ${this.oauth.issuer} for ${this.oauth.resource}` : "",
    ].filter(Boolean);
    return kinds.length ? `auth: ${kinds.join(", ")}` : "no auth";
  }

  /** Authenticates `req` and remembers its principal (principalOf), or says why not. */
  async authenticate(req: IncomingMessage): Promise<AuthOutcome> {
    // The address's latest request decides what its OAuth probes are told (noOAuthText).
    if (this.refused.size > 0) this.refused.delete(req.socket.remoteAddress ?? "");
    const outcome = await this.decide(req);
    if (outcome.ok) rememberPrincipal(req, outcome.principal, outcome.taskOwner);
    return outcome;
  }

  private async decide(req: IncomingMessage): Promise<AuthOutcome> {
    if (!this.required) return { ok: true, principal: ANONYMOUS };
    const bearer = bearerOf(req.headers.authorization);
    if (bearer === undefined) return this.missing(req.headers.authorization);
    // A signed-in client sends the same access token until it expires: answered from the cache first.
    const known = this.oauth?.cached(bearer);
    if (known) return this.oauthOutcome(known);
    if (this.token && this.token.check(`Bearer ${bearer}`) === "ok") return { ok: true, principal: this.tokenPrincipal!, taskOwner: this.tokenOwner };
    const entry = this.file?.lookup(bearer);
    if (entry) {
      const principal: Principal = Object.freeze({ id: `token-file:${entry.name}`, name: entry.name, source: "token-file", roles: Object.freeze([...entry.roles]), scopes: [], groups: [], claims: {} });
      return { ok: true, principal, taskOwner: `principal:${principal.id}` };
    }
    if (this.oauth) {
      const verdict = await this.oauth.verify(bearer);
      // Static tokens are accepted too: say that it is none of them either.
      if (!verdict.ok && verdict.status === 401 && (this.token || this.file)) {
        return { ...verdict, message: `${verdict.message} Nor is it ${this.token ? "the server's MESH_MCP_AUTH_TOKEN" : ""}${this.token && this.file ? " or " : ""}${this.file ? "one of its --token-file tokens" : ""}.` };
      }
      return this.oauthOutcome(verdict);
    }
    this.noteRefused(req);
    const what = this.file ? (this.token ? "neither the server's MESH_MCP_AUTH_TOKEN nor one of its --token-file tokens" : "not one of the server's --token-file tokens") : "not the server's MESH_MCP_AUTH_TOKEN";
    return {
      ok: false,
      status: 401,
      message: `Unauthorized: invalid token (${what}). The client did send a bearer token: check which one it sends.`,
      headers: { "www-authenticate": 'Bearer realm="mesh-mcp", error="invalid_token"' },
    };
  }

  /**
   * What an OAuth probe (`/.well-known/oauth-*`, `/register` …) is told when OAuth is not
   * configured. A client refused with a wrong static token often goes on to guess OAuth
   * (mcp-remote does) and shows only this text: when this address sent a wrong token a
   * moment ago, it says so, rather than reading as if no token had been sent.
   */
  noOAuthText(req: IncomingMessage): string {
    const at = this.refused.get(req.socket.remoteAddress ?? "");
    if (at !== undefined && Date.now() - at < REFUSED_MEMORY_MS) {
      return "mesh-mcp does not use OAuth, and your client DID send a bearer token, but not one this server accepts " +
        "(not its MESH_MCP_AUTH_TOKEN nor a --token-file token): check the token value in the client's Authorization header " +
        "(a typo, a stale token, or quotes/whitespace included in it).";
    }
    return NO_OAUTH;
  }

  private noteRefused(req: IncomingMessage): void {
    if (this.refused.size >= REFUSED_MEMORY_MAX) {
      const now = Date.now();
      for (const [k, at] of this.refused) if (now - at >= REFUSED_MEMORY_MS) this.refused.delete(k);
      if (this.refused.size >= REFUSED_MEMORY_MAX) this.refused.delete(this.refused.keys().next().value!);
    }
    this.refused.set(req.socket.remoteAddress ?? "", Date.now());
  }

  private oauthOutcome(verdict: Verdict): AuthOutcome {
    if (verdict.ok) return { ok: true, principal: verdict.principal, taskOwner: `principal:${verdict.principal.id}` };
    return { ok: false, status: verdict.status, message: verdict.message, headers: verdict.headers };
  }

  private missing(header: string | undefined): AuthOutcome {
    const sent = header === undefined ? "no Authorization header" : /^Bearer\b/i.test(header.trim()) ? "an empty bearer token" : `an Authorization header of another scheme ("${header.trim().split(/\s/, 1)[0]}")`;
    if (this.oauth) {
      return {
        ok: false,
        status: 401,
        message: `Unauthorized: sign-in required (the request carried ${sent}). This server accepts OAuth access tokens from ${this.oauth.issuer}; ` +
          `MCP clients discover it from ${this.oauth.metadataUrl}.`,
        headers: { "www-authenticate": this.oauth.challenge() },
      };
    }
    return {
      ok: false,
      status: 401,
      message: `Unauthorized: no bearer token (the request carried ${sent}). ${NO_OAUTH}`,
      headers: { "www-authenticate": 'Bearer realm="mesh-mcp"' },
    };
  }
}

/** `mesh-mcp hash-token [TOKEN]`: a token file line for TOKEN, or for a new random token. */
export function hashTokenCommand(args: string[]): { stdout: string; code: number } {
  if (args.length > 1) return { stdout: "usage: mesh-mcp hash-token [TOKEN]   (no TOKEN: a new random one)\n", code: 2 };
  const given = args[0];
  const token = given ?? randomBytes(32).toString("base64url");
  const lines = [
    ...(given === undefined ? [`token (give it to its holder; it is not stored anywhere): ${token}`] : []),
    `token file line (replace NAME and ROLES): sha256:${sha256Hex(token)} NAME ROLES`,
  ];
  return { stdout: lines.join("\n") + "\n", code: 0 };
}

/**
 * Why the sign-in options make no sense together, or undefined. Checked before listening,
 * so a wrong setting stops start-up with a sentence rather than failing every request.
 */
export function authConfigProblem(c: {
  oauthIssuer?: string;
  publicUrl?: string;
  oauthAlgorithms: string[];
  oauthIntrospectionClientId?: string;
  oauthIntrospectionClientSecret?: string;
  oauthAudience: string[];
  oauthScopes: string[];
}): string | undefined {
  const oauthOnly = c.oauthAudience.length || c.oauthScopes.length || c.oauthAlgorithms.length || c.oauthIntrospectionClientId || c.oauthIntrospectionClientSecret;
  if (!c.oauthIssuer) {
    if (oauthOnly) return "--oauth-* options need --oauth-issuer URL (the authorization server whose tokens are accepted)";
    return undefined;
  }
  if (!c.publicUrl) {
    return "--oauth-issuer needs --public-url URL: the MCP endpoint's URL as clients reach it (e.g. https://mesh.example.com/mcp); tokens must be issued for it (RFC 8707) and the protected-resource metadata names it";
  }
  const issuer = urlProblem("--oauth-issuer", c.oauthIssuer, false);
  if (issuer) return issuer;
  const pub = urlProblem("--public-url", c.publicUrl, true);
  if (pub) return pub;
  const symmetric = c.oauthAlgorithms.filter((a) => !ASYMMETRIC_ALGS.has(a));
  if (symmetric.length) return `--oauth-algorithms: ${symmetric.join(", ")} not accepted: only asymmetric signatures (${[...ASYMMETRIC_ALGS].join(", ")}); "none" and HS* never`;
  if (!!c.oauthIntrospectionClientId !== !!c.oauthIntrospectionClientSecret) return "--oauth-introspection-client-id and --oauth-introspection-client-secret go together";
  return undefined;
}

export const ASYMMETRIC_ALGS: ReadonlySet<string> = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);

function urlProblem(flag: string, value: string, resource: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `${flag}: "${value}" is not a URL`;
  }
  if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopback(u.hostname))) {
    return `${flag}: ${value} must be https:// (plain http only on a loopback address, for tests)`;
  }
  if (u.hash) return `${flag}: ${value} must not have a #fragment`;
  if (resource && u.search) return `${flag}: ${value} must not have a ?query (it is the resource identifier, RFC 8707)`;
  return undefined;
}

/** The canonical form of a resource URL (RFC 8707 / MCP): lower-case scheme and host, no trailing slash, no fragment. */
export function canonicalResource(value: string): string {
  const u = new URL(value);
  u.hash = "";
  let s = `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, "");
  if (u.search) s += u.search;
  return s;
}

// ---------------- wiring for http.ts ----------------

/** The sign-in options of the HTTP transport's config. */
export type EdgeAuthConfig = Pick<Config, "authToken"> & Partial<Pick<Config, "authTokenName" | "tokenFile" | "oauthIssuer" | "publicUrl" | "oauthAudience" | "oauthScopes" |
  "oauthAlgorithms" | "oauthNameClaim" | "oauthGroupsClaim" | "oauthClockSkew" | "oauthIntrospectionClientId" | "oauthIntrospectionClientSecret">>;

/** The edge's authenticator, from the sign-in options (refusing nonsense before listening). */
export async function edgeAuth(config: EdgeAuthConfig, log: Logger): Promise<EdgeAuth> {
  const c = { oauthAudience: [], oauthScopes: [], oauthAlgorithms: [], oauthNameClaim: [], oauthGroupsClaim: [], ...config };
  const problem = authConfigProblem(c);
  if (problem) throw new ConfigError(problem);
  let oauth;
  if (c.oauthIssuer && c.publicUrl) {
    if (c.oauthIntrospectionClientSecret) addSecret(c.oauthIntrospectionClientSecret);
    const { OAuthResourceServer } = await import("./oauth.js");
    oauth = new OAuthResourceServer({
      issuer: c.oauthIssuer, publicUrl: c.publicUrl, audience: c.oauthAudience, requiredScopes: c.oauthScopes, algorithms: c.oauthAlgorithms,
      nameClaims: c.oauthNameClaim, groupsClaims: c.oauthGroupsClaim, clockSkewS: c.oauthClockSkew,
      introspection: c.oauthIntrospectionClientId && c.oauthIntrospectionClientSecret ? { clientId: c.oauthIntrospectionClientId, clientSecret: c.oauthIntrospectionClientSecret } : undefined,
    }, log);
  }
  try {
    return new EdgeAuth({ authToken: c.authToken, authTokenName: c.authTokenName ?? "token", tokenFile: c.tokenFile, oauth }, log);
  } catch (err) {
    throw new ConfigError(`--token-file: ${(err as Error).message}`);
  }
}

/** RFC 9728 metadata, readable by browser-based clients too (CORS, preflight included). */
export function sendResourceMetadata(req: IncomingMessage, res: ServerResponse, metadata: Record<string, unknown>): void {
  const cors = { "access-control-allow-origin": "*", "access-control-allow-methods": "GET, OPTIONS", "access-control-allow-headers": "MCP-Protocol-Version, Content-Type, Authorization" };
  if (req.method === "OPTIONS") {
    res.writeHead(204, { ...cors, "access-control-max-age": "600" });
    return void res.end();
  }
  if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "GET only" }, { allow: "GET, OPTIONS", ...cors });
  sendJson(res, 200, metadata, { ...cors, "cache-control": "max-age=3600" });
}

