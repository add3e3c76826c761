/**
 * Who may do what: a pure function (principal, action, target) → allow | deny, with why.
 * The policy comes from the config file's `policy` section (docs/identity.md); the
 * shared paths (tools.ts, resources, builtins, tasks) ask it, no transport does.
 *
 * Without a policy, or for the anonymous principal when the policy names no
 * `anonymous` role, everything the flags expose is allowed: nothing changes for users
 * without a config file.
 */
import { z } from "zod";
import type { Principal } from "./principal.js";

const globs = z.array(z.string().min(1));

export const RoleSchema = z.strictObject({
  /** `tool.method` globs (`*`, `?`): allow, and deny (deny wins over every role's allow). */
  tools: z.strictObject({ allow: globs.optional(), deny: globs.optional() }).optional(),
  /** Node name globs this role may run calls on (absent: every node). */
  nodes: globs.optional(),
  /** File-store key prefixes (`*`: every key) the role may read (resources) and upload to. */
  files: z.strictObject({ read: z.array(z.string()).optional(), upload: z.array(z.string()).optional() }).optional(),
  /** Admin tools (`mesh_admin_*`, with --admin): true for all, or name globs. */
  admin: z.union([z.boolean(), globs]).optional(),
  /** May run calls as MCP tasks (default true). */
  tasks: z.boolean().optional(),
});
export type Role = z.infer<typeof RoleSchema>;

export const RuleSchema = z.strictObject({
  /** Roles granted when every condition of the rule holds. */
  roles: z.array(z.string().min(1)).min(1),
  /** The principal id glob (`local:alice`, a token-file name, an OAuth `sub`). */
  principal: z.string().min(1).optional(),
  /** stdio: the local or --principal user name glob. */
  user: z.string().min(1).optional(),
  /** The name of a static token (--auth-token's principal, a token-file entry). */
  token: z.string().min(1).optional(),
  /** A group the principal is in (glob). */
  group: z.string().min(1).optional(),
  /** An OAuth scope the token carries (glob). */
  scope: z.string().min(1).optional(),
  /** Claims and the glob each must match (a list claim: any element). */
  claim: z.record(z.string(), z.string()).optional(),
}).refine((r) => r.principal ?? r.user ?? r.token ?? r.group ?? r.scope ?? r.claim, { message: "a rule needs at least one condition (principal, user, token, group, scope or claim)" });
export type Rule = z.infer<typeof RuleSchema>;

export const PolicySchema = z.strictObject({
  roles: z.record(z.string().min(1), RoleSchema),
  /** Rules mapping principals to roles (all that match apply). */
  map: z.array(RuleSchema).optional(),
  /** Role of an authenticated principal no rule and no direct role names. */
  default: z.string().min(1).optional(),
  /** Role of the anonymous principal (loopback HTTP without auth); absent: everything, as without a policy. */
  anonymous: z.string().min(1).optional(),
}).superRefine((p, ctx) => {
  const known = (role: string, path: (string | number)[]) => {
    if (!(role in p.roles)) ctx.addIssue({ code: "custom", path, message: `unknown role "${role}" (roles: ${Object.keys(p.roles).join(", ") || "none"})` });
  };
  p.map?.forEach((r, i) => r.roles.forEach((role, j) => known(role, ["map", i, "roles", j])));
  if (p.default !== undefined) known(p.default, ["default"]);
  if (p.anonymous !== undefined) known(p.anonymous, ["anonymous"]);
});
export type Policy = z.infer<typeof PolicySchema>;

export type Action = "tool.call" | "node.use" | "file.read" | "file.upload" | "admin" | "task.create";
export interface Decision {
  allow: boolean;
  why: string;
}

const regexps = new Map<string, RegExp>();
/** `*` any run of characters (dots included), `?` one character; everything else literal. */
export function globMatch(glob: string, value: string): boolean {
  let re = regexps.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "s");
    if (regexps.size > 10_000) regexps.clear();
    regexps.set(glob, re);
  }
  return re.test(value);
}

const prefixMatch = (prefix: string, key: string) => prefix === "*" || key.startsWith(prefix);

function claimValues(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (typeof v === "number" || typeof v === "boolean") return [String(v)];
  if (Array.isArray(v)) return v.flatMap((x) => (typeof x === "string" ? [x] : typeof x === "number" ? [String(x)] : []));
  return [];
}

/** Whether every condition of `rule` holds for `p`. */
export function ruleMatches(rule: Rule, p: Principal): boolean {
  if (rule.principal !== undefined && !globMatch(rule.principal, p.id)) return false;
  if (rule.user !== undefined && !((p.source === "local" || p.source === "configured") && globMatch(rule.user, p.name))) return false;
  if (rule.token !== undefined && !((p.source === "token" || p.source === "token-file") && globMatch(rule.token, p.name))) return false;
  if (rule.group !== undefined && !p.groups.some((g) => globMatch(rule.group!, g))) return false;
  if (rule.scope !== undefined && !p.scopes.some((s) => globMatch(rule.scope!, s))) return false;
  if (rule.claim !== undefined) {
    for (const [name, glob] of Object.entries(rule.claim)) {
      if (!claimValues(p.claims[name]).some((v) => globMatch(glob, v))) return false;
    }
  }
  return true;
}

/**
 * The roles of `p` under `policy`: its direct roles and every matching rule's, those
 * the policy defines; the default role when that leaves none (authenticated principals),
 * the anonymous role for the anonymous principal. Undefined: unrestricted.
 */
export function rolesOf(policy: Policy | undefined, p: Principal): string[] | undefined {
  if (!policy) return undefined;
  if (p.source === "anonymous") return policy.anonymous === undefined ? undefined : [policy.anonymous];
  const out = new Set<string>();
  for (const r of p.roles) if (r in policy.roles) out.add(r);
  for (const rule of policy.map ?? []) if (ruleMatches(rule, p)) for (const r of rule.roles) out.add(r);
  if (out.size === 0 && policy.default !== undefined) out.add(policy.default);
  return [...out];
}

/** One principal's compiled view of the policy: ask it many times (tools/list asks once per tool). */
export class Access {
  /** True when nothing is filtered (no policy, or anonymous without an anonymous role). */
  readonly unrestricted: boolean;
  private readonly grants: Role[];

  constructor(readonly principal: Principal, readonly roles: readonly string[] | undefined, policy: Policy | undefined) {
    this.unrestricted = roles === undefined;
    this.grants = (roles ?? []).map((r) => policy!.roles[r]!);
  }

  decide(action: Action, target: string): Decision {
    if (this.unrestricted) return { allow: true, why: "no policy applies" };
    const who = `${this.principal.name} (roles: ${this.roles!.join(", ") || "none"})`;
    const deny = (why: string): Decision => ({ allow: false, why: `${who}: ${why}` });
    if (this.grants.length === 0) return deny("no role grants anything");
    switch (action) {
      case "tool.call": {
        const denied = this.grants.findIndex((g) => g.tools?.deny?.some((d) => globMatch(d, target)));
        if (denied >= 0) return deny(`${target} is denied by role ${this.roles![denied]}`);
        const by = this.grants.findIndex((g) => g.tools?.allow?.some((a) => globMatch(a, target)));
        return by >= 0 ? { allow: true, why: `${target} allowed by role ${this.roles![by]}` } : deny(`no role allows ${target}`);
      }
      case "task.create": {
        const tool = this.decide("tool.call", target);
        if (!tool.allow) return tool;
        const by = this.grants.findIndex((g) => g.tasks !== false);
        return by >= 0 ? { allow: true, why: `tasks allowed by role ${this.roles![by]}` } : deny("no role allows tasks");
      }
      case "node.use": {
        const by = this.grants.findIndex((g) => g.nodes === undefined || g.nodes.some((n) => globMatch(n, target)));
        return by >= 0 ? { allow: true, why: `node ${target} allowed by role ${this.roles![by]}` } : deny(`no role allows node ${target}`);
      }
      case "file.read":
      case "file.upload": {
        const kind = action === "file.read" ? "read" : "upload";
        const by = this.grants.findIndex((g) => g.files?.[kind]?.some((p) => prefixMatch(p, target)));
        return by >= 0 ? { allow: true, why: `${kind} of ${target} allowed by role ${this.roles![by]}` } : deny(`no role allows ${kind} of ${target}`);
      }
      case "admin": {
        const by = this.grants.findIndex((g) => g.admin === true || (Array.isArray(g.admin) && g.admin.some((a) => globMatch(a, target))));
        return by >= 0 ? { allow: true, why: `${target} allowed by role ${this.roles![by]}` } : deny(`no role allows ${target}`);
      }
    }
  }

  can(action: Action, target: string): boolean {
    return this.unrestricted || this.decide(action, target).allow;
  }

  /** The file-store prefixes this principal may upload to (undefined: any key). */
  uploadPrefixes(): string[] | undefined {
    if (this.unrestricted) return undefined;
    const all = this.grants.flatMap((g) => g.files?.upload ?? []);
    return all.includes("*") ? undefined : all;
  }
}

/** The pure decision: may `principal` do `action` on `target` under `policy`? */
export function decide(policy: Policy | undefined, principal: Principal, action: Action, target: string): Decision {
  return new Access(principal, rolesOf(policy, principal), policy).decide(action, target);
}

const cache = new WeakMap<Policy, WeakMap<Principal, Access>>();
const UNRESTRICTED = new WeakMap<Principal, Access>();

/** The Access of `principal` (built once per principal object and policy). */
export function accessOf(policy: Policy | undefined, principal: Principal): Access {
  if (!policy) {
    let a = UNRESTRICTED.get(principal);
    if (!a) UNRESTRICTED.set(principal, (a = new Access(principal, undefined, undefined)));
    return a;
  }
  let m = cache.get(policy);
  if (!m) cache.set(policy, (m = new WeakMap()));
  let a = m.get(principal);
  if (!a) m.set(principal, (a = new Access(principal, rolesOf(policy, principal), policy)));
  return a;
}
