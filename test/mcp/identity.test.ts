/**
 * Two principals, one mesh, one policy (a config file), over stdio with --principal:
 * each sees and reaches only what its roles grant, in both protocol revisions (the v1
 * SDK client on 2025-11-25, the v2 client pinned to 2026-07-28, both on the fast path
 * and the SDK path); a hidden tool answers exactly as an unknown one; the caller's
 * identity reaches the node as NATS headers; every call leaves an audit record.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CallToolResultSchema, CreateTaskResultSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Msg } from "@nats-io/transport-node";
import type { Mesh } from "../../src/mesh/index.js";
import { connect, type ClientKind } from "../eras/kit.js";
import { mcpEnv, registerCalculator, sleep, textOf, waitFor, type McpEnv } from "../helpers/mcp.js";

const POLICY = `
# two roles: bob reads, alice operates
call-timeout: 60
policy:
  roles:
    readers:
      tools: { allow: ["calculator.add"] }
      files: { read: ["shared/"] }
      tasks: false
    operators:
      tools:
        allow: ["*"]
        deny: ["calculator.fail"]
      files: { read: ["*"], upload: ["uploads/"] }
  map:
    - user: alice
      roles: [operators]
  default: readers
`;

function configFile(): string {
  const p = join(mkdtempSync(join(tmpdir(), "mesh-mcp-identity-")), "mesh-mcp.yaml");
  writeFileSync(p, POLICY);
  return p;
}

async function registerVault(node: Mesh, cancelled: { n: number }): Promise<void> {
  await node.registerTool({
    name: "vault",
    methods: {
      open: { schema: { type: "object", properties: {} }, handler: () => "the secret" },
    },
  });
  await node.registerTool({
    name: "job",
    methods: {
      run: {
        stream: true,
        schema: { type: "object", properties: {} },
        handler: async (_p, ctx) => {
          for (let i = 0; i < 600 && !ctx.signal.aborted; i++) {
            ctx.emit({ progress: i });
            await sleep(100);
          }
          if (ctx.signal.aborted) cancelled.n++;
          return "stopped";
        },
      },
    },
  });
}

interface World {
  env: McpEnv;
  config: string;
  /** Headers of every request that reached a tools subject. */
  requests: Array<{ subject: string; headers: Record<string, string>; callId?: string }>;
  /** mesh-mcp's records of its calls on the mesh's log subjects (jb-mesh's format). */
  callRecords: Array<{ corr?: string; tool?: string; method?: string; data?: { principal?: string; roles?: string[] } }>;
  cancelled: { n: number };
}

async function world(t: TestContext): Promise<World> {
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  const cancelled = { n: 0 };
  await registerCalculator(node);
  await registerVault(node, cancelled);
  const caller = await env.mesh();
  await caller.files.put("shared/notes.txt", new TextEncoder().encode("shared notes"), "text/plain");
  await caller.files.put("private/plans.txt", new TextEncoder().encode("private plans"), "text/plain");
  const requests: World["requests"] = [];
  const sub = caller.nc.subscribe(">", {
    callback: (err: Error | null, msg: Msg) => {
      if (err || !/(^|\.)tools\./.test(msg.subject) || !msg.headers) return;
      const headers: Record<string, string> = {};
      for (const k of msg.headers.keys()) headers[k] = msg.headers.get(k);
      let callId: string | undefined;
      try {
        callId = (JSON.parse(msg.string()) as { call_id?: string }).call_id;
      } catch {
        // not a call body
      }
      requests.push({ subject: msg.subject, headers, callId });
    },
  });
  const callRecords: World["callRecords"] = [];
  const logs = caller.nc.subscribe("logs.call.>", { callback: (err: Error | null, msg: Msg) => void (!err && callRecords.push(JSON.parse(msg.string()))) });
  env.defer(() => sub.unsubscribe());
  env.defer(() => logs.unsubscribe());
  await caller.nc.flush();
  return { env, config: configFile(), requests, cancelled, callRecords };
}

const names = (tools: Array<{ name: string }>) => tools.map((x) => x.name).sort();

for (const kind of ["v1", "v2-pinned"] as ClientKind[]) {
  test(`${kind}: two principals see different tools/list, cannot call or read what the other may; hidden answers as unknown`, { timeout: 90_000 }, async (t) => {
    const w = await world(t);
    const as = (who: string) => connect(t, kind, { wire: "stdio", natsUrl: w.env.nats.url, args: ["--config", w.config, "--principal", who] });
    const alice = await as("alice");
    const bob = await as("bob");
    if (kind === "v2-pinned") assert.equal(alice.protocolVersion(), "2026-07-28");

    await waitFor(async () => (await alice.listTools()).some((x) => x.name === "job__run"), "alice sees the catalog");
    assert.deepEqual(names(await alice.listTools()), ["calculator__add", "job__run", "mesh_upload_file", "vault__open"]);
    assert.deepEqual(names(await bob.listTools()), ["calculator__add"], "bob: readers see calculator.add only, no upload tool");

    // Both may call what they may call (the fast path), and the node sees who called.
    assert.equal(textOf(await alice.call("calculator__add", { a: 1, b: 2 })), "3");
    assert.equal(textOf(await bob.call("calculator__add", { a: 2, b: 2 })), "4");
    const seen = await waitFor(() => {
      const who = w.requests.map((r) => r.headers["Mesh-Principal"]);
      return who.includes("alice") && who.includes("bob") ? w.requests : undefined;
    }, "both calls reached the node with identity headers");
    const aliceReq = seen.find((r) => r.headers["Mesh-Principal"] === "alice")!;
    assert.equal(aliceReq.headers["Mesh-Principal-Id"], "local:alice");
    assert.equal(aliceReq.headers["Mesh-Principal-Source"], "configured");
    assert.equal(aliceReq.headers["Mesh-Principal-Roles"], "operators");
    assert.equal(seen.find((r) => r.headers["Mesh-Principal"] === "bob")!.headers["Mesh-Principal-Roles"], "readers");

    // A tool bob may not call answers exactly as one that does not exist (nothing tells him it is there).
    const hidden = await bob.call("vault__open", {});
    const unknown = await bob.call("vaulx__opem", {});
    assert.equal(hidden.isError, true);
    assert.equal(JSON.stringify(hidden).replaceAll("vault__open", "NAME"), JSON.stringify(unknown).replaceAll("vaulx__opem", "NAME"));
    // Denied for alice by a deny rule: the same.
    const denied = await alice.call("calculator__fail", {});
    assert.equal(JSON.stringify(denied).replaceAll("calculator__fail", "NAME"), JSON.stringify(await alice.call("nothing__here", {})).replaceAll("nothing__here", "NAME"));
    assert.ok(!w.requests.some((r) => r.subject.includes("vault") || r.subject.includes("calculator.fail")), "no hidden call reached the mesh");
    // Alice may.
    assert.match(textOf(await alice.call("vault__open", {})), /the secret/);

    // Resources: files by prefix (a file bob may not read answers as a missing one), views filtered.
    assert.equal((await bob.readResource("mesh://files/shared/notes.txt")).contents[0]!.text, "shared notes");
    assert.equal((await alice.readResource("mesh://files/private/plans.txt")).contents[0]!.text, "private plans");
    const refusal = await bob.readResource("mesh://files/private/plans.txt").then(() => "read!", (e: Error) => e.message);
    const missing = await bob.readResource("mesh://files/private/none.txt").then(() => "read!", (e: Error) => e.message);
    assert.notEqual(refusal, "read!");
    assert.equal(refusal.replaceAll("plans.txt", "X"), missing.replaceAll("none.txt", "X"));
    const tools = JSON.parse((await bob.readResource("mesh://tools")).contents[0]!.text!) as Array<{ name: string }>;
    assert.deepEqual(names(tools), ["calculator__add"]);
    const nodes = JSON.parse((await bob.readResource("mesh://nodes")).contents[0]!.text!) as Record<string, { tools: Record<string, unknown> }>;
    assert.deepEqual(Object.keys(nodes.n1!.tools), ["calculator"]);
    const all = JSON.parse((await alice.readResource("mesh://nodes")).contents[0]!.text!) as Record<string, { tools: Record<string, unknown> }>;
    assert.deepEqual(Object.keys(all.n1!.tools).sort(), ["calculator", "job", "vault"]);
  });
}

test("v1 (2025): subscriptions, completions, resource lists, tasks and uploads follow the policy; one audit record per call", { timeout: 90_000 }, async (t) => {
  const w = await world(t);
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-upload-"));
  writeFileSync(join(dir, "a.txt"), "hello");
  const as = (who: string, extra: string[] = []) => w.env.client({ args: ["--config", w.config, "--principal", who, "--allow-dir", dir, ...extra] });
  const alice = await as("alice", ["--audit", "--log-format", "json"]);
  const bob = await as("bob");
  await alice.waitForTools(["job__run"]);

  // Subscriptions: refused outside the read prefixes (whether or not the file exists).
  await bob.client.subscribeResource({ uri: "mesh://files/shared/notes.txt" });
  await assert.rejects(bob.client.subscribeResource({ uri: "mesh://files/private/plans.txt" }), /outside the file-store prefixes you may read/);
  await assert.rejects(bob.client.subscribeResource({ uri: "mesh://files/private/nothing.txt" }), /outside the file-store prefixes you may read/);
  await alice.client.subscribeResource({ uri: "mesh://files/private/plans.txt" });

  // resources/list and completions show only readable keys.
  const listed = (c: typeof bob) => c.client.listResources().then((r) => r.resources.map((x) => x.uri).filter((u) => u.startsWith("mesh://files/")).sort());
  assert.deepEqual(await listed(bob), ["mesh://files/shared/notes.txt"]);
  assert.deepEqual(await listed(alice), ["mesh://files/private/plans.txt", "mesh://files/shared/notes.txt"]);
  const completed = (c: typeof bob) => c.client.complete({ ref: { type: "ref/resource", uri: "mesh://files/{+key}" }, argument: { name: "key", value: "" } }).then((r) => r.completion.values.sort());
  assert.deepEqual(await completed(bob), ["shared/notes.txt"]);
  assert.deepEqual(await completed(alice), ["private/plans.txt", "shared/notes.txt"]);

  // Uploads: alice into her prefix (the default key lands there); another prefix refused.
  const up = await alice.call("mesh_upload_file", { path: join(dir, "a.txt") });
  assert.equal(up.isError, undefined, textOf(up));
  assert.match((up.structuredContent as { key: string }).key, /^uploads\//);
  const elsewhere = await alice.call("mesh_upload_file", { path: join(dir, "a.txt"), key: "shared/a.txt" });
  assert.equal(elsewhere.isError, true);
  assert.match(textOf(elsewhere), /you may not write "shared\/a.txt"; upload under "uploads\/"/);
  const bobUpload = await bob.call("mesh_upload_file", { path: join(dir, "a.txt") });
  assert.match(textOf(bobUpload), /unknown tool "mesh_upload_file"/, "bob has no upload prefix: no upload tool");

  // Tasks: alice owns hers; bob can neither see, read nor cancel it.
  const { task } = await alice.client.request({ method: "tools/call", params: { name: "job__run", arguments: {}, task: { ttl: 600_000 } } }, CreateTaskResultSchema);
  await waitFor(() => w.requests.find((r) => r.subject.includes("job.run") && r.headers["Mesh-Principal"] === "alice"), "the task's request carries alice's identity");
  assert.deepEqual((await bob.client.experimental.tasks.listTasks()).tasks, []);
  await assert.rejects(bob.client.experimental.tasks.getTask(task.taskId), /not found/i);
  await assert.rejects(bob.client.experimental.tasks.cancelTask(task.taskId), /not found/i);
  await assert.rejects(bob.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema), /not found/i);
  assert.equal((await alice.client.experimental.tasks.getTask(task.taskId)).status, "working", "bob's cancel did nothing");
  assert.deepEqual((await alice.client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [task.taskId]);
  // Readers may not run tasks: the tool is listed without task support, and a task call is refused.
  assert.equal((await bob.tool("calculator__add"))?.execution?.taskSupport, undefined);
  await assert.rejects(bob.client.request({ method: "tools/call", params: { name: "calculator__add", arguments: { a: 1, b: 1 }, task: { ttl: 60_000 } } }, CreateTaskResultSchema), /does not run as a task/);
  await alice.client.experimental.tasks.cancelTask(task.taskId);
  await waitFor(() => (w.cancelled.n > 0 ? true : undefined), "the job was cancelled on the node");

  // Tasks follow the principal: a second process for alice finds the same task.
  const alice2 = await as("alice");
  assert.deepEqual((await alice2.client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [task.taskId]);

  // The audit trail: one JSON record per mesh call, with jb-mesh's field names, and no secret.
  assert.equal(textOf(await alice.call("calculator__add", { a: 20, b: 22 })), "42");
  const audits = () => alice.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.audit === true);
  const rec = await waitFor(() => audits().find((r) => r.tool === "calculator" && r.method === "add"), "the audit record of calculator.add");
  assert.equal(rec.kind, "audit");
  assert.equal(rec.principal, "alice");
  assert.equal(rec.principal_id, "local:alice");
  assert.equal(rec.roles, "operators");
  assert.equal(rec.client, "mesh-mcp-e2e");
  assert.equal(rec.client_version, "1.0.0");
  assert.equal(rec.node, "n1");
  assert.equal(rec.outcome, "ok");
  assert.equal(rec.ok, true);
  assert.equal(typeof rec.duration_ms, "number");
  assert.equal(rec.bytes_in, JSON.stringify({ a: 20, b: 22 }).length);
  assert.equal(rec.bytes_out, 2);
  const onWire = w.requests.find((r) => r.callId === rec.call_id);
  assert.ok(onWire, "the audit record's call_id is the call id the node got");
  assert.equal(onWire.headers["Mesh-Principal"], "alice");
  // The mesh's log store hears of the call under alice's name, with the same corr.
  const logged = await waitFor(() => w.callRecords.find((r) => r.corr === rec.corr), "the call's record on logs.call.>");
  assert.equal(logged.data?.principal, "alice");
  assert.deepEqual(logged.data?.roles, ["operators"]);
  // Built-in tools are on record too: alice's uploads, the refused one as an error.
  const uploads = audits().filter((r) => r.tool === "mesh_upload_file");
  assert.deepEqual(uploads.map((r) => r.outcome), ["ok", "error"]);
  assert.equal(uploads[0]!.principal, "alice");
  assert.match(String(uploads[1]!.error), /you may not write/);
  // Nothing of the arguments or results leaks into the audit trail.
  assert.ok(!alice.stderr.includes("private plans"));
  assert.ok(audits().every((r) => !("token" in r) && !("arguments" in r)));
});

test("list_changed reaches only the principals whose view changed", { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const alice = await w.env.client({ args: ["--config", w.config, "--principal", "alice"] });
  const bob = await w.env.client({ args: ["--config", w.config, "--principal", "bob"] });
  await alice.waitForTools(["job__run"]);
  await bob.waitForTools(["calculator__add"]);
  const since = performance.now();
  const node2 = await w.env.node("n2");
  await node2.registerTool({ name: "imaging", methods: { run: { handler: () => "img" } } });
  await alice.waitForNotification("notifications/tools/list_changed", { since, timeoutMs: 10_000 });
  await alice.waitForTools(["imaging__run"]);
  await sleep(1500);
  assert.deepEqual(bob.received("notifications/tools/list_changed", since), [], "bob's view (calculator.add) did not change");
  assert.deepEqual(names(await bob.listTools()), ["calculator__add"]);
});
