/**
 * `Mesh.close()` / bridge shutdown at any stage of start-up, including the file-store
 * watch's setup, releases everything: the process exits by itself (no process.exit).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { ROOT, trackProcess } from "../helpers/mcp.js";
import { NatsServer } from "../helpers/nats-server.js";

test("closing at every stage of start-up, 60 times, leaves nothing running: the process exits on its own", { timeout: 120_000 }, async (t) => {
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  const p = spawn(process.execPath, ["--import", "tsx", "test/helpers/close-stages.ts", nats.url, "30"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  trackProcess(p);
  let out = "";
  let err = "";
  p.stdout!.on("data", (d) => (out += String(d)));
  p.stderr!.on("data", (d) => (err += String(d)));
  const t0 = performance.now();
  const exited = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 90_000);
    p.once("exit", (code) => (clearTimeout(timer), resolve(code)));
  });
  if (exited === null) p.kill("SIGKILL");
  t.diagnostic(`60 start-ups closed, process gone after ${(performance.now() - t0).toFixed(0)} ms`);
  assert.match(out, /closed 60 times/, `the rounds did not finish:\n${err}`);
  assert.equal(exited, 0, `the process did not exit by itself (something was left running):\n${err}`);
  assert.doesNotMatch(err, /still alive/);
});
