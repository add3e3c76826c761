/**
 * Nodes that break the wire contract, built from raw NATS: garbage and wrongly
 * shaped replies and stream frames, double replies, frames after the end, bad
 * `$SRV.INFO` answers, and names that are not valid NATS subject tokens. What the
 * agent sees each time: a prompt isError that says what was wrong (or the right
 * answer), tools that work are unaffected, and mesh-mcp keeps running.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mcpEnv, registerCalculator } from "../helpers/mcp.js";
import { rawConnection, rawNode, reply, settle, show, type RawEndpoint } from "./helpers.js";

/** A misbehaving reply must be reported at once, not after a timeout. */
const PROMPT_MS = 3000;

const OBJ = { type: "object", properties: {} };
const STREAM = { type: "object", properties: {}, stream: true };

/** Call replies that are not a CallResult. */
const BAD_REPLIES: Array<[string, string | Uint8Array]> = [
  ["garbage", "\u0000\u00ff{{not json at all"],
  ["empty", new Uint8Array(0)],
  ["array", "[1,2,3]"],
  ["string", '"hello"'],
  ["null", "null"],
  ["okstring", '{"ok":"yes","result":1}'],
  ["nook", '{"result":5}'],
  ["errnumber", '{"ok":false,"error":42}'],
];

/** Streams that end badly. */
const BAD_STREAMS: Array<[string, Array<string | Record<string, unknown>>, RegExp]> = [
  // An error frame is final whatever its `done` says (a dying Python process sends one without `done`).
  ["errnodone", [{ chunk: { progress: 1 }, done: false, node: "bad" }, { error: "tool process died: exit 137", node: "bad" }], /exit 137/],
  ["garbageframe", [{ chunk: { progress: 1 }, done: false, node: "bad" }, "}{ garbage"], /malformed|JSON|invalid|reply/i],
  ["doneyes", [{ chunk: { progress: 1 }, done: false, node: "bad" }, '{"done":"yes","result":1}'], /malformed|invalid|reply|expected/i],
];

test("misbehaving nodes: every bad reply is a prompt, clear isError; good tools are unaffected", { timeout: 90_000 }, async (t) => {
  const env = await mcpEnv(t);
  await registerCalculator(await env.node("good"));
  const raw = await rawConnection(t, env.nats.url);

  const endpoints: RawEndpoint[] = BAD_REPLIES.map(([name, body]) => ({ name, schema: OBJ, answer: (msg) => reply(msg, body, true) }));
  // Double replies: the first is the answer; the second must never reach anyone.
  endpoints.push({
    name: "double",
    schema: { type: "object", properties: { n: { type: "number" } } },
    answer: (msg) => {
      const n = (msg.json<{ params: { n: number } }>().params.n);
      reply(msg, { ok: true, result: n, node: "bad" });
      reply(msg, { ok: true, result: -n, node: "bad" });
      setTimeout(() => reply(msg, { ok: true, result: -n, node: "bad" }), 30);
    },
  });
  for (const [name, frames] of BAD_STREAMS) {
    endpoints.push({ name, schema: STREAM, answer: (msg) => frames.forEach((f) => reply(msg, f, typeof f === "string")) });
  }
  // Frames after the end, and a second terminal frame: the first terminal frame is the result.
  endpoints.push({
    name: "afterdone",
    schema: STREAM,
    answer: (msg) => {
      reply(msg, { chunk: { progress: 1 }, done: false, node: "bad" });
      reply(msg, { done: true, result: { answer: "first" }, node: "bad" });
      reply(msg, { done: true, result: { answer: "second" }, node: "bad" });
      reply(msg, { chunk: { progress: 2 }, done: false, node: "bad" });
    },
  });
  await rawNode(raw, { node: "bad", tool: "bad", endpoints });

  // Answers to $SRV.INFO that are not service info at all.
  await rawNode(raw, { node: "x", tool: "garbageinfo", endpoints: [], info: "\u0000 this is not json" });
  await rawNode(raw, { node: "x", tool: "shapeinfo", endpoints: [], info: '{"type":"io.nats.micro.v1.info_response","name":5,"endpoints":"nope"}' });
  await rawNode(raw, { node: "x", tool: "arrayinfo", endpoints: [], info: "[[[[[]]]]]" });

  const mc = await env.client();
  const expected = [...BAD_REPLIES.map(([n]) => `bad__${n}`), ...BAD_STREAMS.map(([n]) => `bad__${n}`), "bad__double", "bad__afterdone", "calculator__add"];
  await mc.waitForTools(expected, 10_000);

  await t.test("garbage and wrongly shaped replies", async () => {
    for (const [name] of BAD_REPLIES) {
      const t0 = performance.now();
      const r = await settle(mc.call(`bad__${name}`, {}, { timeout: PROMPT_MS + 5000 }));
      const took = Math.round(r.at - t0);
      assert.equal(r.error, undefined, `${name}: a tool result, not ${show(r)}`);
      assert.ok(took <= PROMPT_MS, `${name}: answered after ${took} ms (want ≤ ${PROMPT_MS})`);
      assert.equal(r.result?.isError, true, `${name}: an isError result: ${show(r)}`);
      assert.match(r.text, /bad\.|bad__/, `${name}: the error names the method: ${r.text}`);
      assert.match(r.text, /malformed|invalid|JSON|reply|expected/i, `${name}: the error says the reply was bad: ${r.text}`);
    }
  });

  await t.test("double replies: each call gets its own first answer, never another's", async () => {
    const ns = Array.from({ length: 20 }, (_, i) => i + 1);
    const results = await Promise.all(ns.map((n) => settle(mc.call("bad__double", { n }, { timeout: PROMPT_MS + 5000 }))));
    results.forEach((r, i) => assert.equal(r.text, String(ns[i]), `call ${ns[i]}: ${show(r)}`));
    const again = await settle(mc.call("calculator__add", { a: 1, b: 2 }, { timeout: PROMPT_MS }));
    assert.equal(again.text, "3", show(again));
  });

  await t.test("streams that end badly end at once, with the node's error or a clear one", async () => {
    const runs = await Promise.all(BAD_STREAMS.map(async ([name, , words]) => {
      const t0 = performance.now();
      const r = await settle(mc.call(`bad__${name}`, {}, { timeout: PROMPT_MS + 5000, onprogress: () => {} }));
      return { name, words, r, took: Math.round(r.at - t0) };
    }));
    t.diagnostic(`bad streams ended after ${runs.map((x) => `${x.name} ${x.took} ms`).join(", ")}`);
    for (const { name, words, r, took } of runs) {
      assert.equal(r.error, undefined, `${name}: a tool result, not ${show(r)} after ${took} ms`);
      assert.equal(r.result?.isError, true, `${name}: an isError result: ${show(r)}`);
      assert.match(r.text, words, `${name}: ${r.text}`);
      assert.ok(took <= PROMPT_MS, `${name}: ended after ${took} ms (want ≤ ${PROMPT_MS})`);
    }
  });

  await t.test("frames after the terminal frame are ignored", async () => {
    const r = await settle(mc.call("bad__afterdone", {}, { timeout: PROMPT_MS + 5000, onprogress: () => {} }));
    assert.equal(r.result?.isError, undefined, show(r));
    assert.deepEqual(r.result?.structuredContent, { answer: "first" });
  });

  await t.test("bad $SRV.INFO answers are skipped with a warning; the rest of the mesh is listed", async () => {
    const names = (await mc.listTools()).map((x) => x.name);
    assert.ok(names.includes("calculator__add"), names.join(", "));
    assert.ok(!names.some((n) => /garbageinfo|shapeinfo|arrayinfo/.test(n)), names.join(", "));
    const warnings = mc.stderr.split("\n").filter((l) => /WARN/.test(l));
    assert.ok(warnings.some((l) => /discovery|SRV\.INFO|service info/i.test(l)), `a warning tells of the bad discovery answers:\n${mc.stderr}`);
    const r = await settle(mc.call("calculator__add", { a: 20, b: 22 }, { timeout: PROMPT_MS }));
    assert.equal(r.text, "42", show(r));
    assert.ok(mc.alive);
  });
});

test("services and methods whose names are not NATS subject tokens are left out, with a warning", { timeout: 30_000 }, async (t) => {
  const env = await mcpEnv(t);
  const raw = await rawConnection(t, env.nats.url);
  const answer: RawEndpoint["answer"] = (msg) => reply(msg, { ok: true, result: "fine", node: "odd" });
  const badTools = ["bad tool", "bad.tool", "wild*", "tab\tbed"];
  const badMethods = ["has space", "dot.ted", "star*", "gt>"];
  for (const tool of badTools) await rawNode(raw, { node: "odd", tool, endpoints: [{ name: "m", schema: OBJ, answer }] });
  // Bad method names in an otherwise fine service: those methods (or the whole service) are left out.
  await rawNode(raw, { node: "odd", tool: "mixed", endpoints: [{ name: "fine", schema: OBJ, answer }, ...badMethods.map((name) => ({ name, schema: OBJ, answer }))] });
  await rawNode(raw, { node: "odd", tool: "okay", endpoints: [{ name: "fine", schema: OBJ, answer }] });

  const mc = await env.client();
  await mc.waitForTools(["okay__fine"], 10_000);
  const tools = await mc.listTools();
  const keys = tools.map((x) => String(x._meta?.["mesh-mcp/key"] ?? x.name));
  for (const bad of [...badTools, ...badMethods]) {
    assert.ok(!keys.some((k) => k.includes(bad)), `"${bad}" must not be offered as a tool: ${keys.join(", ")}`);
  }
  const warnings = mc.stderr.split("\n").filter((l) => /WARN/.test(l));
  const named = (name: string) => warnings.some((l) => l.includes(name) || l.includes(JSON.stringify(name).slice(1, -1)));
  for (const bad of badTools) assert.ok(named(bad), `a warning names the service "${bad}":\n${warnings.join("\n")}`);
  assert.ok(named("mixed") || badMethods.some(named), `a warning names the service with bad method names:\n${warnings.join("\n")}`);
  const r = await settle(mc.call("okay__fine", {}, { timeout: PROMPT_MS }));
  assert.equal(r.text, "fine", show(r));
});
