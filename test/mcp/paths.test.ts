/**
 * paths.ts, the upload tool's gate to the local disk: only regular files under the
 * allowed folders are opened, what was opened is what is checked, and nothing blocks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { isInside, openAllowedFile, PathNotAllowedError, rootsToDirs } from "../../src/mcp/paths.js";

function folders(t: TestContext) {
  const base = mkdtempSync(join(tmpdir(), "mesh-mcp-paths-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const allowed = join(base, "allowed");
  const outside = join(base, "outside");
  mkdirSync(join(allowed, "sub"), { recursive: true });
  mkdirSync(outside);
  const inside = join(allowed, "sub", "in.txt");
  writeFileSync(inside, "inside content");
  const secret = join(outside, "secret.txt");
  writeFileSync(secret, "SECRET outside content");
  return { base, allowed, outside, inside, secret };
}

/** Opens, reads through the handle, closes: what an upload would send. */
async function readAllowed(path: string, allowed: string[]): Promise<{ path: string; text: string }> {
  const f = await openAllowedFile(path, allowed);
  try {
    return { path: f.path, text: (await f.handle.readFile()).toString() };
  } finally {
    await f.handle.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail("expected a refusal");
}

test("a regular file under an allowed folder opens; size and real path come from the handle", async (t) => {
  const f = folders(t);
  const got = await openAllowedFile(f.inside, [f.allowed]);
  try {
    assert.equal(got.size, "inside content".length);
    assert.equal(got.path, f.inside);
    assert.equal((await got.handle.readFile()).toString(), "inside content");
  } finally {
    await got.handle.close();
  }
});

test("outside files, symlinks out, .. escapes and relative paths are refused with what to do", async (t) => {
  const f = folders(t);
  const link = join(f.allowed, "link.txt");
  symlinkSync(f.secret, link);
  for (const p of [f.secret, link, join(f.allowed, "..", "outside", "secret.txt")]) {
    const e = await refusal(openAllowedFile(p, [f.allowed]));
    assert.ok(e instanceof PathNotAllowedError, `${p}: ${e.message}`);
    assert.match(e.message, /is outside the allowed folders .*--allow-dir/);
  }
  const rel = await refusal(openAllowedFile("sub/in.txt", [f.allowed]));
  assert.match(rel.message, /not an absolute path/);
  const none = await refusal(openAllowedFile(f.inside, []));
  assert.match(none.message, /no MCP roots .*--allow-dir/);
  const missing = await refusal(openAllowedFile(join(f.allowed, "nope"), [f.allowed]));
  assert.equal((missing as NodeJS.ErrnoException).code, "ENOENT");
});

test("a symlink inside an allowed folder to another file inside it is followed", async (t) => {
  const f = folders(t);
  const link = join(f.allowed, "alias.txt");
  symlinkSync(f.inside, link);
  const got = await readAllowed(link, [f.allowed]);
  assert.equal(got.path, f.inside);
  assert.equal(got.text, "inside content");
});

test("an allowed folder given through a symlink still contains its files", async (t) => {
  const f = folders(t);
  const alias = join(f.base, "alias-dir");
  symlinkSync(f.allowed, alias);
  assert.equal((await readAllowed(join(alias, "sub", "in.txt"), [alias])).text, "inside content");
});

test("a FIFO, a device, a socket-like special file and a folder are refused at once, without blocking", async (t) => {
  const f = folders(t);
  const fifo = join(f.allowed, "pipe");
  execFileSync("mkfifo", [fifo]);
  const dev = join(f.allowed, "zero");
  symlinkSync("/dev/zero", dev);
  const t0 = performance.now();
  const e1 = await refusal(openAllowedFile(fifo, [f.allowed]));
  assert.match(e1.message, /is a FIFO \(named pipe\), not a regular file/);
  const e2 = await refusal(openAllowedFile(join(f.allowed, "sub"), [f.allowed]));
  assert.match(e2.message, /is a folder, not a regular file/);
  // /dev/zero is outside the folder anyway; allow /dev to see the type check do its job.
  const e3 = await refusal(openAllowedFile(dev, [f.allowed, "/dev"]));
  assert.match(e3.message, /is a character device, not a regular file/);
  assert.ok(performance.now() - t0 < 2000, "refusals are immediate");
  // Several FIFOs do not use up anything: a regular file still opens afterwards.
  for (let i = 0; i < 8; i++) {
    const p = join(f.allowed, `pipe${i}`);
    execFileSync("mkfifo", [p]);
    await refusal(openAllowedFile(p, [f.allowed]));
  }
  assert.equal((await readAllowed(f.inside, [f.allowed])).text, "inside content");
});

test("a symlink swapped in a tight loop (file ⇄ symlink out) never lets outside content through (1,500 opens)", { timeout: 60_000 }, async (t) => {
  const f = folders(t);
  const link = join(f.allowed, "swap.txt");
  symlinkSync(f.inside, link);
  // Another process swaps the name between a regular file inside and a symlink out
  // (renamed over it, atomically) as fast as it can: a path resolved and then opened by
  // name resolves to the file and opens the link.
  const swapper = spawn(process.execPath, ["-e", `
    const fs = require("node:fs");
    const [link, a, b] = process.argv.slice(1);
    for (let i = 0; ; i++) {
      const tmp = link + ".tmp";
      try { fs.unlinkSync(tmp); } catch {}
      if (i % 2) fs.copyFileSync(a, tmp);
      else fs.symlinkSync(b, tmp);
      fs.renameSync(tmp, link);
    }`, link, f.inside, f.secret], { stdio: "ignore" });
  const gone = new Promise((r) => swapper.once("exit", r));
  let ok = 0;
  let refused = 0;
  try {
  for (let i = 0; i < 1500; i++) {
    try {
      const got = await readAllowed(link, [f.allowed]);
      assert.equal(got.text, "inside content", "only inside content is ever read");
      ok++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // between unlink and rename of a racing open
      assert.ok(err instanceof PathNotAllowedError, String(err));
      refused++;
    }
  }
  } finally {
    swapper.kill("SIGKILL");
    await gone; // before the folders are removed
  }
  assert.ok(ok > 0 && refused > 0, `both outcomes seen under the race (ok ${ok}, refused ${refused})`);
  assert.equal(readFileSync(f.secret, "utf8"), "SECRET outside content");
});

test("rootsToDirs keeps file:// roots only; isInside is segment-exact", () => {
  assert.deepEqual(rootsToDirs(["file:///home/a", "https://x/y", "file:///tmp/b%20c"]), ["/home/a", "/tmp/b c"]);
  assert.ok(isInside("/a/b/c", "/a/b"));
  assert.ok(isInside("/a/b", "/a/b"));
  assert.ok(!isInside("/a/bc", "/a/b"));
  assert.ok(!isInside("/a", "/a/b"));
});
