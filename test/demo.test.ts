/** `npm run demo` as a user runs it: start, connect an MCP client over HTTP, use the tools, Ctrl-C. */
import { readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { listening } from "../src/embedded-nats.js";
import { spawn } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CLI, ensureBuilt } from "./helpers/mcp.js";

const DEMO = CLI.replace(/cli\.js$/, "demo.js");


test("the demo serves the example tools over HTTP and Ctrl-C leaves nothing running", { timeout: 90_000 }, async () => {
  await ensureBuilt();
  const demo = spawn(process.execPath, [DEMO], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  demo.stdout.on("data", (d) => (out += String(d)));
  demo.stderr.on("data", (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => demo.once("exit", (code) => r(code)));
  try {
    const deadline = Date.now() + 45_000;
    while (!/Ctrl-C stops everything/.test(out)) {
      assert.ok(Date.now() < deadline, `demo did not start: ${out}\n${err}`);
      assert.equal(demo.exitCode, null, `demo exited early: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = out.match(/MCP endpoint\s+(http:\/\/127\.0\.0\.1:\d+\/mcp)/)?.[1];
    const natsPort = Number(out.match(/nats:\/\/127\.0\.0\.1:(\d+)/)?.[1]);
    assert.ok(url, `no MCP URL printed:\n${out}`);
    // The Inspector line names the release the tests run (the devDependency's major: it sends --header).
    const pinned = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { devDependencies: Record<string, string> }).devDependencies["@modelcontextprotocol/inspector"]!;
    assert.match(out, new RegExp(`inspector@${pinned.replace(/^\D*/, "").split(".")[0]} --cli http`));
    assert.match(out, /Status page\s+http:\/\/127\.0\.0\.1:\d+\/status/);
    assert.match(out, /"NATS_URL": "nats:\/\/127\.0\.0\.1:\d+"/);

    const client = new Client({ name: "demo-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ["calculator__add", "calculator__divide", "counter__count", "image__render", "slow__sleep", "files__put"]) {
      assert.ok(names.includes(n), `demo lacks ${n}: ${names.join(", ")}`);
    }
    const sum = (await client.callTool({ name: "calculator__add", arguments: { a: 2, b: 40 } })) as CallToolResult;
    assert.deepEqual(sum.content[0], { type: "text", text: "42" });
    const div = (await client.callTool({ name: "calculator__divide", arguments: { a: 1, b: 0 } })) as CallToolResult;
    assert.equal(div.isError, true);
    assert.match(JSON.stringify(div.content), /division by zero/);
    const img = (await client.callTool({ name: "image__render", arguments: { text: "hello mesh" } })) as CallToolResult;
    assert.ok(img.content.some((c) => c.type === "text" && /mesh:\/\/files\/outputs\//.test(c.text)), JSON.stringify(img.content));
    assert.ok(img.content.some((c) => c.type === "image" && c.mimeType === "image/png"));
    // A cancelled call: the client gives up after 500 ms, the cancel reaches the node.
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    await assert.rejects(client.callTool({ name: "slow__sleep", arguments: { seconds: 10 } }, undefined, { signal: ac.signal }));

    // The live log on the demo's stderr shows each call from both sides, the failure and the cancel.
    const logged = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!re.test(err)) {
        assert.ok(Date.now() < deadline, `the demo's log lacks ${re}:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await logged(/^\d\d:\d\d:\d\d \[server\] call calculator\.add → any node$/m);
    await logged(/^\d\d:\d\d:\d\d \[node\] call calculator\.add \(\w+\) ok in \d+ ms$/m);
    await logged(/^\d\d:\d\d:\d\d \[server\] call calculator\.add ok in \d+ ms \(node demo-node\)$/m);
    await logged(/\[node\] call calculator\.divide \(\w+\) failed in \d+ ms: division by zero/);
    await logged(/\[server\] warning: call calculator\.divide error in \d+ ms \(node demo-node\): .*division by zero/);
    await logged(/\[server\] call slow\.sleep cancelled in \d+ ms/);
    await logged(/\[node\] cancel\.\w+ received: stopping the call/);
    await logged(/\[node\] call slow\.sleep \(\w+\) cancelled by the caller after \d+ ms/);
    // (Closing first could drop the client's notifications/cancelled, which goes out after the abort.)
    await client.close();

    demo.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.match(out, /nothing of the demo is left running/);
    assert.equal(await listening(natsPort), false, "nats-server still listens after Ctrl-C");
    assert.equal(await listening(Number(new URL(url).port)), false, "mesh-mcp still listens after Ctrl-C");
  } finally {
    // A failed assertion must not orphan the demo's nats-server and children: Ctrl-C first.
    if (demo.exitCode === null) {
      demo.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      if (demo.exitCode === null) demo.kill("SIGKILL");
    }
  }
});
