/**
 * The benchmark harness works end to end (`npm run bench -- --quick` on two
 * sections): a real nats-server, the bench node, in-process and stdio MCP clients,
 * the table on stdout and the JSON results. The figures themselves are not checked:
 * benchmarks are not part of npm test.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

interface Results {
  quick: boolean;
  machine: { nproc: number; node: string };
  sections: Array<{ id: string; targets: Array<{ name: string; met: boolean | null }>; data: Record<string, unknown> }>;
}

test("bench --quick runs the call and stream sections and writes results", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-bench-smoke-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "results.json");
  const started = Date.now();
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), "--quick", "--only", "call,stream", "--out", out], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d) => (stdout += String(d)));
  proc.stderr.on("data", (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((r) => proc.once("exit", r));
  assert.equal(code, 0, `bench exited with ${code}:\n${stderr.slice(-3000)}`);
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 60, `the quick run took ${seconds.toFixed(0)} s`);

  assert.match(stdout, /### Targets/);
  assert.match(stdout, /\| raw NATS request\/reply \| \d/);
  assert.match(stdout, /\| MCP stdio, onprogress \| \d/);

  const results = JSON.parse(readFileSync(out, "utf8")) as Results;
  assert.equal(results.quick, true);
  assert.ok(results.machine.nproc >= 1);
  assert.deepEqual(results.sections.map((s) => s.id), ["call", "stream"]);
  const call = results.sections[0]!.data.figures as Record<string, { p50: number; p99: number; ratio: number }>;
  for (const path of ["raw NATS request/reply", "MCP in-process", "MCP stdio", "MCP stdio 2025-11-25, line client", "MCP stdio 2026-07-28, line client"]) {
    assert.ok(call[path] && call[path].p50 > 0 && Number.isFinite(call[path].ratio), `no call figures for ${path}`);
  }
  const stream = results.sections[1]!.data.figures as Record<string, { framesPerSec: number; lost: number; ordered: boolean }>;
  const stdio = stream["MCP stdio, onprogress"];
  assert.ok(stdio && stdio.framesPerSec > 0, "no stream figures for stdio");
  assert.equal(stdio.ordered, true, "progress notifications arrived out of order");
});
