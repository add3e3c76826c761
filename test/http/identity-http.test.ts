/**
 * Two principals over HTTP through the real CLI: `--token-file` names alice (readers) and
 * bob (operators), `--config` holds a policy giving the two roles different tools, file
 * prefixes, admin and task grants. With the official SDK clients — v1 on 2025-11-25
 * (sessions), v2 pinned to 2026-07-28, and v1 against `--stateless` — each sees only its
 * own tools, a tool only bob may call answers alice exactly as an unknown tool (on the
 * lean fast paths too), a file outside her prefixes reads as a missing one, bob's tasks
 * are his, the mesh hears who called (NATS headers), and the audit trail and /metrics
 * name alice without ever holding her token.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Http } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, CreateTaskResultSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Msg } from "@nats-io/transport-node";
import { sha256Hex } from "../../src/transports/auth.js";
import { isSingleToolsCall } from "../../src/transports/http-stateless-lean.js";
import { MCP_HEADERS, meshWithTools, raw, startCli, waitFor, type Cli } from "./helpers.js";

const ALICE = "alice-secret-token-0123456789abcdef";
const BOB = "bob-secret-token-0123456789abcdef";

const POLICY = `
policy:
  roles:
    readers:
      tools: { allow: ["calc.*"] }
      files: { read: ["shared/"] }
      tasks: false
    operators:
      tools: { allow: ["*"], deny: ["danger.*"] }
      files: { read: ["*"], upload: ["uploads/"] }
      admin: true
`;

/** One HTTP exchange a client made (what the lean paths look at, and what came back). */
interface Exchange {
  headers: Record<string, string>;
  body: Record<string, unknown>;
  status: number;
  response: string;
}

/** A fetch that records each POST's request and response (the response read from a clone). */
function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (init?.method === "POST" && typeof init.body === "string") {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const entry: Exchange = { headers, body: JSON.parse(init.body) as Record<string, unknown>, status: res.status, response: "" };
      log.push(entry);
      void res.clone().text().then((t) => (entry.response = t), () => {});
    }
    return res;
  };
}

/** The JSON-RPC message of a recorded response (plain JSON or the last SSE data line). */
function message(x: Exchange): { result?: Record<string, unknown>; error?: { code: number; message: string } } {
  const text = x.response.startsWith("{") ? x.response : x.response.split("\n").filter((l) => l.startsWith("data:")).pop()!.slice(5);
  return JSON.parse(text) as never;
}

interface World {
  cli: Cli;
  /** Every request that reached a tools subject, with its headers. */
  requests: Array<{ subject: string; headers: Record<string, string> }>;
  /** Runs of job.run a cancel stopped on the node. */
  cancelled: { n: number };
}

async function world(t: TestContext, extra: string[]): Promise<World> {
  const env = await meshWithTools(t);
  await env.node.registerTool({ name: "danger", methods: { drop: { schema: { type: "object", properties: {} }, handler: () => "dropped" } } });
  const cancelled = { n: 0 };
  await env.node.registerTool({
    name: "job",
    methods: {
      run: {
        stream: true,
        schema: { type: "object", properties: {} },
        handler: async (_p, ctx) => {
          for (let i = 0; i < 1200 && !ctx.signal.aborted; i++) {
            ctx.emit({ progress: i });
            await new Promise((r) => setTimeout(r, 100));
          }
          if (ctx.signal.aborted) cancelled.n++;
          return "stopped";
        },
      },
    },
  });
  await env.node.registerTool({ name: "vault", methods: { open: { schema: { type: "object", properties: {} }, handler: () => "the secret" } } });
  await env.node.files.put("shared/notes.txt", new TextEncoder().encode("shared notes"), "text/plain");
  await env.node.files.put("private/plans.txt", new TextEncoder().encode("private plans"), "text/plain");
  const requests: World["requests"] = [];
  const sub = env.node.nc.subscribe(">", {
    callback: (err: Error | null, msg: Msg) => {
      if (err || !/(^|\.)tools\./.test(msg.subject) || !msg.headers) return;
      const headers: Record<string, string> = {};
      for (const k of msg.headers.keys()) headers[k] = msg.headers.get(k);
      requests.push({ subject: msg.subject, headers });
    },
  });
  t.after(() => sub.unsubscribe());
  await env.node.nc.flush();

  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-id-http-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "tokens"), `# team\nsha256:${sha256Hex(ALICE)} alice readers\nsha256:${sha256Hex(BOB)} bob operators\n`);
  writeFileSync(join(dir, "mesh-mcp.yaml"), POLICY);
  const cli = await startCli(t, [
    "--nats", env.nats.url, "--token-file", join(dir, "tokens"), "--config", join(dir, "mesh-mcp.yaml"),
    "--admin", "--allow-dir", dir, "--audit", "--log-format", "json", ...extra,
  ]);
  return { cli, requests, cancelled };
}

type Kind = "v1" | "v2-pinned" | "v1-stateless";

interface Caller {
  listTools(): Promise<string[]>;
  call(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
  read(uri: string): Promise<string>;
  /** The mesh://files/ URIs resources/list shows. */
  files(): Promise<string[]>;
  exchanges: Exchange[];
  v1?: V1Client;
}

async function as(t: TestContext, kind: Kind, url: string, token: string): Promise<Caller> {
  const exchanges: Exchange[] = [];
  const opts = { requestInit: { headers: { authorization: `Bearer ${token}` } }, fetch: recordingFetch(exchanges) };
  if (kind === "v2-pinned") {
    const c = new V2Client({ name: "id-http-v2", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await c.connect(new V2Http(new URL(url), opts));
    t.after(() => c.close().catch(() => {}));
    assert.equal(c.getNegotiatedProtocolVersion(), "2026-07-28");
    return {
      exchanges,
      listTools: async () => (await c.listTools(undefined, { cacheMode: "bypass" } as never)).tools.map((x) => x.name).sort(),
      call: async (name, args) => (await c.callTool({ name, arguments: args })) as Record<string, unknown>,
      read: async (uri) => {
        const r = await c.readResource({ uri }, { cacheMode: "bypass" } as never);
        return String((r.contents[0] as { text?: string }).text);
      },
      files: async () => (await c.listResources(undefined, { cacheMode: "bypass" } as never)).resources.map((x) => x.uri).filter((u) => u.startsWith("mesh://files/")).sort(),
    };
  }
  const c = new V1Client({ name: "id-http-v1", version: "1.0.0" });
  await c.connect(new V1Http(new URL(url), opts));
  t.after(() => c.close().catch(() => {}));
  return {
    exchanges,
    v1: c,
    listTools: async () => (await c.listTools()).tools.map((x) => x.name).sort(),
    call: async (name, args) => (await c.callTool({ name, arguments: args })) as Record<string, unknown>,
    read: async (uri) => String(((await c.readResource({ uri })).contents[0] as { text?: string }).text),
    files: async () => (await c.listResources()).resources.map((x) => x.uri).filter((u) => u.startsWith("mesh://files/")).sort(),
  };
}

/** The last recorded tools/call of `name`. */
const callOf = (c: Caller, name: string) => c.exchanges.filter((x) => x.body.method === "tools/call" && (x.body.params as { name?: string }).name === name).pop()!;

const ALICE_TOOLS = ["calc__add"];
const BOB_TOOLS = ["calc__add", "job__run", "mesh_admin_config", "mesh_upload_file", "slow__count", "slow__wait", "vault__open"];

for (const kind of ["v1", "v2-pinned", "v1-stateless"] as Kind[]) {
  test(`${kind}: alice and bob over HTTP with named tokens and a policy`, { timeout: 120_000 }, async (t) => {
    const w = await world(t, kind === "v1-stateless" ? ["--stateless"] : []);
    const alice = await as(t, kind, w.cli.url, ALICE);
    const bob = await as(t, kind, w.cli.url, BOB);

    // Different tools/list; a filtered 2026 list is private to its caller.
    const bobTools = await waitFor(async () => {
      const l = await bob.listTools();
      return l.includes("vault__open") ? l : undefined;
    }, "bob sees the catalog", 10_000);
    assert.deepEqual(bobTools.filter((n) => !n.startsWith("mesh_admin_") || n === "mesh_admin_config"), BOB_TOOLS);
    assert.ok(bobTools.filter((n) => n.startsWith("mesh_admin_")).length > 1, "bob (admin: true) sees the admin tools");
    assert.deepEqual(await alice.listTools(), ALICE_TOOLS);
    if (kind === "v2-pinned") {
      const listed = alice.exchanges.filter((x) => x.body.method === "tools/list").pop()!;
      assert.equal(message(listed).result!.cacheScope, "private", "a filtered 2026 list is not shared between callers");
    }

    // Alice may call calc.add, and the mesh hears it was her (the plain call: the lean path).
    const add = await alice.call("calc__add", { a: 1, b: 2 });
    assert.equal((add.content as Array<{ text: string }>)[0]!.text, "3");
    const req = await waitFor(() => w.requests.find((r) => r.subject.endsWith("calc.add") && r.headers["Mesh-Principal"] === "alice"), "alice's call on the mesh with her headers");
    assert.equal(req.headers["Mesh-Principal-Id"], "token-file:alice");
    assert.equal(req.headers["Mesh-Principal-Source"], "token-file");
    assert.equal(req.headers["Mesh-Principal-Roles"], "readers");
    assert.ok(!JSON.stringify(w.requests).includes(ALICE), "her token never reaches the mesh");
    assertLeanShaped(kind, callOf(alice, "calc__add"));

    // A tool only bob may call answers alice exactly as one that does not exist, and never reaches the mesh.
    const before = w.requests.length;
    for (const [hidden, made_up] of [["vault__open", "vaulx__opem"], ["slow__wait", "slox__waix"], ["danger__drop", "dangex__drox"], ["mesh_upload_file", "mesh_upload_fils"], ["mesh_admin_config", "mesh_admin_confix"]]) {
      const h = await alice.call(hidden!, {});
      const u = await alice.call(made_up!, {});
      assert.equal(h.isError, true, `${hidden}: ${JSON.stringify(h)}`);
      assert.equal(JSON.stringify(h).replaceAll(hidden!, "NAME"), JSON.stringify(u).replaceAll(made_up!, "NAME"), `${hidden} reads as unknown`);
      assertLeanShaped(kind, callOf(alice, hidden!));
    }
    // Denied for bob by a deny rule: the same.
    const denied = await bob.call("danger__drop", {});
    assert.equal(denied.isError, true);
    assert.equal(JSON.stringify(denied).replaceAll("danger__drop", "NAME"), JSON.stringify(await bob.call("dangex__drox", {})).replaceAll("dangex__drox", "NAME"));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(w.requests.slice(before).map((r) => r.subject), [], "no hidden call reached the mesh");
    // Bob may.
    assert.match(JSON.stringify(await bob.call("vault__open", {})), /the secret/);

    // Files: outside alice's read prefix reads as missing; mesh://tools shows only her methods.
    assert.equal(await alice.read("mesh://files/shared/notes.txt"), "shared notes");
    assert.equal(await bob.read("mesh://files/private/plans.txt"), "private plans");
    const refused = await alice.read("mesh://files/private/plans.txt").then(() => "read!", (e: Error) => e.message);
    const missing = await alice.read("mesh://files/private/absent.txt").then(() => "read!", (e: Error) => e.message);
    assert.notEqual(refused, "read!");
    assert.match(refused, /has no object/);
    assert.equal(refused.replaceAll("plans.txt", "X"), missing.replaceAll("absent.txt", "X"));
    assert.deepEqual(await alice.files(), ["mesh://files/shared/notes.txt"], "resources/list: only her prefixes");
    assert.deepEqual(await bob.files(), ["mesh://files/private/plans.txt", "mesh://files/shared/notes.txt"]);
    const views = JSON.parse(await alice.read("mesh://tools")) as Array<{ name: string }>;
    assert.deepEqual(views.map((x) => x.name).sort(), ALICE_TOOLS);
    if (kind === "v2-pinned") {
      const viewed = alice.exchanges.filter((x) => x.body.method === "resources/read" && (x.body.params as { uri?: string }).uri === "mesh://tools").pop()!;
      assert.equal(message(viewed).result!.cacheScope, "private", "her filtered view is not shared");
    }
    const bobViews = JSON.parse(await bob.read("mesh://tools")) as Array<{ name: string }>;
    assert.ok(bobViews.some((x) => x.name === "vault__open"));

    // Tasks (2025: the SDK's tasks API): bob's task is his; alice can neither see nor cancel it.
    if (bob.v1 && alice.v1) {
      const { task } = await bob.v1.request({ method: "tools/call", params: { name: "job__run", arguments: {}, task: { ttl: 600_000 } } }, CreateTaskResultSchema);
      await waitFor(() => w.requests.find((r) => r.subject.includes(".job.run") && r.headers["Mesh-Principal"] === "bob"), "bob's task on the mesh with his headers").catch((e: Error) => {
        throw new Error(`${e.message}; seen: ${JSON.stringify(w.requests.map((r) => [r.subject, r.headers["Mesh-Principal"]]))}`);
      });
      assert.deepEqual((await alice.v1.experimental.tasks.listTasks()).tasks, []);
      const tasks = alice.v1.experimental.tasks;
      for (const [what, op] of [["get", (id: string) => tasks.getTask(id)], ["cancel", (id: string) => tasks.cancelTask(id)], ["result", (id: string) => tasks.getTaskResult(id, CallToolResultSchema)]] as const) {
        const hers = await op(task.taskId).then(() => "answered!", (e: Error) => e.message);
        const none = await op("no-such-task-0000").then(() => "answered!", (e: Error) => e.message);
        assert.match(hers, /not found/i, what);
        assert.equal(hers.replaceAll(task.taskId, "ID"), none.replaceAll("no-such-task-0000", "ID"), `tasks/${what} of bob's task reads as an unknown task`);
      }
      assert.equal((await bob.v1.experimental.tasks.getTask(task.taskId)).status, "working", "alice's cancel did nothing");
      assert.deepEqual((await bob.v1.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [task.taskId]);
      // Readers may not run tasks at all.
      await assert.rejects(alice.v1.request({ method: "tools/call", params: { name: "calc__add", arguments: { a: 1, b: 1 }, task: { ttl: 60_000 } } }, CreateTaskResultSchema), /does not run as a task/);
      assert.equal(w.cancelled.n, 0, "nothing was cancelled on the node");
      await bob.v1.experimental.tasks.cancelTask(task.taskId);
      await waitFor(() => w.cancelled.n === 1, "bob's cancel stopped the job on the node", 10_000);
    }

    // Tasks (2026: the tasks extension, on the wire as in test/eras/tasks.test.ts): the same.
    if (kind === "v2-pinned") {
      const bobs = modernSender(w.cli.url, BOB);
      const alices = modernSender(w.cli.url, ALICE);
      const created = (await bobs("tools/call", { name: "job__run", arguments: {} })).result!;
      assert.equal(created.resultType, "task", JSON.stringify(created));
      const taskId = created.taskId as string;
      await waitFor(() => w.requests.find((r) => r.subject.includes(".job.run") && r.headers["Mesh-Principal"] === "bob"), "bob's task on the mesh with his headers");
      for (const method of ["tasks/get", "tasks/cancel"]) {
        const hers = await alices(method, { taskId });
        const none = await alices(method, { taskId: "no-such-task-0000" });
        assert.ok(hers.error, `${method}: ${JSON.stringify(hers)}`);
        t.diagnostic(`alice's ${method} of bob's task: ${JSON.stringify(hers.error)}`);
        assert.equal(JSON.stringify(hers.error).replaceAll(taskId, "ID"), JSON.stringify(none.error).replaceAll("no-such-task-0000", "ID"), `${method} of bob's task reads as an unknown task`);
      }
      assert.equal((await bobs("tasks/get", { taskId })).result!.status, "working", "alice's cancel did nothing");
      assert.equal(w.cancelled.n, 0, "nothing was cancelled on the node");
      await bobs("tasks/cancel", { taskId });
      await waitFor(() => w.cancelled.n === 1, "bob's cancel stopped the job on the node", 10_000);
    }

    // The audit trail names alice, never her token; /metrics counts her calls.
    const audits = () => w.cli.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.audit === true);
    const rec = await waitFor(() => audits().find((r) => r.tool === "calc" && r.method === "add" && r.principal === "alice"), "alice's audit record");
    assert.equal(rec.principal_id, "token-file:alice");
    assert.equal(rec.principal_source, "token-file");
    assert.equal(rec.roles, "readers");
    assert.equal(rec.outcome, "ok");
    // (2025 --stateless requests carry no clientInfo: only the initialize did, to another server.)
    assert.equal(rec.client, { "v2-pinned": "id-http-v2", v1: "id-http-v1", "v1-stateless": undefined }[kind]);
    assert.ok(!w.cli.stderr().includes(ALICE) && !w.cli.stderr().includes(BOB), "no token in the log");
    assert.ok(!w.cli.stderr().includes(sha256Hex(ALICE)), "nor its hash");
    const metrics = await raw(`${w.cli.base}/metrics`, { headers: { authorization: `Bearer ${ALICE}` } });
    assert.equal(metrics.status, 200, metrics.body);
    assert.match(metrics.body, /mesh_mcp_principal_tool_calls_total\{[^}]*principal="token-file:alice"[^}]*tool="calc\.add"[^}]*\} 1\b/);
    assert.ok(!metrics.body.includes(ALICE));
    assert.equal((await raw(`${w.cli.base}/metrics`)).status, 401, "who called what is not public");
  });
}

/** Raw 2026-07-28 requests declaring the tasks extension (the v2 client does not speak it). */
function modernSender(url: string, token: string) {
  let id = 0;
  const V = "2026-07-28";
  return async (method: string, params: Record<string, unknown>): Promise<{ result?: Record<string, unknown>; error?: { code: number; message: string } }> => {
    const name = method === "tools/call" ? (params.name as string) : method.startsWith("tasks/") ? (params.taskId as string) : undefined;
    const r = await raw(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": method, ...(name ? { "mcp-name": name } : {}), authorization: `Bearer ${token}` },
      body: JSON.stringify({
        jsonrpc: "2.0", id: ++id, method,
        params: {
          ...params,
          _meta: {
            "io.modelcontextprotocol/protocolVersion": V,
            "io.modelcontextprotocol/clientInfo": { name: "id-http-raw", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": { extensions: { "io.modelcontextprotocol/tasks": {} } },
          },
        },
      }),
    });
    return message({ headers: {}, body: {}, status: r.status, response: r.body });
  };
}

/**
 * The call went out as the lean paths take it (http-modern-lean.ts for 2026: standard
 * headers equal to the body, plain params, no client extension; http-stateless-lean.ts for
 * 2025 --stateless: a single tools/call), so the policy is proven on those paths too.
 */
function assertLeanShaped(kind: Kind, x: Exchange): void {
  if (kind === "v2-pinned") {
    const params = x.body.params as Record<string, unknown>;
    assert.equal(x.headers["mcp-protocol-version"], "2026-07-28");
    assert.equal(x.headers["mcp-method"], "tools/call");
    assert.equal(x.headers["mcp-name"], params.name);
    assert.match(x.headers["content-type"] ?? "", /^application\/json/);
    assert.deepEqual(Object.keys(params).filter((k) => !["name", "arguments", "_meta"].includes(k)), []);
    const caps = (params._meta as Record<string, { extensions?: object }>)["io.modelcontextprotocol/clientCapabilities"];
    assert.ok(!caps?.extensions || Object.keys(caps.extensions).length === 0, "no extension declared");
  } else if (kind === "v1-stateless") {
    assert.ok(isSingleToolsCall(x.body));
    assert.deepEqual(Object.keys(x.body.params as object).filter((k) => !["name", "arguments", "_meta"].includes(k)), []);
  }
}
