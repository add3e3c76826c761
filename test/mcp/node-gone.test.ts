/**
 * No hangs: a call or stream whose node is gone, or whose answer a NATS outage may
 * have eaten, ends with a clear isError within seconds (not at the idle or call
 * timeout). Nodes behave like jb-mesh's (test/helpers/jbnode.ts); the killed ones run
 * in their own process and die by SIGKILL.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { jbNode, slowTool } from "../helpers/jbnode.js";
import { mcpEnv, ROOT, sleep, textOf, trackProcess, waitFor } from "../helpers/mcp.js";

const T = { timeout: 90_000 };

/** A jb-mesh-like node serving `slow` in its own process. */
async function nodeProcess(url: string, name: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, ["--import", "tsx", "test/helpers/jbnode.ts", url, name], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  trackProcess(p);
  let out = "";
  p.stdout!.on("data", (d) => (out += String(d)));
  await waitFor(() => out.includes("ready"), `node ${name} to start`, { timeoutMs: 20_000 });
  return p;
}

for (const kind of ["call", "stream"] as const) {
  test(`a node SIGKILLed mid-${kind}: a clear isError within seconds, not at the ${kind === "call" ? "call" : "idle"} timeout`, T, async (t) => {
    const env = await mcpEnv(t);
    const proc = await nodeProcess(env.nats.url, "doomed");
    const client = await env.client({ args: ["--stream-idle-timeout", "120", "--call-timeout", "3600"] });
    const name = kind === "call" ? "slow__wait" : "slow__ticks";
    await client.waitForTools([name]);
    const pending = client.callWithProgress(name, {}, { timeout: 120_000 });
    await sleep(1500); // running (a stream has sent a few ticks by now)
    const killedAt = performance.now();
    proc.kill("SIGKILL");
    await once(proc, "exit");
    const { result, progress } = await pending;
    const ms = performance.now() - killedAt;
    t.diagnostic(`node SIGKILLed mid-${kind}: isError after ${ms.toFixed(0)} ms`);
    assert.equal(result.isError, true);
    assert.match(textOf(result), /node doomed stopped serving slow while the call on node\.doomed\.tools\.slow\.\w+(\.stream)? was running/);
    assert.match(textOf(result), /Call again/);
    if (kind === "stream") assert.ok(progress.length >= 3, `ticks arrived before the kill (${progress.length})`);
    assert.ok(ms < 10_000, `ended ${ms.toFixed(0)} ms after the kill`);
  });
}

test("a call whose reply a NATS outage may have eaten ends with a clear isError soon after the reconnect, and the node is told to cancel", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  const n = await jbNode(m.nc, "steady");
  await n.register(slowTool());
  const client = await env.client({ args: ["--call-timeout", "3600"] });
  await client.waitForTools(["slow__wait"]);
  const pending = client.call("slow__wait", {}, { timeout: 120_000 });
  await waitFor(() => n.received.length === 1, "the call to reach the node");
  await sleep(2500); // older than the lost-request window: this one was delivered
  const downAt = performance.now();
  await env.nats.kill();
  await sleep(2000);
  await env.nats.restart();
  const upAt = performance.now();
  const r = await pending;
  const ms = performance.now() - upAt;
  t.diagnostic(`reply possibly lost in a 2 s outage: isError ${ms.toFixed(0)} ms after NATS came back (${(performance.now() - downAt).toFixed(0)} ms after it went)`);
  assert.equal(r.isError, true);
  assert.match(textOf(r), /the NATS connection was down for \d+\.\d s while the call on node\.steady\.tools\.slow\.wait ran on node steady; an answer sent in that time is lost/);
  assert.ok(ms < 8000, `ended ${ms.toFixed(0)} ms after the reconnect`);
  await waitFor(() => n.cancelled.length === 1, "the cancel to reach the node", { timeoutMs: 10_000 });
});

test("a stream across a NATS outage: a live one goes on and says progress was lost; one whose end was lost fails within seconds", T, async (t) => {
  const env = await mcpEnv(t);
  const m = await env.mesh();
  const n = await jbNode(m.nc, "steady");
  let finishDuringOutage = false;
  let outage = false;
  await n.register({
    name: "job",
    methods: {
      run: {
        stream: true,
        frames: async function* (_p, signal) {
          const short = finishDuringOutage;
          for (let i = 1; !signal.aborted; i++) {
            if (short && outage) {
              yield { result: "finished while NATS was down", done: true };
              return;
            }
            yield { chunk: { progress: i, message: `step ${i}` }, done: false };
            await sleep(200);
            if (!short && i >= 40) {
              yield { result: "all steps", done: true };
              return;
            }
          }
        },
      },
    },
  });
  const client = await env.client({ args: ["--stream-idle-timeout", "120"] });
  await client.waitForTools(["job__run"]);

  // 1. The stream survives: it keeps sending after the reconnect.
  let pending = client.callWithProgress("job__run", {}, { timeout: 60_000 });
  await sleep(1500);
  await env.nats.kill();
  await sleep(1500);
  await env.nats.restart();
  const live = await pending;
  assert.equal(live.result.isError, undefined, textOf(live.result));
  assert.match(textOf(live.result), /all steps/);
  assert.match(textOf(live.result), /progress sent during 1 NATS outage\(s\) of \d+\.\d s was lost/);
  assert.ok(live.progress.some((p) => /NATS was down for \d+\.\d s during job\.run: progress sent in that time is lost/.test(p.message ?? "")), "a progress message says so");

  // 2. Its final frame goes out while NATS is down: lost for good. The client hears within seconds.
  finishDuringOutage = true;
  outage = false;
  pending = client.callWithProgress("job__run", {}, { timeout: 60_000 });
  await sleep(1000);
  outage = true;
  await env.nats.kill();
  await sleep(1500);
  await env.nats.restart();
  const upAt = performance.now();
  const lost = await pending;
  const ms = performance.now() - upAt;
  t.diagnostic(`stream whose final frame was lost in an outage: isError ${ms.toFixed(0)} ms after the reconnect`);
  assert.equal(lost.result.isError, true);
  assert.match(textOf(lost.result), /the NATS connection was down for \d+\.\d s while the call on node\.steady\.tools\.job\.run\.stream ran/);
  assert.ok(ms < 12_000, `ended ${ms.toFixed(0)} ms after the reconnect`);
});
