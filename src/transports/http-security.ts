/**
 * Access control for the HTTP transport, kept apart so it can be read (and tested)
 * on its own: the bearer token, the Host/Origin allowlists against DNS rebinding,
 * and the refusal to listen on a non-loopback address without a token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/** Strips IPv6 brackets and lower-cases: `[::1]` → `::1`. */
function bare(host: string): string {
  const h = host.trim().toLowerCase();
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

export function isLoopback(host: string): boolean {
  const h = bare(host);
  if (LOOPBACK_NAMES.has(h) || h.endsWith(".localhost")) return true;
  return isIP(h) === 4 ? h.startsWith("127.") : h === "0:0:0:0:0:0:0:1";
}

function isWildcard(host: string): boolean {
  const h = bare(host);
  return h === "" || h === "0.0.0.0" || h === "::" || h === "0:0:0:0:0:0:0:0";
}

/**
 * Why starting is refused, or undefined when it may start: a listener reachable
 * from other machines must require a token unless the operator opted out explicitly.
 */
export function startupProblem(host: string, authToken: string | boolean | undefined, insecureNoAuth: boolean): string | undefined {
  if (isLoopback(host) || authToken || insecureNoAuth) return undefined;
  return (
    `refusing to listen on ${host} without authentication: anyone who can reach it could call every mesh tool. ` +
    `Set --auth-token / MESH_MCP_AUTH_TOKEN (clients send Authorization: Bearer TOKEN), --token-file FILE (named tokens) ` +
    `or --oauth-issuer URL with --public-url URL (OAuth sign-in), ` +
    `or pass --insecure-no-auth if something in front (a reverse proxy, a private network) already controls access.`
  );
}

/**
 * mesh-mcp has one static bearer token and no authorization server, so it publishes no
 * OAuth metadata (RFC 9728 requires `authorization_servers`; there is none to name).
 * Clients that guess OAuth anyway (mcp-remote, SDK clients after a 401) probe these paths
 * and then try dynamic client registration: they get this text instead of a bare 404,
 * and most show it to the user.
 */
export const NO_OAUTH =
  "mesh-mcp does not use OAuth: configure your MCP client to send the header " +
  "'Authorization: Bearer <token>' with the server's MESH_MCP_AUTH_TOKEN " +
  "(mcp-remote: --header \"Authorization:${AUTH_HEADER}\" with AUTH_HEADER=\"Bearer <token>\"; " +
  "Claude Code: --header \"Authorization: Bearer <token>\"; VS Code: \"headers\" in mcp.json)";

/** Paths where OAuth clients look for metadata or registration (RFC 8414, 9728, 7591, OIDC). */
export function isOAuthProbe(path: string): boolean {
  return path.startsWith("/.well-known/oauth-") || path.startsWith("/.well-known/openid-configuration") ||
    path === "/register" || path === "/authorize" || path === "/token";
}

/** Splits a Host header value into hostname and port (`undefined` when absent). */
export function splitHost(value: string): { hostname: string; port?: number } {
  const v = value.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(v);
  if (!m) return { hostname: bare(v) };
  return { hostname: bare(m[1]!), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** Constant-time bearer check: both sides hashed to equal-length digests first. */
export class TokenCheck {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = createHash("sha256").update(token).digest();
  }

  /** "ok", or why not: the header is absent/not Bearer ("missing") or the token differs ("invalid"). */
  check(authorization: string | undefined): "ok" | "missing" | "invalid" {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "");
    if (!m) return "missing";
    const given = createHash("sha256").update(m[1]!).digest();
    return timingSafeEqual(given, this.digest) ? "ok" : "invalid";
  }
}

export interface OriginPolicyOptions {
  /** The address the server listens on (`--host`). */
  listenHost: string;
  /** The port it actually listens on. */
  port: number;
  /** `--allowed-host` entries: `name` (any port) or `name:port`. */
  allowedHosts: string[];
  /** `--allowed-origin` entries: `scheme://host[:port]`, or `*` for any. */
  allowedOrigins: string[];
}

/**
 * DNS-rebinding protection. A rebound page reaches us with its own name in Host
 * (so Host must be one of ours) and its own site in Origin (so a browser Origin
 * must be one we trust). Non-browser clients send no Origin.
 */
export class OriginPolicy {
  /** hostname → allowed ports (`undefined`: any port). */
  private readonly hosts = new Map<string, Set<number> | undefined>();
  private readonly origins = new Set<string>();
  private readonly anyOrigin: boolean;
  private readonly localNames = new Set<string>();

  constructor(private readonly opts: OriginPolicyOptions) {
    if (isWildcard(opts.listenHost)) {
      // Listening everywhere: every local interface address is "the listen address".
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) this.localNames.add(bare(i.address.split("%")[0]!));
    } else {
      this.localNames.add(bare(opts.listenHost));
    }
    for (const name of LOOPBACK_NAMES) this.localNames.add(name);
    // Our own names pass on any port (port forwards, container port maps): a rebound
    // page always carries the attacker's domain in Host, never one of these.
    for (const name of this.localNames) this.hosts.set(name, undefined);
    for (const entry of opts.allowedHosts) {
      const { hostname, port } = splitHost(entry);
      const ports = this.hosts.get(hostname);
      if (port === undefined) this.hosts.set(hostname, undefined);
      else if (!this.hosts.has(hostname)) this.hosts.set(hostname, new Set([port]));
      else ports?.add(port);
    }
    this.anyOrigin = opts.allowedOrigins.includes("*");
    for (const o of opts.allowedOrigins) if (o !== "*") this.origins.add(o.trim().toLowerCase().replace(/\/+$/, ""));
  }

  /** True when the Host header names this server. */
  hostAllowed(host: string | undefined): boolean {
    if (!host) return false;
    const { hostname, port } = splitHost(host);
    if (!this.hosts.has(hostname)) return false;
    const ports = this.hosts.get(hostname);
    if (ports === undefined) return true;
    // Browsers omit the default port.
    return ports.has(port ?? 80);
  }

  /**
   * True when a request with this Origin may proceed: no Origin (not a browser),
   * a loopback page (any port: rebinding attacks come from remote sites), a page
   * served by this server, or an --allowed-origin.
   */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined || this.anyOrigin) return true;
    const o = origin.trim().toLowerCase();
    if (this.origins.has(o)) return true;
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      return false; // includes the opaque origin "null"
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return false;
    const hostname = bare(url.hostname);
    if (isLoopback(hostname)) return true;
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    return this.localNames.has(hostname) && port === this.opts.port;
  }
}
