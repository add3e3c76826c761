/** The policy as a pure function: (principal, action, target) → allow | deny, and why. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessOf, decide, globMatch, PolicySchema, rolesOf, ruleMatches, type Policy } from "../../src/mcp/policy.js";
import { ANONYMOUS, localPrincipal, type Principal } from "../../src/mcp/principal.js";

function principal(over: Partial<Principal> & { id: string }): Principal {
  return { name: over.id, source: "oauth", roles: [], scopes: [], groups: [], claims: {}, ...over };
}

const TEAM: Policy = PolicySchema.parse({
  roles: {
    readers: { tools: { allow: ["files.get", "files.list", "calc.*"] }, files: { read: ["shared/", "outputs/"] }, tasks: false },
    operators: { tools: { allow: ["*"], deny: ["files.delete", "vault.*"] }, nodes: ["gpu-*"], files: { read: ["*"], upload: ["uploads/"] } },
    admins: { tools: { allow: ["*"] }, files: { read: ["*"], upload: ["*"] }, admin: true },
    installers: { admin: ["mesh_admin_install", "mesh_admin_release_*"] },
  },
  map: [
    { group: "mesh-admins", roles: ["admins"] },
    { scope: "mesh:operate", roles: ["operators"] },
    { claim: { email: "*@ops.example.com" }, roles: ["operators"] },
    { token: "ci-bot", roles: ["operators"] },
    { user: "alice", roles: ["admins"] },
    { principal: "svc-*", claim: { azp: "deployer" }, roles: ["installers"] },
  ],
  default: "readers",
});

const reader = principal({ id: "u1", name: "bob@example.com", claims: { email: "bob@example.com" } });
const operator = principal({ id: "u2", scopes: ["openid", "mesh:operate"] });
const admin = principal({ id: "u3", groups: ["staff", "mesh-admins"] });
const both = principal({ id: "u4", groups: ["mesh-admins"], scopes: ["mesh:operate"] });

test("globs: * spans dots, ? one character, everything else literal", () => {
  assert.ok(globMatch("calc.*", "calc.add"));
  assert.ok(globMatch("*", "anything.at.all"));
  assert.ok(globMatch("c?lc.add", "calc.add"));
  assert.ok(!globMatch("calc.*", "calcx.add"), "the dot is literal");
  assert.ok(!globMatch("calc.add", "calc.addition"), "anchored at both ends");
  assert.ok(!globMatch("a+b", "aab"), "regex characters are literal");
  assert.ok(globMatch("a+b", "a+b"));
  assert.ok(globMatch("*", "line\nbreak"), "* matches any character, newlines too");
});

test("no policy: everything is allowed, for everyone", () => {
  for (const p of [ANONYMOUS, reader, localPrincipal("x")]) {
    for (const [action, target] of [["tool.call", "vault.open"], ["admin", "mesh_admin_install"], ["file.read", "secret/x"], ["file.upload", "x"], ["node.use", "n"], ["task.create", "a.b"]] as const) {
      const d = decide(undefined, p, action, target);
      assert.equal(d.allow, true, `${p.id} ${action} ${target}`);
    }
  }
  assert.equal(accessOf(undefined, reader).unrestricted, true);
});

test("anonymous with a policy but no anonymous role: today's behaviour (everything)", () => {
  assert.equal(rolesOf(TEAM, ANONYMOUS), undefined);
  assert.equal(decide(TEAM, ANONYMOUS, "tool.call", "vault.open").allow, true);
  const locked = { ...TEAM, anonymous: "readers" };
  assert.deepEqual(rolesOf(locked, ANONYMOUS), ["readers"]);
  assert.equal(decide(locked, ANONYMOUS, "tool.call", "vault.open").allow, false);
  assert.equal(decide(locked, ANONYMOUS, "tool.call", "calc.add").allow, true);
});

test("an authenticated principal no rule names gets the default role", () => {
  assert.deepEqual(rolesOf(TEAM, reader), ["readers"]);
  assert.equal(decide(TEAM, reader, "tool.call", "calc.add").allow, true);
  assert.equal(decide(TEAM, reader, "tool.call", "files.get").allow, true);
  assert.equal(decide(TEAM, reader, "tool.call", "files.delete").allow, false);
  assert.equal(decide(TEAM, reader, "tool.call", "imaging.run").allow, false);
});

test("without a default role, an unmatched principal may do nothing", () => {
  const noDefault = { ...TEAM, default: undefined };
  assert.deepEqual(rolesOf(noDefault, reader), []);
  for (const [action, target] of [["tool.call", "calc.add"], ["file.read", "shared/a"], ["node.use", "n1"], ["admin", "mesh_admin_install"]] as const) {
    const d = decide(noDefault, reader, action, target);
    assert.equal(d.allow, false);
    assert.match(d.why, /no role grants anything/);
  }
});

test("rules: groups, scopes, claims, token names, local users, principal ids; all conditions of a rule must hold", () => {
  assert.deepEqual(rolesOf(TEAM, admin), ["admins"]);
  assert.deepEqual(rolesOf(TEAM, operator), ["operators"]);
  assert.deepEqual(rolesOf(TEAM, principal({ id: "u5", claims: { email: "eve@ops.example.com" } })), ["operators"]);
  assert.deepEqual(rolesOf(TEAM, principal({ id: "u6", claims: { email: "eve@ops.example.com.evil.org" } })), ["readers"], "globs are anchored");
  assert.deepEqual(rolesOf(TEAM, principal({ id: "ci-bot", name: "ci-bot", source: "token-file" })), ["operators"]);
  assert.deepEqual(rolesOf(TEAM, principal({ id: "x", name: "ci-bot", source: "oauth" })), ["readers"], "a token rule names static tokens only, not an OAuth user called ci-bot");
  assert.deepEqual(rolesOf(TEAM, localPrincipal("alice")), ["admins"]);
  assert.deepEqual(rolesOf(TEAM, principal({ id: "y", name: "alice", source: "oauth" })), ["readers"], "a user rule names stdio users only");
  assert.deepEqual(rolesOf(TEAM, principal({ id: "svc-deploy", claims: { azp: "deployer" } })), ["installers"]);
  assert.deepEqual(rolesOf(TEAM, principal({ id: "svc-deploy", claims: { azp: "other" } })), ["readers"], "both conditions must hold");
  assert.deepEqual(rolesOf(TEAM, principal({ id: "x", groups: ["staff"] })), ["readers"]);
});

test("list claims match on any element; non-string claims never match a glob by accident", () => {
  const rule = { roles: ["r"], claim: { roles: "mesh.*" } };
  assert.ok(ruleMatches(rule, principal({ id: "a", claims: { roles: ["other", "mesh.write"] } })));
  assert.ok(!ruleMatches(rule, principal({ id: "a", claims: { roles: ["other"] } })));
  assert.ok(!ruleMatches(rule, principal({ id: "a", claims: { roles: { mesh: "x" } } })));
  assert.ok(!ruleMatches(rule, principal({ id: "a", claims: {} })));
  assert.ok(ruleMatches({ roles: ["r"], claim: { email_verified: "true" } }, principal({ id: "a", claims: { email_verified: true } })));
});

test("direct roles (token file, --auth-token) count, and are unioned with mapped ones; unknown ones are ignored", () => {
  const p = principal({ id: "t", name: "deploy", source: "token-file", roles: ["installers", "no-such-role"] });
  assert.deepEqual(rolesOf(TEAM, p), ["installers"]);
  const q = principal({ id: "t2", source: "token-file", roles: ["readers"], groups: ["mesh-admins"] });
  assert.deepEqual(rolesOf(TEAM, q), ["readers", "admins"]);
});

test("deny wins over every role's allow", () => {
  assert.deepEqual(rolesOf(TEAM, both), ["admins", "operators"]);
  const d = decide(TEAM, both, "tool.call", "files.delete");
  assert.equal(d.allow, false);
  assert.match(d.why, /files\.delete is denied by role operators/);
  assert.equal(decide(TEAM, admin, "tool.call", "files.delete").allow, true, "admins alone may");
  assert.equal(decide(TEAM, operator, "tool.call", "vault.open").allow, false);
  assert.equal(decide(TEAM, operator, "tool.call", "imaging.run").allow, true);
});

test("nodes: a role without `nodes` allows every node; globs otherwise; the union over roles", () => {
  assert.equal(decide(TEAM, operator, "node.use", "gpu-1").allow, true);
  assert.equal(decide(TEAM, operator, "node.use", "cpu-1").allow, false);
  assert.equal(decide(TEAM, reader, "node.use", "cpu-1").allow, true);
  assert.equal(decide(TEAM, both, "node.use", "cpu-1").allow, true, "admins have no node limit");
});

test("files: read and upload by key prefix, `*` for every key", () => {
  assert.equal(decide(TEAM, reader, "file.read", "shared/a.txt").allow, true);
  assert.equal(decide(TEAM, reader, "file.read", "outputs/x/y.png").allow, true);
  assert.equal(decide(TEAM, reader, "file.read", "private/a.txt").allow, false);
  assert.equal(decide(TEAM, reader, "file.read", "sharedX/a.txt").allow, false, "a prefix with its slash is a folder");
  assert.equal(decide(TEAM, reader, "file.upload", "shared/a.txt").allow, false, "read is not upload");
  assert.equal(decide(TEAM, operator, "file.upload", "uploads/1/a.txt").allow, true);
  assert.equal(decide(TEAM, operator, "file.upload", "shared/a.txt").allow, false);
  assert.equal(decide(TEAM, operator, "file.read", "anything").allow, true);
  assert.deepEqual(accessOf(TEAM, operator).uploadPrefixes(), ["uploads/"]);
  assert.deepEqual(accessOf(TEAM, reader).uploadPrefixes(), []);
  assert.equal(accessOf(TEAM, admin).uploadPrefixes(), undefined, "* means any key");
});

test("admin tools: true for all, or name globs; nothing otherwise", () => {
  assert.equal(decide(TEAM, admin, "admin", "mesh_admin_uninstall").allow, true);
  assert.equal(decide(TEAM, operator, "admin", "mesh_admin_install").allow, false);
  const inst = principal({ id: "svc-1", claims: { azp: "deployer" } });
  assert.equal(decide(TEAM, inst, "admin", "mesh_admin_install").allow, true);
  assert.equal(decide(TEAM, inst, "admin", "mesh_admin_release_inspect").allow, true);
  assert.equal(decide(TEAM, inst, "admin", "mesh_admin_uninstall").allow, false);
});

test("tasks: need the tool, and a role that does not forbid tasks", () => {
  assert.equal(decide(TEAM, reader, "task.create", "calc.add").allow, false, "readers: tasks false");
  assert.match(decide(TEAM, reader, "task.create", "calc.add").why, /no role allows tasks/);
  assert.equal(decide(TEAM, operator, "task.create", "imaging.run").allow, true);
  assert.equal(decide(TEAM, operator, "task.create", "vault.open").allow, false, "a denied tool is no task either");
  assert.match(decide(TEAM, operator, "task.create", "vault.open").why, /denied/);
});

test("a role with no tools section allows no tool", () => {
  const inst = principal({ id: "svc-1", claims: { azp: "deployer" } });
  assert.equal(decide(TEAM, inst, "tool.call", "calc.add").allow, false);
});

test("why names the principal and its roles, never a token", () => {
  const p = principal({ id: "u9", name: "carol", claims: { email: "carol@x" } });
  const d = decide(TEAM, p, "tool.call", "imaging.run");
  assert.match(d.why, /^carol \(roles: readers\): no role allows imaging\.run$/);
  const ok = decide(TEAM, p, "tool.call", "calc.add");
  assert.match(ok.why, /allowed by role readers/);
});

test("accessOf is built once per principal object and policy", () => {
  assert.equal(accessOf(TEAM, reader), accessOf(TEAM, reader));
  assert.notEqual(accessOf(TEAM, reader), accessOf({ ...TEAM }, reader));
  assert.equal(accessOf(TEAM, reader).unrestricted, false);
  assert.equal(accessOf(TEAM, ANONYMOUS).unrestricted, true);
});

test("the schema refuses unknown roles, unknown keys and rules without a condition", () => {
  const bad = (p: unknown) => PolicySchema.safeParse(p).success;
  assert.equal(bad({ roles: { r: {} }, default: "nope" }), false);
  assert.equal(bad({ roles: { r: {} }, anonymous: "nope" }), false);
  assert.equal(bad({ roles: { r: {} }, map: [{ group: "g", roles: ["nope"] }] }), false);
  assert.equal(bad({ roles: { r: { tool: { allow: ["*"] } } } }), false, "typo: tool for tools");
  assert.equal(bad({ roles: { r: {} }, map: [{ roles: ["r"] }] }), false, "a rule with no condition would match everyone");
  assert.equal(bad({ roles: { r: { tools: { allow: [""] } } } }), false, "empty globs");
  assert.equal(bad({ roles: { r: {} }, map: [{ group: "g", roles: ["r"] }], default: "r" }), true);
  assert.equal(bad({ roles: {} }), true, "an empty policy is valid (it allows nothing to authenticated principals)");
});
