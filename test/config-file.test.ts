/**
 * The config file: YAML or JSON, every option by its flag name, the policy section,
 * errors that name the file and the line, and flags > env > file > defaults.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, OPTIONS, parseConfig } from "../src/config.js";
import { withConfigReference } from "../scripts/readme-options.js";
import { readFileSync } from "node:fs";
import { runCli } from "./helpers/mcp.js";

const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-config-"));
let n = 0;
function file(text: string, ext = "yaml"): string {
  const p = join(dir, `c${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}

test("the example team config loads: readers, operators, admins", () => {
  const { config } = parseConfig(["--config", new URL("../examples/mesh-mcp.yaml", import.meta.url).pathname], {});
  assert.deepEqual(Object.keys(config.policy!.roles).sort(), ["admins", "operators", "readers"]);
  assert.equal(config.admin, true);
  assert.equal(config.audit, true);
  assert.equal(config.logFormat, "json");
  assert.equal(config.callTimeout, 600);
  assert.equal(config.policy!.default, "readers");
});

test("every option can live in the file, typed as its flag", () => {
  const p = file([
    "nats: nats://a:4222, nats://b:4222",
    "include: [calc.*, img.*]",
    "exclude: secret.*",
    "call-timeout: 12",
    "stream-idle-timeout: '7'",
    "resource-links: true",
    "transport: http",
    "port: 0",
    "principal: alice",
  ].join("\n"));
  const { config } = parseConfig(["--config", p], {});
  assert.equal(config.nats, "nats://a:4222, nats://b:4222");
  assert.deepEqual(config.include, ["calc.*", "img.*"]);
  assert.deepEqual(config.exclude, ["secret.*"], "a single value is a one-element list");
  assert.equal(config.callTimeout, 12);
  assert.equal(config.streamIdleTimeout, 7);
  assert.equal(config.resourceLinks, true);
  assert.equal(config.transport, "http");
  assert.equal(config.port, 0);
  assert.equal(config.principal, "alice");
  assert.equal(config.policy, undefined, "no policy section: no policy (everything, as before)");
});

test("JSON works too, found through MESH_MCP_CONFIG", () => {
  const p = file(JSON.stringify({ "call-timeout": 3, policy: { roles: { r: { tools: { allow: ["*"] } } }, default: "r" } }, null, 2), "json");
  const { config } = parseConfig([], { MESH_MCP_CONFIG: p });
  assert.equal(config.callTimeout, 3);
  assert.equal(config.policy!.default, "r");
});

test("precedence: flags > env > file > defaults", () => {
  const p = file("call-timeout: 10\nkeepalive-interval: 20\nlog-level: debug\n");
  const both = parseConfig(["--config", p, "--call-timeout", "30"], { MESH_MCP_CALL_TIMEOUT: "40", MESH_MCP_KEEPALIVE_INTERVAL: "50" }).config;
  assert.equal(both.callTimeout, 30, "the flag wins over env and file");
  assert.equal(both.keepaliveInterval, 50, "env wins over the file");
  assert.equal(both.logLevel, "debug", "the file wins over the default");
  assert.equal(both.streamIdleTimeout, 120, "the default when nobody sets it");
});

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("no error");
}

test("errors name the file and the line", () => {
  const bad = file("nats: nats://x:4222\n\ncall-timeout: soon\n");
  assert.match(errorOf(() => parseConfig(["--config", bad], {})), new RegExp(`${bad}:3: call-timeout: expected a number`));

  const unknown = file("nats: x\ncallTimeout: 5\n");
  assert.match(errorOf(() => parseConfig(["--config", unknown], {})), new RegExp(`${unknown}:2: unknown key "callTimeout" — write it as "call-timeout"`));

  const typo = file("nats: x\nnatz: y\n");
  assert.match(errorOf(() => parseConfig(["--config", typo], {})), /:2: unknown key "natz"; see docs\/config.md/);

  const yaml = file("nats: [unclosed\n");
  assert.match(errorOf(() => parseConfig(["--config", yaml], {})), new RegExp(`${yaml}:\\d+: not valid YAML/JSON`));

  // A value of the right type the option's own check refuses: the file's line, not a flag.
  const range = file("nats: x\nport: 70000\n");
  assert.match(errorOf(() => parseConfig(["--config", range], {})), new RegExp(`${range}:2: port: `));
  // …unless a flag set it, then the flag is named.
  assert.match(errorOf(() => parseConfig(["--config", range, "--port", "80000"], {})), /^--port \/ MESH_MCP_PORT: /);

  assert.match(errorOf(() => parseConfig(["--config", join(dir, "missing.yaml")], {})), /cannot read config file .*missing\.yaml: no such file/);
  assert.match(errorOf(() => parseConfig(["--config", file("config: other.yaml\n")], {})), /:1: unknown key "config" — "config" is a command-line flag only/);
});

test("policy errors name the line of the offending entry", () => {
  const policy = file([
    "nats: x",
    "policy:",
    "  roles:",
    "    readers:",
    "      tools: { allow: [calc.*] }",
    "  map:",
    "    - group: team",
    "      roles: [readers]",
    "    - group: ops",
    "      roles: [operators]",
    "  default: readers",
  ].join("\n"));
  assert.match(errorOf(() => parseConfig(["--config", policy], {})), new RegExp(`${policy}:10: policy.map.1.roles.0: unknown role "operators" \\(roles: readers\\)`));

  const key = file("policy:\n  roles:\n    r:\n      tools: { allow: [x] }\n      file: { read: [a/] }\n");
  assert.match(errorOf(() => parseConfig(["--config", key], {})), /:5: policy\.roles\.r\.file: unknown key "file"; see docs\/identity\.md/);

  const noCondition = file("policy:\n  roles: { r: {} }\n  map:\n    - roles: [r]\n");
  assert.match(errorOf(() => parseConfig(["--config", noCondition], {})), /:4: policy\.map\.0: a rule needs at least one condition/);
});

test("the CLI refuses a bad config file with its line and exit code 2", async () => {
  const bad = file("nats: x\nadmin: maybe\n");
  const r = await runCli(["--config", bad, "tools"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`${bad}:2: admin: expected true or false`));
});

test("docs/config.md is generated from src/config.ts (run npm run docs)", () => {
  const page = readFileSync(new URL("../docs/config.md", import.meta.url), "utf8");
  assert.equal(page, withConfigReference(page));
  for (const o of OPTIONS.filter((x) => !["config", "help", "version"].includes(x.flag))) assert.ok(page.includes(`\`${o.flag}\``), `docs/config.md misses ${o.flag}`);
});
