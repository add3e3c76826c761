/** The layers stay apart: read the import lines (STYLE.md's two boundaries, plus transports). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const SRC = new URL("../src/", import.meta.url).pathname;

function importsOf(dir: string): Array<{ file: string; spec: string }> {
  const out: Array<{ file: string; spec: string }> = [];
  for (const f of readdirSync(join(SRC, dir)).filter((x) => x.endsWith(".ts"))) {
    const text = readFileSync(join(SRC, dir, f), "utf8");
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"|import\("([^"]+)"\)/g)) {
      out.push({ file: `${dir}/${f}`, spec: m[1] ?? m[2]! });
    }
  }
  return out;
}

test("src/mesh knows nothing of MCP", () => {
  for (const { file, spec } of importsOf("mesh")) {
    assert.ok(!spec.includes("modelcontextprotocol") && !spec.startsWith("../"), `${file} imports ${spec}`);
  }
});

// errors.js and params.js are NATS-free, so value imports of them do not load the client eagerly.
test("src/mcp reaches NATS only through the mesh library", () => {
  for (const { file, spec } of importsOf("mcp")) {
    assert.ok(!spec.startsWith("@nats-io/"), `${file} imports ${spec}`);
    if (spec.startsWith("../")) assert.match(spec, /^\.\.\/mesh\/(index|errors|params|secrets)\.js$/, `${file} imports ${spec}`);
  }
});

test("src/transports know nothing of tools or NATS", () => {
  for (const { file, spec } of importsOf("transports")) {
    assert.ok(!spec.startsWith("@nats-io/") && !spec.startsWith("../mesh/"), `${file} imports ${spec}`);
    if (spec.startsWith("../mcp/")) assert.match(spec, /^\.\.\/mcp\/(server|modern|bridge|log|principal|status)\.js$/, `${file} imports ${spec}`);
  }
});
