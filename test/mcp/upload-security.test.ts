/**
 * mesh_upload_file against an attacker on the local disk, end to end (SDK client over
 * stdio → the built CLI → a real nats-server's Object Store): FIFOs and devices are
 * refused at once and use up nothing, and a symlink swapped during uploads never gets
 * outside content into the store.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { mcpEnv, textOf, within } from "../helpers/mcp.js";

function folders(t: TestContext) {
  const base = mkdtempSync(join(tmpdir(), "mesh-mcp-upsec-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const allowed = join(base, "allowed");
  const outside = join(base, "outside");
  mkdirSync(allowed);
  mkdirSync(outside);
  const inside = join(allowed, "in.txt");
  writeFileSync(inside, "inside content, fine to upload");
  const secret = join(outside, "secret.txt");
  writeFileSync(secret, "SECRET: must never reach the mesh");
  return { allowed, outside, inside, secret };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

test("a FIFO or a device in an allowed folder is refused at once; later uploads still work", { timeout: 60_000 }, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const client = await env.client({ args: ["--allow-dir", f.allowed] });
  const fifos = [0, 1, 2, 3, 4].map((i) => join(f.allowed, `pipe${i}`));
  for (const p of fifos) execFileSync("mkfifo", [p]);
  symlinkSync("/dev/zero", join(f.allowed, "zero"));

  for (const p of fifos) {
    const t0 = performance.now();
    const r = await within(client.call("mesh_upload_file", { path: p }), 5000, "the FIFO upload answers");
    assert.equal(r.isError, true);
    assert.match(textOf(r), /pipe\d" is a FIFO \(named pipe\), not a regular file; only regular files can be uploaded/);
    assert.ok(performance.now() - t0 < 3000, "refused at once");
  }
  const dev = await within(client.call("mesh_upload_file", { path: join(f.allowed, "zero") }), 5000, "the device upload answers");
  assert.equal(dev.isError, true, textOf(dev));
  const ok = await within(client.call("mesh_upload_file", { path: f.inside, key: "after/fifos.txt" }), 5000, "a regular upload after the FIFOs");
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.equal(Buffer.from((await mesh.files.getBytes("after/fifos.txt")).data).toString(), "inside content, fine to upload");
});

test("a name swapped between a file and a symlink out during 200 uploads never uploads the outside file", { timeout: 120_000 }, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const client = await env.client({ args: ["--allow-dir", f.allowed] });
  const link = join(f.allowed, "swap.txt");
  symlinkSync(f.inside, link);
  const swapper = spawn(process.execPath, ["-e", `
    const fs = require("node:fs");
    const [link, a, b] = process.argv.slice(1);
    for (let i = 0; ; i++) {
      try { fs.unlinkSync(link + ".tmp"); } catch {}
      if (i % 2) fs.copyFileSync(a, link + ".tmp");
      else fs.symlinkSync(b, link + ".tmp");
      fs.renameSync(link + ".tmp", link);
    }`, link, f.inside, f.secret], { stdio: "ignore" });
  const gone = new Promise((r) => swapper.once("exit", r));
  let uploaded = 0;
  let refused = 0;
  try {
    for (let i = 0; i < 200; i++) {
      const r = await client.call("mesh_upload_file", { path: link, key: `race/${i}` });
      if (r.isError) {
        assert.match(textOf(r), /outside the allowed folders|no such file/, textOf(r));
        refused++;
      } else {
        uploaded++;
        assert.equal((r.structuredContent as { etag: string }).etag, sha("inside content, fine to upload"), "the upload is the inside file");
      }
    }
  } finally {
    swapper.kill("SIGKILL");
    await gone;
  }
  // What is in the store is what counts: no object holds the secret.
  const stored = await mesh.files.list("race/");
  assert.equal(stored.length, uploaded);
  for (const info of stored) assert.notEqual(info.etag, sha("SECRET: must never reach the mesh"), `${info.key} holds the outside file`);
  for (const info of stored.slice(0, 20)) {
    assert.equal(Buffer.from((await mesh.files.getBytes(info.key)).data).toString(), "inside content, fine to upload");
  }
  // Refusing everything would pass the above: with the swapper stopped, the name as a
  // regular file inside the folder uploads. (Under load the race itself may refuse all 200.)
  rmSync(link, { force: true });
  writeFileSync(link, "inside content, fine to upload");
  const after = await client.call("mesh_upload_file", { path: link, key: "race/after" });
  assert.ok(!after.isError, `a regular file inside the folder uploads after the race: ${textOf(after)}`);
  t.diagnostic(`${uploaded} uploaded, ${refused} refused, 0 outside`);
});
