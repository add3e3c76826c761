/**
 * --include / --exclude written the way an operator reads tool names: `--exclude
 * calculator__fail` (the MCP name every client shows) hides that tool, `--include
 * calculator__add` exposes it; `tool.method` globs work as before. A filter that
 * matches nothing is said loudly once the catalog is in (stderr), and by `doctor`; the
 * newcomer's `--include calculator` is told to write `calculator.*`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mcpEnv, registerCalculator, runCli, waitFor } from "../helpers/mcp.js";

const T = { timeout: 60_000 };

test("filters accept the MCP tool name as well as tool.method globs", T, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const names = async (args: string[]) => {
    const mc = await env.client({ args });
    await mc.waitForTools(["mesh_upload_file"]);
    await waitFor(async () => (await mc.listTools()).length > 1 || undefined, "the catalog", { timeoutMs: 5000, intervalMs: 50 }).catch(() => undefined);
    return { mc, names: (await mc.listTools()).map((x) => x.name).filter((n) => n.startsWith("calculator__")).sort() };
  };
  const excluded = await names(["--exclude", "calculator__fail"]);
  assert.ok(excluded.names.includes("calculator__add"), excluded.names.join(", "));
  assert.ok(!excluded.names.includes("calculator__fail"), `--exclude calculator__fail hides it: ${excluded.names.join(", ")}`);
  assert.deepEqual((await names(["--include", "calculator__add"])).names, ["calculator__add"], "--include with the MCP name exposes that tool");
  assert.deepEqual((await names(["--include", "calculator.a*"])).names, ["calculator__add"], "tool.method globs as before");
  assert.ok(!(await names(["--exclude", "calculator__f*"])).names.includes("calculator__fail"), "globs over the MCP name");
});

test("a filter that matches nothing is said at start, with a hint; doctor says it too", T, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("n1"));
  const mc = await env.client({ args: ["--include", "calculator", "--exclude", "nothing__here"] });
  await mc.waitForTools(["mesh_upload_file"]);
  const said = await waitFor(() => (/--include "calculator" matches no method/.test(mc.stderr) && /--exclude "nothing__here" matches no method/.test(mc.stderr) ? mc.stderr : undefined),
    "the warnings on stderr", { timeoutMs: 10_000, intervalMs: 50 }).catch(() => assert.fail(`no warning on stderr:\n${mc.stderr}`));
  assert.match(said, /did you mean "calculator\.\*"/);
  assert.match(said, /no mesh method is exposed/);
  assert.match(said, /it hides nothing/);

  const doctor = await runCli(["doctor", "--include", "calculator", "--exclude", "files__delete*"], { env: { NATS_URL: env.nats.url } });
  assert.match(doctor.stdout, /warn\s+--include "calculator" matches no method.*did you mean "calculator\.\*"/, doctor.stdout);
  assert.match(doctor.stdout, /warn\s+--exclude "files__delete\*" matches no method/, doctor.stdout);
});
