/**
 * A large binary resource over HTTP is written as its base64 is encoded, slice by slice
 * (mcp/deferred-blobs.ts): what the client gets must be exactly the file, in every
 * framing — SSE in auto mode, one JSON body with an exact Content-Length in json mode,
 * stateless requests too — and small files are unchanged.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connectClient, MCP_HEADERS, meshWithTools, raw, startCli } from "./helpers.js";

const T = { timeout: 60_000 };

/** The JSON-RPC message of a JSON or single-event SSE answer. */
function message(body: string): { result?: { contents: Array<{ blob?: string; text?: string; mimeType?: string }> }; error?: unknown } {
  if (body.startsWith("{")) return JSON.parse(body);
  const data = body.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).filter(Boolean);
  return JSON.parse(data[data.length - 1]!);
}

test("large binary resources over HTTP arrive byte for byte, in every framing", T, async (t) => {
  const env = await meshWithTools(t);
  // Sizes around the deferral threshold (1 MiB), many slices (48 KiB each), not all multiples of 3.
  const files = new Map<string, Buffer>([
    ["big/a.bin", randomBytes(3 * (1 << 20) + 1)],
    ["big/b.bin", randomBytes((1 << 20) + 2)],
    ["big/c.bin", randomBytes(786_432 * 2)],
    ["big/small.bin", randomBytes(1000)],
  ]);
  for (const [key, bytes] of files) await env.node.files.put(key, bytes, "application/octet-stream");

  await t.test("SDK client, session, auto framing (SSE for a large answer)", async () => {
    const cli = await startCli(t, ["--nats", env.nats.url]);
    const client = await connectClient(t, cli.url);
    for (const [key, bytes] of files) {
      const read = await client.readResource({ uri: `mesh://files/${key}` });
      const blob = (read.contents[0] as { blob: string }).blob;
      assert.ok(Buffer.from(blob, "base64").equals(bytes), key);
      assert.equal(blob, bytes.toString("base64"), key);
    }
  });

  for (const stateless of [false, true]) {
    await t.test(`json framing (MESH_MCP_HTTP_RESPONSE=json)${stateless ? ", --stateless" : ""}: exact Content-Length`, async () => {
      const cli = await startCli(t, ["--nats", env.nats.url, ...(stateless ? ["--stateless"] : [])], { MESH_MCP_HTTP_RESPONSE: "json" });
      let headers: Record<string, string> = { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25" };
      if (!stateless) {
        const init = await raw(cli.url, {
          method: "POST", headers: MCP_HEADERS,
          body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
        });
        headers = { ...headers, "mcp-session-id": String(init.headers["mcp-session-id"]) };
        await raw(cli.url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
      }
      for (const [key, bytes] of files) {
        const r = await raw(cli.url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "resources/read", params: { uri: `mesh://files/${key}` } }) });
        assert.equal(r.status, 200, r.body.slice(0, 300));
        assert.equal(r.headers["content-type"], "application/json");
        assert.equal(r.headers["content-length"], String(Buffer.byteLength(r.body)), key);
        assert.equal(message(r.body).result?.contents[0]?.blob, bytes.toString("base64"), key);
      }
    });
  }
});
