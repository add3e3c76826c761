/**
 * Shutdown with a call in flight: SIGTERM or the client closing stdin cancels
 * the call on the mesh (`cancel.<call_id>`) and the process exits 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deferred, mcpEnv, SubjectLog, within } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

for (const how of ["SIGTERM", "stdin closed"] as const) {
  test(`${how} while a call is in flight: the cancel for that call is published and the process exits 0`, T, async (t) => {
    const env = await mcpEnv(t);
    const node = await env.node("n1");
    const started = deferred<string>();
    const aborted = deferred<void>();
    await node.registerTool({
      name: "job",
      methods: {
        wait: {
          handler: async (_p, ctx) => {
            started.resolve(ctx.request.call_id ?? "");
            await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
            aborted.resolve();
            return "stopped";
          },
        },
      },
    });
    const watcher = await env.mesh();
    const cancels = await SubjectLog.open(watcher.nc, "cancel.*");
    const client = await env.client();

    const call = client.call("job__wait").catch((err: Error) => err);
    const callId = await within(started.promise, 5000, "the handler start");
    if (how === "SIGTERM") client.proc.kill("SIGTERM");
    else client.proc.stdin!.end();

    await cancels.waitFor(`cancel.${callId}`, 3000);
    await within(aborted.promise, 3000, "the handler's abort");
    const exit = await within(client.exited, 8000, "the process exit");
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(client.stderr, new RegExp(`shutting down \\(${how}\\)`));
    await call; // settles (the connection is gone), whatever it says
  });
}
