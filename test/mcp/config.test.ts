/** Contradictory NATS options: the server still answers, and every call says what to fix. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpClient, textOf } from "../helpers/mcp.js";

test("token together with user/password: calls explain the bad options instead of 'retrying'", { timeout: 20_000 }, async (t) => {
  const mc = await McpClient.start({
    natsUrl: "nats://127.0.0.1:1",
    args: ["--nats-token", "t", "--nats-user", "u", "--nats-password", "p"],
  });
  t.after(() => mc.close());
  const r = await mc.call("calculator__add", { a: 1, b: 2 });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /NATS options are invalid: NATS token auth cannot be combined with username\/password auth/);
  assert.match(textOf(r), /restart mesh-mcp/);
  assert.doesNotMatch(textOf(r), /keeps retrying/);
  assert.match(mc.stderr, /NATS options are invalid/);
});
