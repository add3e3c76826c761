/**
 * Over stdio, mesh_upload_file asks a 2026-07-28 client for its roots the 2026 way: an
 * input-required result the client fulfils (with its roots/list handler) and retries.
 * A file under a shared root uploads; one outside is refused, naming what to do. Over
 * HTTP a client's roots name folders of the client's machine: they are never asked
 * for, and without --allow-dir the upload reads nothing (test/faults/remote-files.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { CLI, ensureBuilt } from "../helpers/mcp.js";
import { meshWithTools, startCli } from "../http/helpers.js";

const T = { timeout: 60_000 };

for (const wire of ["http", "stdio"] as const) {
  test(`mesh_upload_file over ${wire}: ${wire === "http" ? "roots do not count" : "roots through an input-required round"}`, T, async (t) => {
    const env = await meshWithTools(t);
    const shared = realpathSync(mkdtempSync(join(tmpdir(), "roots-shared-")));
    const other = realpathSync(mkdtempSync(join(tmpdir(), "roots-other-")));
    t.after(() => {
      rmSync(shared, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    });
    writeFileSync(join(shared, "in.txt"), "inside a root");
    writeFileSync(join(other, "out.txt"), "outside");

    let asked = 0;
    const client = new Client({ name: "roots-2026", version: "1" }, { capabilities: { roots: {} }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
    client.setRequestHandler("roots/list", async () => {
      asked++;
      return { roots: [{ uri: `file://${shared}`, name: "shared" }] };
    });
    if (wire === "http") {
      const cli = await startCli(t, ["--nats", env.nats.url]);
      await client.connect(new StreamableHTTPClientTransport(new URL(cli.url)));
    } else {
      await ensureBuilt();
      await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI], env: { ...process.env, NATS_URL: env.nats.url } as Record<string, string>, stderr: "ignore" }));
    }
    t.after(() => client.close().catch(() => {}));
    assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");

    if (wire === "http") {
      const off = await client.callTool({ name: "mesh_upload_file", arguments: { path: join(shared, "in.txt"), key: `roots/${wire}.txt` } });
      assert.equal(off.isError, true);
      assert.match(JSON.stringify(off.content), /--allow-dir/);
      assert.equal(asked, 0, "an HTTP client's roots are not asked for");
      return;
    }
    const ok = await client.callTool({ name: "mesh_upload_file", arguments: { path: join(shared, "in.txt"), key: `roots/${wire}.txt` } });
    assert.equal(ok.isError, undefined, JSON.stringify(ok.content));
    assert.equal(asked, 1, "the client was asked for its roots once");
    const stored = await env.node.files.getBytes(`roots/${wire}.txt`);
    assert.equal(new TextDecoder().decode(stored.data), "inside a root");

    const refused = await client.callTool({ name: "mesh_upload_file", arguments: { path: join(other, "out.txt") } });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /outside the allowed folders/);
  });
}
