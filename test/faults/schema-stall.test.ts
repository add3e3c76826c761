/**
 * A method whose input schema has 1,990 properties with patterns (inside the catalog's
 * limits). Compiling it whole froze mesh-mcp's event loop for ~2 s on its first call (20
 * s on a loaded machine): `/healthz` and every other client stalled. Now the first call
 * compiles only what it uses: `/healthz` answers throughout, and the arguments are
 * still checked (a pattern, a required property, an unknown one).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { textOf } from "../helpers/mcp.js";
import { connectClient, meshWithTools, raw, startCli, waitFor } from "../http/helpers.js";
import { rawConnection, rawNode, reply } from "./helpers.js";

const PROPS = 1990;
/** The worst /healthz round trip allowed while the first call runs (today's main: ~1.6–20 s). */
const HEALTHZ_MAX_MS = 1000;

test(`a ${PROPS}-property schema with patterns: the first call does not stall /healthz, and arguments are still checked`, { timeout: 60_000 }, async (t) => {
  const env = await meshWithTools(t);
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < PROPS; i++) properties[`p${i}`] = { type: "string", pattern: `^[a-z]{1,${(i % 50) + 1}}[0-9]*$` };
  const nc = await rawConnection(t, env.nats.url);
  await rawNode(nc, {
    node: "wide",
    tool: "wide",
    endpoints: [{
      name: "form",
      schema: { type: "object", properties, required: ["p0"], additionalProperties: false },
      answer: (msg) => reply(msg, { ok: true, result: "filled", node: "wide" }),
    }],
  });
  const cli = await startCli(t, ["--nats", env.nats.url]);
  const client = await connectClient(t, cli.url);
  await waitFor(async () => (await client.listTools()).tools.some((x) => x.name === "wide__form"), "wide__form listed", 15_000);

  let stop = false;
  let worst = 0;
  let probes = 0;
  const prober = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const r = await raw(`${cli.base}/healthz`);
      assert.equal(r.status, 200);
      worst = Math.max(worst, performance.now() - t0);
      probes++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.after(() => void (stop = true));
  await new Promise((r) => setTimeout(r, 100));
  const call = (args: Record<string, unknown>) => client.callTool({ name: "wide__form", arguments: args }) as Promise<CallToolResult>;
  const first = await call({ p0: "a", p1999: "x" }).catch((e: Error) => ({ isError: true, content: [{ type: "text", text: e.message }] }) as CallToolResult);
  const badPattern = await call({ p0: "a", p7: "NOT-LOWER" });
  const missing = await call({ p3: "abc" });
  const ok = await call({ p0: "a", p42: "xy12" });
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await prober;
  t.diagnostic(`worst /healthz round trip ${Math.round(worst)} ms over ${probes} probes during the first calls`);

  assert.ok(worst < HEALTHZ_MAX_MS, `/healthz took ${Math.round(worst)} ms while the schema was first used (want < ${HEALTHZ_MAX_MS} ms)`);
  assert.equal(first.isError, true, "an unknown property is refused (additionalProperties: false)");
  assert.match(textOf(first), /must NOT have additional properties/);
  assert.equal(badPattern.isError, true);
  assert.match(textOf(badPattern), /p7 must match pattern/);
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), /arguments must have required property 'p0'/);
  assert.equal(ok.isError, undefined, textOf(ok));
  assert.match(textOf(ok), /filled/);
});
