/**
 * No hangs against the jb-mesh node fixture (Go, pkg/mesh + the node's stream handling):
 * a node SIGKILLed mid-call or mid-stream, a NATS outage with a call in flight, a
 * stream on two nodes, a tool that raises mid-stream, and a node whose tool is not
 * running. Each asserts what the MCP client sees and how fast.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GoNode, goNodes, NATS_FLAVOURS, startNats } from "../helpers/jbmesh.js";
import { McpClient, sleep, textOf, waitFor } from "../helpers/mcp.js";
import type { NatsServer } from "../helpers/nats-server.js";

const T = { timeout: 60_000 };

for (const flavour of NATS_FLAVOURS) {
  describe(`no hangs with jb-mesh nodes (nats-server ${flavour})`, () => {
    let nats: NatsServer;
    let client: McpClient;
    const { nodes, start } = goNodes(() => nats.url);
    /** Until the bridge lists exactly `nodes` for each of `tools` (a killed node's tools linger until it notices). */
    const offeredBy = (tools: string[], want: string[]) =>
      waitFor(async () => {
        for (const name of tools) if (JSON.stringify(await client.nodesOf(name)) !== JSON.stringify([...want].sort())) return false;
        return true;
      }, `${tools.join(", ")} offered by ${want.join(", ")}`, { timeoutMs: 15_000, intervalMs: 100 });

    before(async () => {
      nats = await startNats(flavour);
      client = await McpClient.start({ natsUrl: nats.url, args: ["--stream-idle-timeout", "120", "--call-timeout", "3600"] });
    });
    after(async () => {
      await client?.close();
      await Promise.all(nodes.map((n) => n.kill()));
      await nats?.stop();
    });

    for (const kind of ["call", "stream"] as const) {
      test(`a node SIGKILLed mid-${kind}: a clear isError within seconds`, T, async (t) => {
        const node = await start({ name: `doomed${kind}`, tools: ["slow"] });
        await offeredBy(["slow__sleep", "slow__ticks"], [`doomed${kind}`]);
        const name = kind === "call" ? "slow__sleep" : "slow__ticks";
        const args = kind === "call" ? { seconds: 300 } : { n: 100_000, interval_ms: 200 };
        const pending = client.callWithProgress(name, args, { timeout: 120_000 });
        await node.waitForEvent(kind === "call" ? "call" : "stream", undefined, { timeoutMs: 10_000 });
        await sleep(1000);
        const killedAt = performance.now();
        await node.kill();
        const { result } = await pending;
        const ms = performance.now() - killedAt;
        t.diagnostic(`jb-mesh node SIGKILLed mid-${kind}: isError after ${ms.toFixed(0)} ms`);
        assert.equal(result.isError, true);
        assert.match(textOf(result), new RegExp(`node doomed${kind} stopped serving slow`));
        assert.ok(ms < 10_000, `ended ${ms.toFixed(0)} ms after the kill`);
      });
    }

    test("a stream offered by two nodes runs once; a raise mid-stream ends it with the traceback; a stopped tool hands over", T, async () => {
      const a = await start({ name: "wa", tools: ["writer"] });
      const b = await start({ name: "wb", tools: ["writer"], notRunning: ["writer"] });
      await offeredBy(["writer__generate", "writer__explode"], ["wa", "wb"]);
      for (let i = 0; i < 3; i++) {
        const r = await client.call("writer__generate", { prompt: "hi", n: 2, delay_ms: 10 });
        assert.equal(r.isError, undefined, textOf(r));
      }
      assert.equal(a.seen("stream").length, 3, "three streams, three jobs, all on the node whose tool runs");
      assert.equal(b.seen("stream").length <= 1, true, `the stopped node was asked ${b.seen("stream").length} times`);

      const t0 = performance.now();
      const boom = await client.call("writer__explode", { after: 1 });
      const ms = performance.now() - t0;
      assert.equal(boom.isError, true);
      assert.match(textOf(boom), /writer\.explode failed on node wa: .*Traceback|Traceback[^]*writer\.explode|failed on node wa/);
      assert.ok(ms < 5000, `an exception ended the stream after ${ms.toFixed(0)} ms`);
    });

    test("a node busy with a long call is not given the next one (a jb-mesh node runs one call per subject at a time)", T, async () => {
      await start({ name: "busy1", tools: ["slow"] });
      await start({ name: "busy2", tools: ["slow"] });
      await offeredBy(["slow__sleep"], ["busy1", "busy2"]);
      const long = client.call("slow__sleep", { seconds: 6 }, { timeout: 60_000 });
      await sleep(300);
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await client.call("slow__sleep", { seconds: 0.05 });
        const ms = performance.now() - t0;
        assert.equal(r.isError, undefined, textOf(r));
        assert.ok(ms < 3000, `short call ${i + 1} took ${ms.toFixed(0)} ms: it waited behind the long one`);
      }
      assert.equal((await long).isError, undefined);
      for (const n of nodes.filter((x) => x.name.startsWith("busy"))) await n.kill();
    });

    test("a call in flight across a NATS outage ends with a clear isError soon after the reconnect, and the tool is cancelled", T, async (t) => {
      const node = await start({ name: "steady", tools: ["slow"] });
      await offeredBy(["slow__sleep"], ["steady"]);
      const pending = client.call("slow__sleep", { seconds: 300 }, { timeout: 120_000 });
      const call = await node.waitForEvent("call", (e) => e.tool === "slow", { timeoutMs: 10_000 });
      await sleep(2500);
      await nats.kill();
      await sleep(2000);
      await nats.restart();
      const upAt = performance.now();
      const r = await pending;
      const ms = performance.now() - upAt;
      t.diagnostic(`reply possibly lost in a 2 s outage (jb-mesh node): isError ${ms.toFixed(0)} ms after NATS came back`);
      assert.equal(r.isError, true);
      assert.match(textOf(r), /NATS connection was down for \d+\.\d s while the call on node\.steady\.tools\.slow\.sleep ran/);
      assert.ok(ms < 10_000, `ended ${ms.toFixed(0)} ms after the reconnect`);
      await node.waitForEvent("cancel", (e) => e.call_id === call.call_id, { timeoutMs: 10_000 });
    });
  });
}
