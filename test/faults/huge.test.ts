/**
 * Nodes that send too much: a ~5 MB result, and a method schema with 50,000
 * properties (the server's max_payload is raised so that both get through NATS).
 * A big result must reach the stdio client intact (a link into the mesh file
 * store plus a readable preview, never the same payload twice); a huge schema must
 * be bounded and refused with a warning, without freezing mesh-mcp's event loop
 * or its memory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mcpEnv, registerCalculator, sleep, waitFor } from "../helpers/mcp.js";
import { announce, memoryOf, natsConfig, rawConnection, rawNode, reply, settle, show } from "./helpers.js";

const BIG_NATS = "max_payload: 16777216\n";

test("a ~5 MB result reaches a stdio client intact: a file-store link plus a readable preview", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t, { args: ["-c", natsConfig(t, BIG_NATS)] });
  await registerCalculator(await env.node("good"));
  const rows = Array.from({ length: 50_000 }, (_, i) => `row ${String(i).padStart(6, "0")} ${"x".repeat(86)}`);
  const big = { rows, count: rows.length };
  const raw = await rawConnection(t, env.nats.url);
  await rawNode(raw, {
    node: "bulky",
    tool: "big",
    endpoints: [{ name: "dump", schema: { type: "object", properties: {} }, answer: (msg) => reply(msg, { ok: true, result: big, node: "bulky" }) }],
  });
  const mc = await env.client();
  await mc.waitForTools(["big__dump", "calculator__add"]);

  const t0 = performance.now();
  const r = await settle(mc.call("big__dump", {}, { timeout: 20_000 }));
  const took = Math.round(r.at - t0);
  const size = r.result ? JSON.stringify(r.result).length : 0;
  t.diagnostic(`a ${(JSON.stringify(big).length / 1e6).toFixed(1)} MB result: answered in ${took} ms as ${(size / 1024).toFixed(0)} KiB; client ${mc.alive ? "connected" : "DROPPED"}`);
  assert.equal(r.error, undefined, `the client gets a result, not ${show(r)}`);
  assert.ok(mc.alive, "mesh-mcp still runs");
  assert.notEqual(r.result!.isError, true, show(r));
  assert.ok(size < 1_000_000, `the result message is ${size} bytes: above the size limit it must be a link and a preview`);

  // The link: resource_link content (with --resource-links), else the mesh://files URI in the text.
  const preview = r.result!.content.filter((c) => c.type === "text").map((c) => (c as { text: string }).text).join("\n");
  const linked = r.result!.content.find((c) => c.type === "resource_link") as { uri: string } | undefined;
  // (A URI that ends a sentence is followed by its full stop, not part of it.)
  const uri = linked?.uri ?? /mesh:\/\/files\/[^\s"'`)]+/.exec(preview)?.[0].replace(/[.,;:]+$/, "");
  assert.ok(uri?.startsWith("mesh://files/"), `a link into the mesh file store: ${JSON.stringify(r.result!.content.map((c) => c.type))} ${preview.slice(0, 300)}`);
  assert.ok(preview.length > 0 && preview.includes("row 000000"), `a readable preview of the result: ${preview.slice(0, 200)}`);

  // The whole result, intact, behind the link.
  const read = await mc.client.readResource({ uri: uri! }, { timeout: 20_000 });
  const item = read.contents[0] as { text?: string; blob?: string };
  const text = item.text ?? Buffer.from(item.blob ?? "", "base64").toString("utf8");
  assert.deepEqual(JSON.parse(text), big, "the stored result is the node's result, byte for byte in meaning");

  const after = await settle(mc.call("calculator__add", { a: 1, b: 1 }, { timeout: 5000 }));
  assert.equal(after.text, "2", `the session still works: ${show(after)}`);
});

test("a schema with 50,000 properties is refused with a warning, without freezing mesh-mcp or its memory", { timeout: 60_000 }, async (t) => {
  const env = await mcpEnv(t, { args: ["-c", natsConfig(t, BIG_NATS)] });
  await registerCalculator(await env.node("good"));
  const mc = await env.client();
  await mc.waitForTools(["calculator__add"]);
  const before = memoryOf(mc.proc.pid!);

  // Ping mesh-mcp all along: a ping that waits is the event loop standing still.
  let stop = false;
  t.after(() => void (stop = true)); // a failed assertion must not leave the loop running
  let worstPing = 0;
  const pinger = (async () => {
    while (!stop && mc.alive) {
      const t0 = performance.now();
      await mc.client.ping({ timeout: 20_000 }).catch(() => {});
      worstPing = Math.max(worstPing, performance.now() - t0);
      await sleep(25);
    }
  })();

  const properties: Record<string, unknown> = {};
  for (let i = 0; i < 50_000; i++) properties[`p${i}`] = { type: "string" };
  const raw = await rawConnection(t, env.nats.url);
  const stderrBefore = mc.stderr.length;
  await rawNode(raw, { node: "wide", tool: "huge", endpoints: [{ name: "m", schema: { type: "object", properties } }] });
  announce(raw, "wide");

  // Either a warning (refused) or the tool (listed, then its schema must be bounded).
  const t0 = performance.now();
  const newWarnings = () => mc.stderr.slice(stderrBefore).split("\n").filter((l) => /WARN/.test(l));
  const seen = await waitFor(async () => {
    if (newWarnings().length > 0) return "warning";
    const tools = await mc.listTools();
    return tools.some((x) => x.name.startsWith("huge__")) ? "listed" : undefined;
  }, "mesh-mcp to take in the huge schema", { timeoutMs: 15_000, intervalMs: 100 });
  // What an agent does next: list the tools and call the method (its arguments are validated against the schema).
  const listed = await mc.listTools();
  const call = listed.some((x) => x.name === "huge__m") ? await settle(mc.call("huge__m", { p1: "x" }, { timeout: 10_000 })) : undefined;
  await sleep(500);
  stop = true;
  await pinger;
  const mem = memoryOf(mc.proc.pid!);
  t.diagnostic(`50,000-property schema: ${seen} after ${Math.round(performance.now() - t0)} ms; worst ping ${Math.round(worstPing)} ms; ` +
    `memory ${before.rssMb} MB before, peak ${mem.peakMb} MB; call: ${call ? show(call) : "not listed"}`);

  assert.ok(worstPing < 1500, `the event loop stood still for ${Math.round(worstPing)} ms (want < 1500)`);
  assert.ok(mem.peakMb - before.rssMb < 250, `memory peaked at ${mem.peakMb} MB from ${before.rssMb} MB (want < +250 MB)`);
  assert.ok(newWarnings().some((l) => /huge|wide/.test(l) || /limit|too (large|many|big)|over/i.test(l)),
    `a warning names the refused method or the bound it broke:\n${newWarnings().join("\n")}`);
  const tool = (await mc.listTools()).find((x) => x.name.startsWith("huge__"));
  if (tool) {
    const n = Object.keys((tool.inputSchema.properties ?? {}) as object).length;
    assert.ok(n < 50_000, `the refused schema must not be passed on (${n} properties)`);
  }
  const r = await settle(mc.call("calculator__add", { a: 2, b: 2 }, { timeout: 5000 }));
  assert.equal(r.text, "4", show(r));
});
