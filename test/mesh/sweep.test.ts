/**
 * The periodic check stays cheap for a large mesh: a `$SRV.PING` sweep (a few bytes per
 * instance), INFO only for what is new, a full pass only when something went.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jbNode } from "../helpers/jbnode.js";
import { meshEnv, SubjectLog, sleep, waitFor } from "../helpers/mesh.js";

test("a tool registered without an event is found by the sweep, which asks only the new instance for its INFO", { timeout: 30_000 }, async (t) => {
  const env = await meshEnv(t);
  const nodeConn = await env.raw();
  const n = await jbNode(nodeConn, "quiet");
  const tool = (name: string) => ({ name, methods: { run: { schema: { type: "object" }, call: async () => ({ ok: true, result: name }) } } });
  for (const name of ["a", "b", "c"]) await n.register(tool(name));
  const caller = await env.mesh({ catalog: { refreshIntervalMs: 300 } });
  const watch = await env.raw();
  const cat = await caller.catalog();
  await waitFor(() => cat.methods().length === 3, "the first discovery");
  await sleep(600); // the confirming pass after start-up
  const all = await SubjectLog.open(watch, "$SRV.INFO");
  const one = await SubjectLog.open(watch, "$SRV.INFO.>");
  const pings = await SubjectLog.open(watch, "$SRV.PING");

  await sleep(1000); // sweeps over an unchanged mesh
  assert.ok(pings.messages.length >= 2, `${pings.messages.length} sweeps in 1 s at a 300 ms interval`);
  assert.equal(all.messages.length + one.messages.length, 0, "no INFO while nothing changes");

  await n.register(tool("d"));
  await waitFor(() => cat.get("d", "run"), "d.run in the catalog", { timeoutMs: 5000 });
  assert.equal(all.messages.length, 0, "no full $SRV.INFO pass for one new instance");
  assert.deepEqual(one.subjects.map((s) => s.split(".").slice(0, 3).join(".")), ["$SRV.INFO.d"]);

  // An instance that goes: a full pass confirms before anything is dropped.
  await n.unregister("a");
  await waitFor(() => !cat.get("a", "run"), "a.run gone", { timeoutMs: 5000 });
  assert.ok(all.messages.length >= 1, "the removal went through a full pass");
  assert.deepEqual(cat.methods().map((m) => m.tool), ["b", "c", "d"]);
});
