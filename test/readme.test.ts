/** The README's config reference and commands must match the code. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { withOptions } from "../scripts/readme-options.js";
import { OPTIONS } from "../src/config.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> };

test("README config reference is generated from src/config.ts (run npm run docs)", () => {
  assert.equal(readme, withOptions(readme));
  for (const o of OPTIONS) assert.ok(readme.includes(`\`--${o.flag}`), `README misses --${o.flag}`);
});

test("README quick start names npm run demo and npm test, and both scripts exist", () => {
  assert.match(readme, /npm run demo/);
  assert.match(readme, /npm test/);
  assert.ok(pkg.scripts.demo, "package.json has no demo script");
  assert.ok(pkg.scripts.test, "package.json has no test script");
});

test("every mesh-mcp flag written in the README exists", () => {
  const known = new Set(OPTIONS.map((o) => o.flag));
  const flags = [...readme.matchAll(/mesh-mcp[^\n`]*/g)].flatMap((m) => [...m[0].matchAll(/--([a-z][a-z-]+)/g)].map((x) => x[1]!));
  for (const f of flags) assert.ok(known.has(f) || f === "transport" || f === "env", `README uses unknown flag --${f}`);
});

test("claude_desktop_config.example.json is valid and sets NATS_URL", () => {
  const cfg = JSON.parse(readFileSync(new URL("../claude_desktop_config.example.json", import.meta.url), "utf8"));
  assert.equal(typeof cfg.mcpServers.mesh.command, "string");
  assert.ok(cfg.mcpServers.mesh.env.NATS_URL);
});
