/**
 * The stdio wire of both revisions as a hand-written client sees it, for the calls our
 * fast path answers (transports/stdio-lean.ts) beside the SDK: the same lines as the
 * SDK path, progress before the result, nothing after a cancel (which reaches the
 * node), and everything the fast path must not take still answered by the SDK.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { ensureBuilt } from "../helpers/mcp.js";
import { CLI, meshWithTools, waitFor } from "../http/helpers.js";

const T = { timeout: 60_000 };
type Era = "2025-11-25" | "2026-07-28";
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "raw-stdio-2026", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

interface Line {
  text: string;
  msg: { id?: number; method?: string; result?: Record<string, unknown>; error?: { code: number; message: string }; params?: Record<string, unknown> };
}

/** mesh-mcp over stdio with every stdout line kept, and a request writer. */
async function stdioWire(t: TestContext, natsUrl: string, era: Era) {
  await ensureBuilt();
  const proc = spawn(process.execPath, [CLI, "--nats", natsUrl], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += String(d)));
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(async () => {
    proc.stdin!.end();
    proc.kill("SIGKILL");
    await exited;
  });
  const lines: Line[] = [];
  let partial = "";
  proc.stdout!.on("data", (d: Buffer) => {
    partial += String(d);
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push({ text, msg: JSON.parse(text) });
    }
  });
  const write = (m: unknown) => proc.stdin!.write(`${JSON.stringify(m)}\n`);
  const request = (id: number, method: string, params: Record<string, unknown> = {}) =>
    write({ jsonrpc: "2.0", id, method, params: era === "2026-07-28" ? { ...params, _meta: { ...ENVELOPE, ...(params._meta as object | undefined) } } : params });
  /** The lines answering `id` (progress for `token` included), once its answer came. */
  const exchange = async (id: number, method: string, params: Record<string, unknown> = {}, token?: string): Promise<Line[]> => {
    const from = lines.length;
    request(id, method, params);
    await waitFor(() => lines.slice(from).some((l) => l.msg.id === id), `the answer to ${id} (stderr: ${err.slice(-500)})`, 15_000);
    return lines.slice(from).filter((l) => l.msg.id === id || (token !== undefined && l.msg.params?.progressToken === token));
  };
  if (era === "2025-11-25") {
    const [init] = await exchange(0, "initialize", { protocolVersion: era, capabilities: {}, clientInfo: { name: "raw-stdio-2025", version: "1" } });
    assert.equal((init!.msg.result as { protocolVersion?: string } | undefined)?.protocolVersion, era, init!.text);
    write({ jsonrpc: "2.0", method: "notifications/initialized" });
  }
  return { lines, write, request, exchange, stderr: () => err, pause: () => proc.stdout!.pause(), resume: () => proc.stdout!.resume() };
}

/** Answers the progress barrier's pings (2025: the server pings before a result that followed progress). */
function answerPings(wire: Awaited<ReturnType<typeof stdioWire>>): void {
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < wire.lines.length; seen++) {
      const m = wire.lines[seen]!.msg as { id?: number; method?: string };
      if (m.method === "ping" && m.id !== undefined) wire.write({ jsonrpc: "2.0", id: m.id, result: {} });
    }
  }, 5);
  timer.unref();
}

for (const era of ["2025-11-25", "2026-07-28"] as Era[]) test(`${era} over stdio: plain calls on the fast path, the rest by the SDK`, T, async (t) => {
  const env = await meshWithTools(t);
  const wire = await stdioWire(t, env.nats.url, era);
  answerPings(wire);
  // The first request (2026: it pins the connection) loads the catalog.
  await waitFor(async () => {
    const [answer] = await wire.exchange(1, "tools/list");
    return (answer!.msg.result?.tools as Array<{ name: string }> | undefined)?.some((x) => x.name === "slow__count");
  }, "slow__count listed", 15_000);

  await t.test("a plain call gets the SDK's exact lines", async () => {
    let id = 100;
    for (const params of [
      { name: "calc__add", arguments: { a: 2, b: 3 } },
      { name: "calc__add", arguments: { a: "x", b: 3 } },
      { name: "slow__count", arguments: { n: 2 }, _meta: { progressToken: "tok" } },
      { name: "slow__count", arguments: { n: 2 } },
    ]) {
      const n = id++;
      const lean = await wire.exchange(n, "tools/call", params, "tok");
      // A params key the lean path does not know sends the same call through the SDK.
      const sdk = await wire.exchange(n, "tools/call", { ...params, "x-unknown": true }, "tok");
      assert.deepEqual(lean.map((l) => l.text), sdk.map((l) => l.text), JSON.stringify(params));
    }
  });

  await t.test("progress comes before the result, none lost", async () => {
    const from = wire.lines.length;
    const got = (await wire.exchange(200, "tools/call", { name: "slow__count", arguments: { n: 5 }, _meta: { progressToken: "p5" } }, "p5"))
      .filter((l) => l.msg.method !== "ping");
    assert.deepEqual(got.map((l) => l.msg.method ?? "result"), [...Array(5).fill("notifications/progress"), "result"]);
    assert.deepEqual(got.slice(0, 5).map((l) => l.msg.params?.progress), [1, 2, 3, 4, 5]);
    assert.deepEqual(got[5]!.msg.result?.structuredContent, { counted: 5 });
    if (era === "2025-11-25") {
      // The 2025 session pings the client between the last progress and the result (the SDK
      // client drops progress read together with its result, typescript-sdk#2580).
      const kinds = wire.lines.slice(from).map((l) => (l.msg.method === "ping" ? "ping" : l.msg.id === 200 ? "result" : "other"));
      assert.ok(kinds.indexOf("ping") >= 0 && kinds.indexOf("ping") < kinds.indexOf("result"), kinds.join(","));
    }
  });

  await t.test("1,000 concurrent streams through a congested stdout arrive complete, in order", async () => {
    const streams = 1000;
    const frames = 5;
    const from = wire.lines.length;
    // Nobody reads stdout for a while: the pipe fills and the server's writer queues
    // (the case where taking messages off the queue with shift() went quadratic).
    wire.pause();
    for (let i = 0; i < streams; i++) {
      wire.request(10_000 + i, "tools/call", { name: "slow__count", arguments: { n: frames }, _meta: { progressToken: `s${i}` } });
    }
    await new Promise((r) => setTimeout(r, 1500));
    wire.resume();
    await waitFor(() => {
      let answered = 0;
      for (let k = from; k < wire.lines.length; k++) if ((wire.lines[k]!.msg.id ?? 0) >= 10_000 && !wire.lines[k]!.msg.method) answered++;
      return answered === streams;
    }, `${streams} answers (stderr: ${wire.stderr().slice(-500)})`, 45_000);
    const progress = new Map<string, number[]>();
    const answered = new Set<number>();
    for (const l of wire.lines.slice(from)) {
      const token = l.msg.params?.progressToken as string | undefined;
      if (l.msg.method === "notifications/progress" && token?.startsWith("s")) {
        assert.ok(!answered.has(10_000 + Number(token.slice(1))), `progress of ${token} after its result`);
        progress.set(token, [...(progress.get(token) ?? []), l.msg.params!.progress as number]);
      } else if ((l.msg.id ?? 0) >= 10_000 && !l.msg.method) {
        assert.deepEqual(l.msg.result?.structuredContent, { counted: frames }, l.text);
        answered.add(l.msg.id!);
      }
    }
    assert.equal(answered.size, streams);
    assert.equal(progress.size, streams, "every stream sent progress");
    for (const [token, got] of progress) assert.deepEqual(got, [1, 2, 3, 4, 5], token);
  });

  await t.test("a cancel reaches the node and nothing answers the cancelled call", async () => {
    const cancels: string[] = [];
    const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
    t.after(() => sub.unsubscribe());
    await env.node.nc.flush();
    const from = wire.lines.length;
    wire.request(300, "tools/call", { name: "slow__wait", arguments: { ms: 60_000 } });
    const callId = await env.slowStarted();
    wire.write({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 300, reason: "user" } });
    await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel.${callId}`, 10_000);
    // The connection still serves, and nothing answered 300 before this answer.
    const [after] = await wire.exchange(301, "tools/call", { name: "calc__add", arguments: { a: 1, b: 1 } });
    assert.equal((after!.msg.result?.content as Array<{ text: string }>)[0]!.text, "2");
    assert.equal(wire.lines.slice(from).filter((l) => l.msg.id === 300).length, 0, "no answer to a cancelled call");
  });

  await t.test("what the lean path must not take is still the SDK's", async () => {
    const [noName] = await wire.exchange(400, "tools/call", { arguments: {} });
    assert.equal(noName!.msg.error?.code, -32602, noName!.text);
    const [badArgs] = await wire.exchange(401, "tools/call", { name: "calc__add", arguments: [1, 2] });
    assert.equal(badArgs!.msg.error?.code, -32602, badArgs!.text);
    const [unknown] = await wire.exchange(402, "tools/call", { name: "nope__nothing", arguments: {} });
    assert.equal(unknown!.msg.result?.isError, true, unknown!.text);
    assert.match(JSON.stringify(unknown!.msg.result), /unknown tool/);
    if (era === "2026-07-28") {
      // A bad envelope: the SDK's -32602, not a call — every time (verdicts are cached per envelope).
      for (const id of [403, 405]) {
        const [badEnvelope] = await wire.exchange(id, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 }, _meta: { "io.modelcontextprotocol/clientInfo": 5 } });
        assert.equal(badEnvelope!.msg.error?.code, -32602, badEnvelope!.text);
      }
      // A client declaring the tasks extension gets a task for an eligible (streaming) method.
      const [task] = await wire.exchange(404, "tools/call", {
        name: "slow__count", arguments: { n: 1 },
        _meta: { "io.modelcontextprotocol/clientCapabilities": { extensions: { "io.modelcontextprotocol/tasks": {} } } },
      });
      assert.equal(task!.msg.result?.resultType, "task", task!.text);
      assert.equal(typeof task!.msg.result?.taskId, "string", task!.text);
    } else {
      // 2025: a task-augmented call is the SDK's (a CreateTaskResult), and a bad progress token its -32602.
      const [task] = await wire.exchange(404, "tools/call", { name: "slow__count", arguments: { n: 1 }, task: { ttl: 60_000 } });
      assert.equal(typeof (task!.msg.result?.task as { taskId?: unknown } | undefined)?.taskId, "string", task!.text);
      const [badToken] = await wire.exchange(405, "tools/call", { name: "calc__add", arguments: { a: 1, b: 2 }, _meta: { progressToken: 1.5 } });
      assert.ok(badToken!.msg.error, badToken!.text);
    }
  });
});
