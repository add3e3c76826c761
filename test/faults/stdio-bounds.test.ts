/**
 * Nothing mesh-mcp writes on stdio may be longer than the official clients read (10 MiB
 * a line; past it the v1 and v2 SDK clients drop the connection). A resources/read of
 * a big file is refused with an error naming its size and how to get it; a tool result
 * over the bound (an 8 MB image inlined under a large --inline-image-max) is answered
 * with an error and leaves the session alive; a progress message of most of a megabyte
 * is cut to a status line; files that fit still read whole.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Client as Client2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as Stdio2 } from "@modelcontextprotocol/client/stdio";
import { CLI, ensureBuilt, mcpEnv, textOf } from "../helpers/mcp.js";

const T = { timeout: 120_000 };
const MB = 1024 * 1024;
const BIG = 12 * MB;

async function storeFiles(t: TestContext) {
  const env = await mcpEnv(t);
  const node = await env.node("bounds");
  await node.files.put("big.bin", new Uint8Array(BIG).fill(7), "application/octet-stream");
  await node.files.put("seven.bin", new Uint8Array(7 * MB).fill(1), "application/octet-stream");
  await node.files.put("big.txt", new TextEncoder().encode("x".repeat(BIG)), "text/plain");
  await node.files.put("fits.bin", new Uint8Array(5 * MB).fill(2), "application/octet-stream");
  await node.files.put("outputs/picture.png", new Uint8Array(8 * MB).fill(3), "image/png");
  await node.registerTool({
    name: "huge",
    methods: {
      // An 8 MB image named by key: inline (with a large --inline-image-max) it is 10.7 MB of base64.
      picture: { handler: () => ({ key: "outputs/picture.png" }) },
      progress: {
        stream: true,
        handler: async (_p, ctx) => {
          ctx.emit({ progress: 1, message: "m".repeat(900 * 1024) });
          ctx.emit({ progress: 2, message: "small" });
          return { done: true };
        },
      },
    },
  });
  return env;
}

type Read = (uri: string) => Promise<{ contents: Array<{ text?: string; blob?: string }> }>;

async function readsBounded(read: Read, alive: () => Promise<unknown>): Promise<void> {
  for (const [key, size] of [["big.bin", BIG], ["seven.bin", 7 * MB], ["big.txt", BIG]] as const) {
    await assert.rejects(read(`mesh://files/${key}`), (err: Error) => {
      assert.match(err.message, new RegExp(`mesh://files/${key.replace(".", "\\.")} is ${size} bytes`), err.message);
      assert.match(err.message, /over HTTP/);
      assert.match(err.message, new RegExp(`nats object get mesh-files ${key.replace(".", "\\.")}`));
      return true;
    });
    await alive(); // the session survived
  }
  const fits = await read("mesh://files/fits.bin");
  assert.equal(Buffer.from(fits.contents[0]!.blob!, "base64").length, 5 * MB, "a file that fits reads whole");
}

test("stdio 2025 (v1 SDK client): big reads, results and progress never kill the session", T, async (t) => {
  const env = await storeFiles(t);
  const mc = await env.client({ args: ["--inline-image-max", String(20 * MB), "--result-max", "0"] });
  await mc.waitForTools(["huge__picture", "huge__progress"], 10_000);
  await readsBounded((uri) => mc.client.readResource({ uri }) as never, () => mc.listTools());

  await assert.rejects(mc.call("huge__picture", {}, { timeout: 30_000 }), /the answer is at least \d+ bytes, more than one MCP message over stdio may carry/);
  await mc.listTools();
  const { result, progress } = await mc.callWithProgress("huge__progress", {}, { timeout: 30_000 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.ok(progress.length >= 1, "progress arrived");
  assert.ok(progress.every((p) => (p.message ?? "").length < 10_000), "a progress message is a status line, bounded");
  assert.ok(mc.alive);
});

test("stdio 2026 (v2 SDK client): a big read is refused, the session lives on", T, async (t) => {
  const env = await storeFiles(t);
  await ensureBuilt();
  const client = new Client2({ name: "bounds-2026", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new Stdio2({ command: process.execPath, args: [CLI], env: { ...process.env, NATS_URL: env.nats.url } as Record<string, string>, stderr: "ignore" }));
  t.after(() => client.close().catch(() => {}));
  assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
  await readsBounded((uri) => client.readResource({ uri }) as never, () => client.listTools());
});
