/**
 * A real third-party client: the MCP Inspector CLI (the current release, 2.x, a
 * devDependency) spawns the built server, or reaches it over HTTP with the bearer
 * header (what the demo prints), and prints what it gets as JSON.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { CLI, ROOT, mcpEnv, registerCalculator } from "../helpers/mcp.js";
import { startCli } from "../http/helpers.js";

const T = { timeout: 60_000 };
const INSPECTOR = join(ROOT, "node_modules", ".bin", "mcp-inspector");

/** Runs `mcp-inspector --cli node dist/cli.js -e NATS_URL=… <args>` and parses its JSON output. */
function inspector(natsUrl: string, args: string[]): Promise<unknown> {
  return inspectorCli([process.execPath, CLI, "-e", `NATS_URL=${natsUrl}`, ...args]);
}

/** Runs `mcp-inspector --cli <args>` and parses its JSON output. */
function inspectorCli(cliArgs: string[]): Promise<unknown> {
  const args = cliArgs;
  return new Promise((resolve, reject) => {
    execFile(
      INSPECTOR,
      ["--cli", ...cliArgs],
      { cwd: ROOT, timeout: 30_000, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`mcp-inspector ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`mcp-inspector printed no JSON:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

test("MCP Inspector CLI: tools/list and tools/call against the built server", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);

  const [list, call] = await Promise.all([
    inspector(env.nats.url, ["--method", "tools/list"]) as Promise<{ tools: Array<{ name: string; inputSchema: { properties: Record<string, unknown> } }> }>,
    inspector(env.nats.url, ["--method", "tools/call", "--tool-name", "calculator__add", "--tool-arg", "a=2", "--tool-arg", "b=40"]) as Promise<{
      content: Array<{ type: string; text: string }>;
      isError?: boolean;
    }>,
  ]);

  const names = list.tools.map((x) => x.name);
  assert.ok(names.includes("calculator__add") && names.includes("calculator__fail") && names.includes("mesh_upload_file"), names.join(", "));
  const add = list.tools.find((x) => x.name === "calculator__add")!;
  assert.deepEqual(add.inputSchema.properties.a, { type: "number", description: "first" });

  assert.equal(call.isError, undefined);
  assert.deepEqual(call.content, [{ type: "text", text: "42" }]);
});

test("MCP Inspector CLI over HTTP with the bearer header (the demo's command, plus --header for a token)", T, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const token = "inspector-test-token-0123456789";
  const cli = await startCli(t, ["--nats", env.nats.url, "--auth-token", token]);
  const call = (await inspectorCli([cli.url, "--transport", "http", "--header", `Authorization: Bearer ${token}`,
    "--method", "tools/call", "--tool-name", "calculator__add", "--tool-arg", "a=2", "--tool-arg", "b=40"])) as { content: Array<{ type: string; text: string }> };
  assert.deepEqual(call.content, [{ type: "text", text: "42" }]);
  await assert.rejects(inspectorCli([cli.url, "--transport", "http", "--method", "tools/list"]), /failed/, "without the header: refused");
});
