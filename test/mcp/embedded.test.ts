/** `--embedded-nats`: mesh-mcp starts (and stops) its own nats-server for single-machine use. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { listening } from "../../src/embedded-nats.js";
import { spawn } from "node:child_process";
import { McpClient, ROOT, runCli, trackProcess, waitFor } from "../helpers/mcp.js";
import { Mesh } from "../../src/mesh/index.js";


test("--embedded-nats serves a mesh of its own, and stops its nats-server on exit", { timeout: 30_000 }, async (t) => {
  const mc = await McpClient.start({ natsUrl: "nats://127.0.0.1:1", args: ["--embedded-nats"] });
  t.after(() => mc.close());
  const url = await waitFor(() => mc.stderr.match(/embedded nats-server with JetStream on (nats:\/\/127\.0\.0\.1:\d+)/)?.[1], "the embedded server's URL in the log");
  const node = await Mesh.connect({ servers: url, node: "local" });
  t.after(() => node.close());
  await node.registerTool({ name: "echo", version: "1.0.0", methods: { say: { handler: (p) => `heard ${p.text}` } } });
  await mc.waitForTools(["echo__say"]);
  const r = await mc.call("echo__say", { text: "hi" });
  assert.deepEqual(r.content, [{ type: "text", text: "heard hi" }]);
  // JetStream is on: the file store works through the Object Store.
  assert.equal(await node.files.mode(), "objectstore");

  await node.close();
  await mc.close();
  const port = Number(new URL(url).port);
  await waitFor(async () => !(await listening(port)), "the embedded nats-server to stop", { timeoutMs: 5000, intervalMs: 100 });
});

test("--embedded-nats without nats-server on PATH says how to install it", { timeout: 20_000 }, async () => {
  const r = await runCli(["--embedded-nats"], { env: { NATS_SERVER_BIN: "/nonexistent/nats-server" } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nats-server was not found/);
  assert.match(r.stderr, /apt-get install -y nats-server/);
  assert.match(r.stderr, /brew install nats-server/);
  assert.equal(r.stdout, "", "stdout belongs to the protocol");
});

test("the demo without nats-server says how to install it and leaves nothing running", { timeout: 20_000 }, async () => {
  const p = spawn(process.execPath, ["dist/demo.js"], {
    cwd: ROOT,
    env: { ...process.env, NATS_SERVER_BIN: "/nonexistent/nats-server" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackProcess(p);
  let err = "";
  p.stderr.on("data", (d) => (err += String(d)));
  const code = await new Promise((r) => p.once("exit", r));
  assert.equal(code, 1);
  assert.match(err, /apt-get install -y nats-server/);
  assert.match(err, /brew install nats-server/);
});
