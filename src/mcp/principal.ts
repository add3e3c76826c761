/**
 * Who is calling. Transports authenticate (turn a request into a Principal) and nothing
 * more; src/mcp authorizes (policy at the shared tool path); src/mesh only carries the
 * principal's name and roles as NATS headers. A Principal never holds a token or secret.
 */
import { userInfo } from "node:os";

export type PrincipalSource = "oauth" | "token" | "token-file" | "local" | "configured" | "anonymous";

export interface Principal {
  /** Stable id: the JWT `sub` (prefixed by issuer host when several issuers), a token-file entry's name, `local:<user>`. Task ownership keys on it. */
  readonly id: string;
  /** Human-readable name for logs, audit records and the status page (email, preferred_username, token name …). */
  readonly name: string;
  /** How the principal was established. */
  readonly source: PrincipalSource;
  /** Roles granted directly (token file, --auth-token's principal); the policy adds those it maps from claims, groups and scopes. */
  readonly roles: readonly string[];
  /** OAuth scopes of the access token ([] elsewhere). */
  readonly scopes: readonly string[];
  /** Group memberships (OIDC `groups`, Entra `roles`/`groups`; [] elsewhere). */
  readonly groups: readonly string[];
  /** Non-secret claims a policy may match on (iss, sub, email, client_id, azp …). Never the token itself. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch ms when the credential stops being valid (JWT `exp`), when known. */
  readonly expiresAt?: number;
}

/**
 * The key under which the HTTP edge hands a 2026-07-28 request's principal to src/mcp:
 * `authInfo.extra[PRINCIPAL_AUTH_KEY]` (2025 sessions get SessionOptions.principal).
 */
export const PRINCIPAL_AUTH_KEY = "mesh-mcp/principal";

/** The principal of a request no credential was asked for (loopback HTTP without auth). */
export const ANONYMOUS: Principal = Object.freeze({ id: "anonymous", name: "anonymous", source: "anonymous", roles: [], scopes: [], groups: [], claims: {} });

/** stdio: client and server share a machine, so the caller is the local user (or a configured name). */
export function localPrincipal(configuredName?: string): Principal {
  let user = configuredName;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = process.env.USER ?? "unknown";
    }
  }
  return Object.freeze({ id: `local:${user}`, name: user, source: configuredName ? "configured" : "local", roles: [], scopes: [], groups: [], claims: {} });
}
