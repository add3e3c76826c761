/**
 * The CLI's one-shot commands (`tools`, `call`, `doctor`) and `--help`, run as
 * the built `mesh-mcp` binary.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OPTIONS } from "../../src/config.js";
import { freePort } from "../helpers/nats-server.js";
import { mcpEnv, registerCalculator, runCli, ensureBuilt } from "../helpers/mcp.js";

const T = { timeout: 30_000 };

test("mesh-mcp tools lists what an agent would see, with schemas", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  const r = await runCli(["tools"], { env: { NATS_URL: env.nats.url } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^calculator__add$/m);
  assert.match(r.stdout, /^calculator__fail$/m);
  assert.match(r.stdout, /^mesh_upload_file$/m);
  assert.match(r.stdout, /offered by node n1 \(v1\.2\.0\)/);
  assert.match(r.stdout, /"a": \{\s+"type": "number",\s+"description": "first"/);
  assert.match(r.stderr, /tools \(2 mesh methods on 1 nodes\)/);
  const filtered = await runCli(["tools", "--exclude", "*.fail"], { env: { NATS_URL: env.nats.url } });
  assert.doesNotMatch(filtered.stdout, /calculator__fail/);
});

test("mesh-mcp call calculator.add a=2 b=3: values parsed as JSON, result on stdout", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const calls: Array<{ method: string; params: unknown; node: string }> = [];
  await registerCalculator(node, calls);
  await node.registerTool({ name: "echo", methods: { back: { handler: (p) => p } } });
  const url = { NATS_URL: env.nats.url };

  const add = await runCli(["call", "calculator.add", "a=2", "b=3"], { env: url });
  assert.equal(add.code, 0, add.stderr);
  assert.equal(add.stdout.trim(), "5");
  assert.deepEqual(calls[0]!.params, { a: 2, b: 3 });

  const echo = await runCli(["call", "echo.back", "name=bob", "n=1.5", "flag=true", "list=[1,2]", "obj={\"k\":null}", "tag=x", "tag=y", "eq=a=b"], { env: url });
  assert.equal(echo.code, 0, echo.stderr);
  assert.deepEqual(JSON.parse(echo.stdout), { name: "bob", n: 1.5, flag: true, list: [1, 2], obj: { k: null }, tag: ["x", "y"], eq: "a=b" });

  const bad = await runCli(["call", "calculator.add", "a=two", "b=3"], { env: url });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid arguments:\n- a must be number/);

  const fail = await runCli(["call", "calculator.fail"], { env: url });
  assert.equal(fail.code, 1);
  assert.match(fail.stderr, /calculator\.fail failed on node n1: division by zero/);

  const usage = await runCli(["call", "noDot"], { env: url });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: mesh-mcp call TOOL\.METHOD/);

  const kv = await runCli(["call", "echo.back", "oops"], { env: url });
  assert.notEqual(kv.code, 0);
  assert.match(kv.stderr, /expected key=value, got "oops"/);
});

test("mesh-mcp doctor: ok lines and exit 0 on a working mesh", T, async (t) => {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  await node.registerFileTool();
  const r = await runCli(["doctor"], { env: { NATS_URL: env.nats.url } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok {4}NATS: connected to /m);
  assert.match(r.stdout, /^ok {4}JetStream: enabled/m);
  assert.match(r.stdout, /^ok {4}file store: /m);
  assert.match(r.stdout, /^ok {4}discovery: \d+ services, \d+ methods on 1 nodes/m);
  assert.match(r.stdout, /node n1: .*calculator/);
  assert.doesNotMatch(r.stdout, /^FAIL/m);
});

test("mesh-mcp doctor with NATS unreachable: a FAIL line saying what to do, exit 1", T, async () => {
  await ensureBuilt();
  const port = await freePort();
  const t0 = performance.now();
  const r = await runCli(["doctor"], { env: { NATS_URL: `nats://127.0.0.1:${port}` } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^FAIL {2}NATS: .*127\.0\.0\.1:\d+/m);
  assert.match(r.stdout, /fix: start nats-server/);
  assert.ok(performance.now() - t0 < 10_000);
});

test("mesh-mcp --help lists every option of src/config.ts", T, async () => {
  await ensureBuilt();
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage:/m);
  for (const cmd of ["tools", "call TOOL.METHOD", "doctor"]) assert.ok(r.stdout.includes(`mesh-mcp ${cmd}`), `usage of ${cmd}`);
  for (const o of OPTIONS) {
    assert.match(r.stdout, new RegExp(`^  --${o.flag}\\b`, "m"), `--${o.flag} in --help`);
    if (o.env) assert.ok(r.stdout.includes(`env ${o.env}`), `${o.env} in --help`);
  }
  const bad = await runCli(["--no-such-flag"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--help/);
});
