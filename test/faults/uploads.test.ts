/**
 * `mesh_upload_file` under attack: a folder inside the allowed root swapped for a
 * symlink to a secret outside it while uploads run (check-then-open races), and
 * FIFOs in an allowed folder (an open that never returns). No upload may ever
 * carry a byte from outside the allowed folders, a FIFO is refused at once, and
 * FIFOs never block the uploads that follow.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mcpEnv, trackProcess } from "../helpers/mcp.js";
import { settle, show, type Settled } from "./helpers.js";

function folders(t: { after(fn: () => void): void }) {
  const top = mkdtempSync(join(tmpdir(), "mesh-mcp-faults-upload-"));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  const allowed = join(top, "allowed");
  const outside = join(top, "outside");
  mkdirSync(join(allowed, "sub"), { recursive: true });
  mkdirSync(outside);
  return { top, allowed, outside };
}

/** The stored bytes behind an upload's resource link, read the way an agent would. */
async function storedText(read: (uri: string) => Promise<{ contents: Array<{ text?: string; blob?: string }> }>, r: Settled): Promise<string> {
  const uri = (r.result!.structuredContent as { uri: string }).uri;
  const item = (await read(uri)).contents[0]!;
  return item.text ?? Buffer.from(item.blob ?? "", "base64").toString("utf8");
}

test("a folder swapped for a symlink during uploads never lets a byte from outside the allowed folders through", { timeout: 60_000 }, async (t) => {
  const { allowed, outside } = folders(t);
  const SECRET = `TOP-SECRET-${process.pid}-outside-the-allowed-folder`;
  // Big enough that reading it takes a while: the time between a check and a second open.
  const INSIDE = "inside the allowed folder\n".repeat(80_000);
  writeFileSync(join(allowed, "sub", "file.txt"), INSIDE);
  writeFileSync(join(outside, "file.txt"), SECRET);
  const env = await mcpEnv(t);
  const mc = await env.client({ args: ["--allow-dir", allowed] });
  await mc.waitForTools(["mesh_upload_file"]);

  // allowed/sub flips between the real folder and a symlink to the outside one, each
  // state held about a millisecond (the swaps themselves take microseconds).
  const racer = spawn(process.execPath, ["-e", `
    const fs = require("fs");
    const [sub, stash, outside] = process.argv.slice(1);
    const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const until = Date.now() + 30000;
    while (Date.now() < until) {
      try { fs.renameSync(sub, stash); fs.symlinkSync(outside, sub); } catch {}
      nap(1);
      try { fs.unlinkSync(sub); fs.renameSync(stash, sub); } catch {}
      nap(1);
    }`, join(allowed, "sub"), join(allowed, ".stash"), outside], { stdio: "ignore" });
  trackProcess(racer);
  t.after(() => void racer.kill("SIGKILL"));

  const TRIES = 24;
  const outcomes = { inside: 0, refused: 0, leaked: 0 };
  const leaks: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < TRIES; i += 4) {
    const batch = await Promise.all([0, 1, 2, 3].map(() => settle(mc.call("mesh_upload_file", { path: join(allowed, "sub", "file.txt") }, { timeout: 10_000 }))));
    for (const r of batch) {
      assert.equal(r.error, undefined, `an upload ends with a tool result, not ${show(r)}`);
      if (r.result!.isError) {
        outcomes.refused++;
        assert.doesNotMatch(r.text, /TOP-SECRET/, "an error never quotes the outside file");
        continue;
      }
      const stored = await storedText((uri) => mc.client.readResource({ uri }), r);
      if (stored.includes("TOP-SECRET")) {
        outcomes.leaked++;
        leaks.push((r.result!.structuredContent as { key: string }).key);
      } else {
        assert.ok(stored === INSIDE, `an accepted upload stores the allowed file, whole (got ${stored.length} bytes)`);
        outcomes.inside++;
      }
    }
  }
  racer.kill("SIGKILL");
  t.diagnostic(`${TRIES} uploads during the swap race in ${Math.round(performance.now() - t0)} ms: ` +
    `${outcomes.inside} stored the allowed file, ${outcomes.refused} refused, ${outcomes.leaked} leaked the outside file`);
  assert.equal(outcomes.leaked, 0, `${outcomes.leaked} of ${TRIES} uploads stored the file from outside the allowed folder (keys ${leaks.join(", ")})`);
});

test("a FIFO in an allowed folder is refused at once and never blocks later uploads", { timeout: 60_000 }, async (t) => {
  const { allowed } = folders(t);
  const fifos = [0, 1, 2, 3, 4].map((i) => join(allowed, `pipe${i}`));
  for (const f of fifos) assert.equal(spawnSync("mkfifo", [f]).status, 0, "mkfifo");
  writeFileSync(join(allowed, "plain.txt"), "plain file\n");
  const env = await mcpEnv(t);
  // Whatever happens, release any reader stuck in open() before mesh-mcp is stopped.
  env.defer(() => {
    for (const f of fifos) {
      try {
        closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        /* nobody is waiting on it */
      }
    }
  });
  const mc = await env.client({ args: ["--allow-dir", allowed] });
  await mc.waitForTools(["mesh_upload_file"]);

  const t0 = performance.now();
  const one = await settle(mc.call("mesh_upload_file", { path: fifos[0] }, { timeout: 8000 }));
  const firstMs = Math.round(one.at - t0);
  // Four more at once (as many as libuv has threads), then an ordinary upload.
  const t1 = performance.now();
  const four = Promise.all(fifos.slice(1).map((f) => settle(mc.call("mesh_upload_file", { path: f }, { timeout: 8000 }))));
  const plain = await settle(mc.call("mesh_upload_file", { path: join(allowed, "plain.txt") }, { timeout: 8000 }));
  const plainMs = Math.round(plain.at - t1);
  const rest = await four;
  t.diagnostic(`FIFO upload answered after ${firstMs} ms (${show(one).slice(0, 120)}); a plain upload behind four FIFOs took ${plainMs} ms (${show(plain).slice(0, 60)})`);

  for (const r of [one, ...rest]) {
    assert.equal(r.error, undefined, `a FIFO upload ends with a tool result, not ${show(r)}`);
    assert.equal(r.result?.isError, true, show(r));
    assert.match(r.text, /regular file|FIFO|pipe|not a file/i, `the error says it is not a regular file: ${r.text}`);
  }
  assert.ok(firstMs <= 3000, `the FIFO upload was refused after ${firstMs} ms (want ≤ 3000)`);
  assert.equal(plain.error, undefined, `the plain upload is not blocked: ${show(plain)}`);
  assert.notEqual(plain.result?.isError, true, show(plain));
  assert.ok(plainMs <= 3000, `the plain upload took ${plainMs} ms behind four FIFOs (want ≤ 3000)`);
});
