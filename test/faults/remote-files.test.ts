/**
 * An HTTP client must never reach the server's files. A remote client whose roots
 * answer `file:///` asks `mesh_upload_file` for `/proc/self/environ` (the server's
 * environment, bearer token included) and `/etc/passwd`: both revisions, with and
 * without a token, are refused with an error saying how to enable uploads, and nothing
 * lands in the file store. With `--allow-dir` an HTTP client uploads from that folder
 * and nowhere else; over stdio the client's roots still count (client and server
 * share a machine).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as Http1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client as Client2, StreamableHTTPClientTransport as Http2 } from "@modelcontextprotocol/client";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { mcpEnv, textOf } from "../helpers/mcp.js";
import { meshWithTools, startCli } from "../http/helpers.js";

const T = { timeout: 60_000 };
const TOKEN = "s3cret-token-that-must-stay-home";
const ALL_OF_IT = [{ uri: "file:///", name: "everything" }];

type Caller = (name: string, args: Record<string, unknown>) => Promise<CallToolResult>;

/** A 2025 (v1 SDK) or 2026 (v2 SDK) HTTP client whose roots/list answers `file:///`. */
async function rootedClient(t: { after(fn: () => unknown): void }, url: string, revision: "2025-11-25" | "2026-07-28", token?: string): Promise<{ call: Caller; asked: () => number }> {
  let asked = 0;
  const headers = token ? { Authorization: `Bearer ${token}` } : undefined;
  if (revision === "2025-11-25") {
    const client = new Client1({ name: "remote-roots", version: "1" }, { capabilities: { roots: { listChanged: true } } });
    client.setRequestHandler(ListRootsRequestSchema, async () => (asked++, { roots: ALL_OF_IT }));
    await client.connect(new Http1(new URL(url), { requestInit: headers ? { headers } : undefined }));
    t.after(() => client.close().catch(() => {}));
    return { call: (name, args) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>, asked: () => asked };
  }
  const client = new Client2({ name: "remote-roots", version: "1" }, { capabilities: { roots: {} }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
  client.setRequestHandler("roots/list", async () => (asked++, { roots: ALL_OF_IT }));
  await client.connect(new Http2(new URL(url), { requestInit: headers ? { headers } : undefined }));
  t.after(() => client.close().catch(() => {}));
  return { call: (name, args) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>, asked: () => asked };
}

for (const revision of ["2025-11-25", "2026-07-28"] as const) {
  for (const token of [undefined, TOKEN]) {
    test(`HTTP ${revision}${token ? " with a token" : " on loopback without a token"}: roots of file:/// read no server file`, T, async (t) => {
      const env = await meshWithTools(t);
      const cli = await startCli(t, ["--nats", env.nats.url, ...(token ? ["--auth-token", token] : [])]);
      const client = await rootedClient(t, cli.url, revision, token);
      for (const path of ["/proc/self/environ", "/etc/passwd"]) {
        const r = await client.call("mesh_upload_file", { path, key: `stolen${path}` });
        assert.equal(r.isError, true, `${path} is refused, not uploaded: ${textOf(r)}`);
        assert.match(textOf(r), /--allow-dir/, "the error says how to enable uploads");
        assert.match(textOf(r), /MESH_MCP_ALLOW_DIRS/);
        assert.doesNotMatch(textOf(r), new RegExp(TOKEN), "the error carries nothing of the file");
      }
      assert.equal(client.asked(), 0, "a remote client's roots are not even asked for");
      const stored = await env.node.files.list("");
      assert.deepEqual(stored.map((f) => f.key), [], "nothing landed in the file store");
    });
  }

  test(`HTTP ${revision} with --allow-dir: uploads from that folder, and only from it`, T, async (t) => {
    const env = await meshWithTools(t);
    const allowed = realpathSync(mkdtempSync(join(tmpdir(), "remote-allowed-")));
    t.after(() => rmSync(allowed, { recursive: true, force: true }));
    writeFileSync(join(allowed, "in.txt"), "an allowed server file");
    const cli = await startCli(t, ["--nats", env.nats.url, "--allow-dir", allowed]);
    const client = await rootedClient(t, cli.url, revision);
    const ok = await client.call("mesh_upload_file", { path: join(allowed, "in.txt"), key: "ok/in.txt" });
    assert.equal(ok.isError, undefined, textOf(ok));
    assert.equal(new TextDecoder().decode((await env.node.files.getBytes("ok/in.txt")).data), "an allowed server file");
    const refused = await client.call("mesh_upload_file", { path: "/etc/passwd", key: "stolen/passwd" });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /outside the allowed folders/);
    assert.equal(client.asked(), 0, "roots are not asked for over HTTP");
    assert.deepEqual((await env.node.files.list("")).map((f) => f.key), ["ok/in.txt"]);
  });
}

test("stdio: the client's roots still count (client and server share a machine)", T, async (t) => {
  const shared = realpathSync(mkdtempSync(join(tmpdir(), "stdio-root-")));
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  writeFileSync(join(shared, "mine.txt"), "a file under my root");
  const env = await mcpEnv(t);
  const mesh = await env.mesh();
  const mc = await env.client({ roots: [shared] });
  await mc.waitForTools(["mesh_upload_file"]);
  const ok = await mc.call("mesh_upload_file", { path: join(shared, "mine.txt"), key: "stdio/mine.txt" });
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.equal(new TextDecoder().decode((await mesh.files.getBytes("stdio/mine.txt")).data), "a file under my root");
});
