/**
 * A three-server NATS cluster on loopback loses the server mesh-mcp is connected
 * to, under steady load. mesh-mcp must fail over to another server within
 * seconds; the calls that fail meanwhile are few, each one a clear isError (never
 * a hang, a protocol error or another call's answer); the tools stay listed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Mesh } from "../../src/mesh/index.js";
import { McpClient, registerCalculator, sleep, waitFor } from "../helpers/mcp.js";
import { NatsCluster, settle, show, type Settled } from "./helpers.js";

interface Outcome extends Settled {
  start: number;
  expected: number;
}

test("a 3-server cluster loses the server in use: calls fail over within seconds, few fail, each clearly", { timeout: 60_000 }, async (t) => {
  const cluster = await NatsCluster.start(t, 3);
  // The node sits on server 2; mesh-mcp is given servers 0 and 1 (it learns 2 from the cluster).
  const node = await Mesh.connect({ servers: cluster.url(2), node: "n1", reconnectWaitMs: 200 });
  t.after(() => node.close().catch(() => {}));
  await registerCalculator(node);
  await node.registerTool({
    name: "slow",
    methods: {
      sleep: {
        schema: { type: "object", properties: { ms: { type: "number" } } },
        handler: async (p) => (await sleep(Number(p.ms)), { slept: p.ms }),
      },
    },
  });
  const mc = await McpClient.start({ natsUrl: `${cluster.url(0)},${cluster.url(1)}` });
  t.after(() => mc.close());
  await mc.waitForTools(["calculator__add", "slow__sleep"], 10_000);
  const victim = await waitFor(async () => {
    const i = await cluster.serverOf("mesh-mcp");
    return i >= 0 ? { i } : undefined;
  }, "mesh-mcp's connection in a server's /connz", { timeoutMs: 5000, intervalMs: 100 });
  assert.notEqual(victim.i, 2, "mesh-mcp was given servers 0 and 1");

  // Steady load: four agents calling in a loop.
  const outcomes: Outcome[] = [];
  let stop = false;
  t.after(() => void (stop = true)); // a failure must not leave the load running
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const start = performance.now();
      const r = await settle(mc.call("calculator__add", { a: i, b: w * 1000 }, { timeout: 10_000 }));
      outcomes.push({ ...r, start, expected: i + w * 1000 });
      await sleep(20);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  // A long call in flight across the failover: it was delivered well before.
  const slow = settle(mc.call("slow__sleep", { ms: 5000 }, { timeout: 20_000 }));
  await sleep(2500);

  const killedAt = performance.now();
  await cluster.servers[victim.i]!.kill();
  await sleep(3000);
  stop = true;
  await Promise.all(workers);
  const s = await slow;

  const before = outcomes.filter((o) => o.at < killedAt); // ended before the kill: calls in flight at it may be cancelled
  const after = outcomes.filter((o) => o.start >= killedAt || o.at >= killedAt);
  const failed = outcomes.filter((o) => o.error || o.result?.isError);
  const firstOkAfter = outcomes.filter((o) => o.start >= killedAt && o.result && !o.result.isError).sort((a, b) => a.at - b.at)[0];
  const failoverMs = firstOkAfter ? Math.round(firstOkAfter.at - killedAt) : Infinity;
  const longest = Math.max(...outcomes.map((o) => o.at - o.start));
  t.diagnostic(`failover: first successful call ${failoverMs} ms after the kill; ${failed.length} of ${outcomes.length} calls failed ` +
    `(${after.length} around/after the kill); longest call ${Math.round(longest)} ms; slow call: ${show(s)}`);

  assert.ok(before.length > 20 && before.every((o) => o.result && !o.result.isError), "the load ran cleanly before the kill");
  for (const o of outcomes) {
    assert.equal(o.error, undefined, `every call ends with a tool result, not ${show(o)}`);
    if (!o.result!.isError) assert.equal(o.text, String(o.expected), "each call gets its own answer");
    else assert.match(o.text, /connection|NATS|reconnect|retry|again/i, `a failed call says why and what to do: ${o.text}`);
  }
  assert.ok(failoverMs <= 3000, `calls work again ${failoverMs} ms after the server died (want ≤ 3000 ms)`);
  assert.ok(longest <= 5000, `no call waited more than 5 s (longest ${Math.round(longest)} ms)`);
  assert.ok(failed.length <= 20, `${failed.length} calls failed in the failover (want ≤ 20 with 4 agents)`);

  // The long call: its answer, or a clear error, within its own time plus seconds.
  assert.equal(s.error, undefined, `the long call ends with a tool result: ${show(s)}`);
  if (!s.result!.isError) assert.deepEqual(s.result!.structuredContent, { slept: 5000 });
  else assert.match(s.text, /connection|NATS|reconnect|retry|again/i, s.text);

  const now = await cluster.serverOf("mesh-mcp");
  assert.ok(now >= 0 && now !== victim.i, `mesh-mcp moved to another server (now on ${now})`);
  const names = (await mc.listTools()).map((x) => x.name);
  assert.ok(names.includes("calculator__add") && names.includes("slow__sleep"), `the tools stay listed: ${names.join(", ")}`);
});
