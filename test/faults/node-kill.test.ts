/**
 * A mesh node dies (SIGKILL: no goodbye, no terminal frame, no reply) while a
 * call and a stream run on it. The agent must learn within seconds, with an
 * isError result naming the node, instead of waiting for the one-hour call
 * timeout or the two-minute stream idle timeout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { mcpEnv, waitFor } from "../helpers/mcp.js";
import { NodeProcess, ms, settle, show } from "./helpers.js";

/** How long after the kill the agent may wait for its answer ("in seconds"). */
const DETECT_MS = 10_000;

test("a node SIGKILLed mid-call and mid-stream: both end with a clear error within seconds", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t);
  const victim = await NodeProcess.start(t, env.nats.url, "victim");
  // Defaults on purpose: --call-timeout 3600, --stream-idle-timeout 120.
  const mc = await env.client();
  await mc.waitForTools(["slow__sleep", "counter__count"], 10_000);

  const progress: Progress[] = [];
  // The client's own timeout is the test's bound: past it the bridge has left the agent waiting.
  const clientTimeout = { timeout: DETECT_MS + 8000 };
  const call = settle(mc.call("slow__sleep", { seconds: 600 }, clientTimeout));
  const stream = settle(mc.call("counter__count", { n: 100_000, delay_ms: 100 }, { ...clientTimeout, onprogress: (p) => progress.push(p) }));
  await victim.started("slow.sleep");
  await victim.started("counter.count");
  await waitFor(() => progress.length >= 2, "the stream's first progress", { timeoutMs: 5000 });

  const killedAt = performance.now();
  await victim.kill("SIGKILL");
  const [c, s] = await Promise.all([call, stream]);
  const callMs = Math.round(c.at - killedAt);
  const streamMs = Math.round(s.at - killedAt);
  t.diagnostic(`time to a clear error after the kill: call ${callMs} ms, stream ${streamMs} ms (${progress.length} progress before)`);

  for (const [what, r, took] of [["call", c, callMs], ["stream", s, streamMs]] as const) {
    assert.equal(r.error, undefined, `the ${what} must end with a tool result, not ${show(r)}`);
    assert.equal(r.result?.isError, true, `the ${what} must be an isError result: ${show(r)}`);
    assert.ok(took <= DETECT_MS, `the ${what} ended ${took} ms after its node died (want ≤ ${DETECT_MS} ms)`);
    assert.match(r.text, /victim|node/i, `the ${what}'s error must say the node went away: ${r.text}`);
    assert.doesNotMatch(r.text, /not connected/i, `NATS is fine; only the node died: ${r.text}`);
  }

  // A fresh call to the dead node's tool is refused at once, clearly.
  const again = await settle(mc.call("slow__sleep", { seconds: 1 }, { timeout: 5000 }));
  assert.equal(again.result?.isError, true, show(again));
  const t0 = performance.now();
  await mc.listTools();
  assert.ok(mc.alive, "mesh-mcp is still running");
  assert.ok(ms(t0) < 2000, "tools/list answers promptly");
});
