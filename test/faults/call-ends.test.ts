/**
 * Every end of a call gets exactly one answer, on every way in: the SDK path and the
 * fast path of both revisions over stdio, and over HTTP (2025 through the SDK, 2026
 * fast and SDK). The ends: --call-timeout, the serving node's death (SIGKILL), a NATS
 * outage, a cancel from the mesh side (`cancel.<call_id>` published by someone else),
 * for a request/reply call and a stream. Only the client's own cancel gets no answer.
 *
 * Hand-written wire clients count the answers exactly: stdio lines with the request's
 * id, and the JSON-RPC messages of an HTTP response.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { ensureBuilt } from "../helpers/mcp.js";
import { CLI, MCP_HEADERS, rawSession, startCli, waitFor } from "../http/helpers.js";
import { NatsServer, NodeProcess, outage, rawConnection } from "./helpers.js";

const T = { timeout: 180_000 };
const CALL_TIMEOUT_S = 3;
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "call-ends", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

interface Msg { id?: number | string; method?: string; result?: Record<string, unknown>; error?: { code: number; message: string }; params?: Record<string, unknown> }

/** One call in flight: the answers seen so far (messages with its id and a result or error). */
interface Running { answers(): Msg[] }

/** One way in: starts a `tools/call` with `params`, and (stdio) cancels it as the client. */
interface Path {
  name: string;
  call(id: number, params: Record<string, unknown>): Running;
  clientCancel?(id: number): void;
}

const isAnswer = (m: Msg) => m.id !== undefined && m.method === undefined && (m.result !== undefined || m.error !== undefined);

/** mesh-mcp over stdio with every line kept (answers the 2025 progress barrier's pings). */
async function stdioWire(t: TestContext, natsUrl: string, era: "2025" | "2026") {
  const proc = spawn(process.execPath, [CLI, "--nats", natsUrl, "--call-timeout", String(CALL_TIMEOUT_S)], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += String(d)));
  const exited = new Promise((r) => proc.once("exit", r));
  t.after(async () => {
    proc.kill("SIGKILL");
    await exited;
  });
  const lines: Msg[] = [];
  let partial = "";
  const write = (m: unknown) => proc.stdin!.write(`${JSON.stringify(m)}\n`);
  proc.stdout!.on("data", (d: Buffer) => {
    partial += String(d);
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      const m = JSON.parse(partial.slice(0, nl)) as Msg;
      partial = partial.slice(nl + 1);
      lines.push(m);
      if (m.method === "ping" && m.id !== undefined) write({ jsonrpc: "2.0", id: m.id, result: {} });
    }
  });
  const send = (id: number, method: string, params: Record<string, unknown>) =>
    write({ jsonrpc: "2.0", id, method, params: era === "2026" ? { ...params, _meta: { ...ENVELOPE, ...(params._meta as object | undefined) } } : params });
  if (era === "2025") {
    send(0, "initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "call-ends", version: "1" } });
    await waitFor(() => lines.some((l) => l.id === 0), `initialize (${err})`, 10_000);
    write({ jsonrpc: "2.0", method: "notifications/initialized" });
  }
  const answers = (id: number) => () => lines.filter((l) => l.id === id && isAnswer(l));
  const paths: Path[] = (["fast", "sdk"] as const).map((how) => ({
    name: `stdio ${era} ${how}`,
    call(id, params) {
      // A params key the fast path does not know sends the same call through the SDK.
      send(id, "tools/call", how === "sdk" ? { ...params, "x-sdk-path": true } : params);
      return { answers: answers(id) };
    },
    clientCancel: (id) => write({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "user" } }),
  }));
  return { paths, listed: async (name: string) => {
    const id = 1_000_000 + lines.length;
    send(id, "tools/list", {});
    await waitFor(() => lines.some((l) => l.id === id), "tools/list", 10_000);
    return JSON.stringify(lines.find((l) => l.id === id)).includes(name);
  } };
}

/** POSTs one JSON-RPC request; every message of the response (JSON body or SSE events) is kept. */
function post(url: string, headers: Record<string, string>, body: unknown): Running {
  const got: Msg[] = [];
  const req = request(url, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, agent: false }, (res) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d) => (text += d));
    res.on("end", () => {
      if ((res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        for (const line of text.split("\n")) if (line.startsWith("data: ")) got.push(JSON.parse(line.slice(6)) as Msg);
      } else if (text.trim()) {
        const parsed = JSON.parse(text) as Msg | Msg[];
        got.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      }
    });
  });
  req.on("error", () => {});
  req.end(JSON.stringify(body));
  return { answers: () => got.filter(isAnswer) };
}

async function httpPaths(url: string): Promise<Path[]> {
  const session = await rawSession(url);
  const h2025 = { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
  const modern = (name: string) => ({ "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": name });
  return [
    { name: "http 2025 sdk", call: (id, params) => post(url, h2025, { jsonrpc: "2.0", id, method: "tools/call", params }) },
    { name: "http 2026 fast", call: (id, params) => post(url, modern(String(params.name)), { jsonrpc: "2.0", id, method: "tools/call", params: { ...params, _meta: ENVELOPE } }) },
    { name: "http 2026 sdk", call: (id, params) => post(url, modern(String(params.name)), { jsonrpc: "2.0", id, method: "tools/call", params: { ...params, "x-sdk-path": true, _meta: ENVELOPE } }) },
  ];
}

const METHODS = [
  { key: "slow.sleep", params: { name: "slow__sleep", arguments: { seconds: 600 } } },
  { key: "counter.count", params: { name: "counter__count", arguments: { n: 100_000, delay_ms: 100 }, _meta: { progressToken: "p" } } },
];

test("every end of a call is answered exactly once on every path; a client's own cancel is not", T, async (t) => {
  await ensureBuilt();
  const nats = await NatsServer.start();
  t.after(() => nats.stop());
  let node = await NodeProcess.start(t, nats.url, "ends");
  const [s25, s26, cli] = await Promise.all([
    stdioWire(t, nats.url, "2025"),
    stdioWire(t, nats.url, "2026"),
    startCli(t, ["--nats", nats.url, "--call-timeout", String(CALL_TIMEOUT_S)]),
  ]);
  await waitFor(async () => (await s25.listed("counter__count")) && (await s26.listed("counter__count")), "the node's tools over stdio", 15_000);
  const paths = [...s25.paths, ...s26.paths, ...(await httpPaths(cli.url))];
  const nc = await rawConnection(t, nats.url);
  let nextId = 1;
  const seenStarts = new Set<string>();
  /** Call ids the node started since the last look (one per call of `count`). */
  const newStarts = async (count: number): Promise<string[]> => {
    const ids = await waitFor(() => {
      const all = node.startedIds().filter((id) => !seenStarts.has(id));
      return all.length >= count ? all : undefined;
    }, `${count} calls started on the node`, 15_000);
    for (const id of ids) seenStarts.add(id);
    return ids;
  };

  /** Starts every method on every path; ends them with `end`; checks exactly one answer each. */
  const everyPath = async (end: string, ending: () => Promise<void>, expect?: RegExp) => {
    const calls = paths.flatMap((path) => METHODS.map((m) => ({ path, m, id: nextId++ })))
      .map((c) => ({ ...c, running: c.path.call(c.id, c.m.params) }));
    await newStarts(calls.length);
    await ending();
    const what = (c: (typeof calls)[number]) => `${end}: ${c.path.name} ${c.m.key}`;
    await waitFor(() => calls.every((c) => c.running.answers().length > 0), `an answer on every path after ${end}`, 30_000)
      .catch((err: Error) => assert.fail(`${err.message}; missing: ${calls.filter((c) => c.running.answers().length === 0).map(what).join("; ")}`));
    await new Promise((r) => setTimeout(r, 1000)); // a second answer would come now
    for (const c of calls) {
      const answers = c.running.answers();
      assert.equal(answers.length, 1, `${what(c)}: exactly one answer, got ${JSON.stringify(answers)}`);
      const text = JSON.stringify(answers[0]);
      if (expect) assert.match(text, expect, `${what(c)}: ${text.slice(0, 400)}`);
    }
    t.diagnostic(`${end}: ${calls.length} calls, each answered once`);
  };

  await t.test("--call-timeout", () => everyPath("timeout", async () => {}, /timed out|timeout/i));
  await t.test("cancel from the mesh side", () => everyPath("mesh cancel", async () => {
    for (const id of [...seenStarts].slice(-paths.length * METHODS.length)) nc.publish(`cancel.${id}`, "");
    await nc.flush();
  }, /cancel/i));
  await t.test("the client's own cancel gets no answer", async () => {
    const stdio = paths.filter((p) => p.clientCancel);
    const calls = stdio.flatMap((path) => METHODS.map((m) => ({ path, m, id: nextId++ })))
      .map((c) => ({ ...c, running: c.path.call(c.id, c.m.params) }));
    await newStarts(calls.length);
    for (const c of calls) c.path.clientCancel!(c.id);
    await new Promise((r) => setTimeout(r, (CALL_TIMEOUT_S + 1) * 1000)); // past the call timeout too
    for (const c of calls) assert.deepEqual(c.running.answers(), [], `${c.path.name} ${c.m.key}: no answer to a call the client cancelled`);
  });

  await t.test("NATS outage", () => everyPath("outage", async () => void (await outage(nats, 1500))));
  // Everyone reconnected: a call reaches the node again.
  await waitFor(async () => {
    const id = nextId++;
    const r = s25.paths[0]!.call(id, { name: "slow__sleep", arguments: { seconds: 0 } });
    const a = await waitFor(() => r.answers()[0], "a probe call", 10_000);
    return a.result?.isError !== true;
  }, "the mesh back after the outage", 30_000);
  await t.test("node death (SIGKILL)", () => everyPath("node death", () => node.kill("SIGKILL"), /isError/));
  node = undefined as never;
});
