/**
 * The bridge's own tools: mesh_upload_file (only from --allow-dir folders or the
 * client's roots) and, with --admin, the node administration tools.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { mcpEnv, registerCalculator, textOf } from "../helpers/mcp.js";

const T = { timeout: 30_000 };
const REPO = { root: "/opt/tools/calculator", resolved_path: "/opt/tools/calculator", branch: "main", commit: "abc123", status_short: "", dirty: false };

/** A temp folder `allowed/` (with a file and a symlink to the outside) and `outside/` (with a secret). */
function folders(t: TestContext) {
  const base = mkdtempSync(join(tmpdir(), "mesh-mcp-upload-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const allowed = join(base, "allowed");
  const outside = join(base, "outside");
  mkdirSync(join(allowed, "sub"), { recursive: true });
  mkdirSync(outside);
  const photo = join(allowed, "sub", "My Photo.png");
  writeFileSync(photo, Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 0, 255]));
  const secret = join(outside, "secret.txt");
  writeFileSync(secret, "do not upload");
  const link = join(allowed, "link.txt");
  symlinkSync(secret, link);
  return { allowed, outside, photo, secret, link };
}

test("mesh_upload_file under --allow-dir: stored, with key, URI and bytes intact", T, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const client = await env.client({ args: ["--allow-dir", f.allowed] });
  const tool = await client.tool("mesh_upload_file");
  assert.ok(tool, "mesh_upload_file is listed");

  const r = await client.call("mesh_upload_file", { path: f.photo });
  assert.equal(r.isError, undefined, textOf(r));
  const out = r.structuredContent as { key: string; size: number; content_type: string; uri: string };
  assert.match(out.key, /^uploads\/[0-9a-f]{8}\/My Photo\.png$/);
  assert.equal(out.size, 9);
  assert.equal(out.content_type, "image/png");
  assert.ok(out.uri.startsWith("mesh://files/uploads/") && textOf(r).includes(out.uri), "the resource URI is in the text");
  assert.equal(r.content.some((c) => c.type === "resource_link"), false, "no resource_link unless --resource-links");
  const stored = await mesh.files.getBytes(out.key);
  assert.deepEqual([...stored.data], [0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 0, 255]);

  const named = await client.call("mesh_upload_file", { path: f.photo, key: "inputs/photo.png", content_type: "application/x-test" });
  assert.deepEqual((named.structuredContent as { key: string }).key, "inputs/photo.png");
  assert.equal((await mesh.files.head("inputs/photo.png")).contentType, "application/x-test");
});

test("mesh_upload_file refuses files outside the allowed folders, symlinks out of them, and relative paths", T, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const client = await env.client({ args: ["--allow-dir", f.allowed] });

  const outside = await client.call("mesh_upload_file", { path: f.secret });
  assert.equal(outside.isError, true);
  assert.match(textOf(outside), /mesh_upload_file: ".*secret\.txt" is outside the allowed folders \(.*allowed\); .*--allow-dir/);

  const viaLink = await client.call("mesh_upload_file", { path: f.link });
  assert.equal(viaLink.isError, true);
  assert.match(textOf(viaLink), /link\.txt" is outside the allowed folders/);

  const dotdot = await client.call("mesh_upload_file", { path: join(f.allowed, "..", "outside", "secret.txt") });
  assert.equal(dotdot.isError, true);
  assert.match(textOf(dotdot), /outside the allowed folders/);

  const relative = await client.call("mesh_upload_file", { path: "sub/My Photo.png" });
  assert.equal(relative.isError, true);
  assert.match(textOf(relative), /not an absolute path/);

  const missing = await client.call("mesh_upload_file", { path: join(f.allowed, "nope.bin") });
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), /no such file/);

  assert.deepEqual(await mesh.files.list(), [], "nothing was stored");
});

test("mesh_upload_file without --allow-dir and without roots is refused, saying how to allow it", T, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const client = await env.client();
  const r = await client.call("mesh_upload_file", { path: f.photo });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /shares no MCP roots and mesh-mcp has no --allow-dir/);
});

test("mesh_upload_file under the client's roots (roots capability + roots/list)", T, async (t) => {
  const f = folders(t);
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const client = await env.client({ roots: [f.allowed] });
  const ok = await client.call("mesh_upload_file", { path: f.photo, key: "rooted/photo.png" });
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.equal((await mesh.files.head("rooted/photo.png")).size, 9);
  const refused = await client.call("mesh_upload_file", { path: f.secret });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /outside the allowed folders/);
});

test("--admin exposes the mesh_admin_* tools (absent without it) and a call round-trips to the node", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const configCalls: unknown[] = [];
  node.subscribeAdmin({
    releaseInspect: async (toolName) => ({ tool_name: toolName, tool_path: `/opt/tools/${toolName}`, manifest_version: "1.2.0", repo: REPO }),
    config: async (toolName, action, values) => (configCalls.push({ toolName, action, values }), { tool_name: toolName, threads: 4 }),
    uninstall: async (toolName) => {
      throw new Error(`${toolName} is in use`);
    },
  });
  await node.nc.flush();
  const [plain, admin] = await Promise.all([env.client(), env.client({ args: ["--admin"] })]);

  const adminNames = (await admin.listTools()).map((x) => x.name).filter((n) => n.startsWith("mesh_admin_")).sort();
  assert.deepEqual(adminNames, ["mesh_admin_config", "mesh_admin_install", "mesh_admin_release_inspect", "mesh_admin_uninstall", "mesh_admin_update"]);
  assert.deepEqual((await plain.listTools()).filter((x) => x.name.startsWith("mesh_admin_")), []);
  const refused = await plain.call("mesh_admin_release_inspect", { node: "n1", tool_name: "calculator" });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /unknown tool/);

  const inspect = await admin.call("mesh_admin_release_inspect", { node: "n1", tool_name: "calculator" });
  assert.equal(inspect.isError, undefined, textOf(inspect));
  const info = inspect.structuredContent as { info: Record<string, unknown>; node: string };
  assert.equal(info.node, "n1");
  assert.deepEqual(info.info, { tool_name: "calculator", tool_path: "/opt/tools/calculator", manifest_version: "1.2.0", repo: REPO });

  const set = await admin.call("mesh_admin_config", { node: "n1", tool_name: "calculator", action: "set", values: { threads: 4 } });
  assert.equal(set.isError, undefined, textOf(set));
  assert.deepEqual(configCalls, [{ toolName: "calculator", action: "set", values: { threads: 4 } }]);

  const failed = await admin.call("mesh_admin_uninstall", { node: "n1", tool_name: "calculator" });
  assert.equal(failed.isError, true);
  assert.match(textOf(failed), /mesh_admin_uninstall failed on node n1: calculator is in use/);

  const nobody = await admin.call("mesh_admin_update", { node: "ghost", tool_name: "calculator" });
  assert.equal(nobody.isError, true);
  assert.match(textOf(nobody), /no responders|no node answers/);
});
