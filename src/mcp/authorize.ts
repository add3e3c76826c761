/**
 * The policy (policy.ts) applied where every path meets: what a principal sees of the
 * catalog, the built-ins and the file store, and what its calls carry to the mesh.
 * tools.ts, resources.ts, server.ts and modern.ts call these; no transport does.
 */
import type { MethodEntry } from "../mesh/index.js";
import type { Bridge } from "./bridge.js";
import type { Builtin } from "./builtins.js";
import { accessOf, type Access } from "./policy.js";
import { ANONYMOUS, type Principal } from "./principal.js";

export const UPLOAD_TOOL = "mesh_upload_file";

/** The Access of a request's principal (none known: anonymous) under the bridge's policy. */
export function accessFor(bridge: Bridge, principal: Principal | undefined): Access {
  return accessOf(bridge.opts.policy, principal ?? ANONYMOUS);
}

const views = new WeakMap<Access, WeakMap<MethodEntry, MethodEntry | null>>();

/**
 * `entry` as `access` sees it: only the nodes it may use, or null when it may not call
 * the method at all (then it is as absent as an unknown tool). Cached per catalog entry.
 */
export function entryFor(access: Access, entry: MethodEntry): MethodEntry | null {
  if (access.unrestricted) return entry;
  let m = views.get(access);
  if (!m) views.set(access, (m = new WeakMap()));
  let v = m.get(entry);
  if (v === undefined) {
    const key = `${entry.tool}.${entry.method}`;
    const nodes = access.can("tool.call", key) ? entry.nodes.filter((n) => access.can("node.use", n)) : [];
    v = nodes.length === 0 ? null : nodes.length === entry.nodes.length ? entry : { ...entry, nodes };
    m.set(entry, v);
  }
  return v;
}

/** The visible methods `access` may call, each with the nodes it may use. */
export function methodsFor(bridge: Bridge, access: Access): MethodEntry[] {
  const all = bridge.methods();
  if (access.unrestricted) return all;
  const out: MethodEntry[] = [];
  for (const e of all) {
    const v = entryFor(access, e);
    if (v) out.push(v);
  }
  return out;
}

/** Whether `access` may see and call the built-in `b` (admin tools: an admin grant; upload: an upload prefix). */
export function builtinAllowed(access: Access, b: Builtin): boolean {
  if (access.unrestricted) return true;
  if (b.admin) return access.can("admin", b.tool.name);
  if (b.tool.name === UPLOAD_TOOL) return access.uploadPrefixes()?.length !== 0;
  return true;
}

export function builtinsAllowed<B extends Builtin>(access: Access, builtins: readonly B[]): B[] {
  return access.unrestricted ? [...builtins] : builtins.filter((b) => builtinAllowed(access, b));
}

/** A file-store key `access` may read (resources, subscriptions, completions, mesh://files links). */
export function canReadFile(access: Access, key: string): boolean {
  return access.can("file.read", key);
}

/** Task owner for a principal: its stable id (tasks follow it across replicas), undefined for the anonymous or local user. */
export function taskOwnerOf(principal: Principal | undefined): string | undefined {
  if (!principal || principal.source === "anonymous" || principal.source === "local") return undefined;
  return `principal:${principal.id}`;
}

// ---------------- identity on the wire ----------------

/** NATS header names carrying the caller to the mesh (docs/identity.md). */
export const PRINCIPAL_HEADERS = {
  id: "Mesh-Principal-Id",
  name: "Mesh-Principal",
  source: "Mesh-Principal-Source",
  roles: "Mesh-Principal-Roles",
  scopes: "Mesh-Principal-Scopes",
} as const;

const HEADER_VALUE_MAX = 1024;

/** A header value NATS carries safely: printable ASCII, others percent-encoded, bounded. */
function headerValue(s: string): string {
  // eslint-disable-next-line no-control-regex
  const v = /^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
  return v.length > HEADER_VALUE_MAX ? v.slice(0, HEADER_VALUE_MAX) : v;
}

const headerCache = new WeakMap<Access, Record<string, string>>();

/**
 * The principal as NATS headers: name, id, source, the roles the policy gave it (or its
 * own), its scopes. Never a token. Undefined for the anonymous principal without a policy.
 */
export function principalHeaders(access: Access): Record<string, string> | undefined {
  const p = access.principal;
  if (p.source === "anonymous" && access.unrestricted) return undefined;
  let h = headerCache.get(access);
  if (!h) {
    h = {
      [PRINCIPAL_HEADERS.id]: headerValue(p.id),
      [PRINCIPAL_HEADERS.name]: headerValue(p.name),
      [PRINCIPAL_HEADERS.source]: p.source,
    };
    const roles = access.roles ?? p.roles;
    if (roles.length) h[PRINCIPAL_HEADERS.roles] = headerValue(roles.join(","));
    if (p.scopes.length) h[PRINCIPAL_HEADERS.scopes] = headerValue(p.scopes.join(" "));
    headerCache.set(access, h);
  }
  return h;
}

/**
 * What a principal hears of the mesh's events under the policy (MCP Events): events
 * about a method it may call, a tool with a method it may call, a node it may use, a
 * file it may read. Undefined without a policy (everyone hears everything).
 */
export function eventVisibility(bridge: Bridge): ((principal: Principal, about: { node?: string; tool?: string; method?: string; fileKey?: string }) => boolean) | undefined {
  if (!bridge.opts.policy) return undefined;
  return (principal, about) => {
    const access = accessFor(bridge, principal);
    if (access.unrestricted) return true;
    if (about.fileKey !== undefined) return access.can("file.read", about.fileKey);
    if (about.node !== undefined && !access.can("node.use", about.node)) return false;
    if (about.tool !== undefined) {
      if (about.method !== undefined) return access.can("tool.call", `${about.tool}.${about.method}`);
      return bridge.methods().some((e) => e.tool === about.tool && access.can("tool.call", `${e.tool}.${e.method}`));
    }
    // Node events: its own node.use decided above; anything else with no subject is for admins.
    return about.node !== undefined || access.can("admin", "*");
  };
}
