/**
 * One HTTP client floods mesh-mcp with `initialize` requests and never closes a
 * session. Sessions must be capped (memory stays bounded instead of growing with
 * every initialize and staying for the 30-minute idle timeout), refusals must be
 * clear JSON-RPC errors with a status clients understand, sessions that exist
 * keep working, no session's id reaches another session's log notifications, and
 * sessions closed by their client free their place.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, INITIALIZE, MCP_HEADERS, meshWithTools, raw, startCli } from "../http/helpers.js";
import { memoryOf } from "./helpers.js";

// Large enough that V8 reaches its steady heap first: on Node 22 RSS grows until ~4,000 sessions, then stays.
const FLOOD = 8000;
const PARALLEL = 32;

interface Answer {
  status: number;
  session?: string;
  body: string;
  ms: number;
}

function post(agent: Agent, url: URL, headers: Record<string, string>, body: string, method = "POST"): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        const id = res.headers["mcp-session-id"];
        resolve({ status: res.statusCode ?? 0, session: typeof id === "string" ? id : undefined, body: text, ms: performance.now() - t0 });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("an initialize flood from one client is capped: bounded memory, clear refusals, other sessions unaffected, no id leaks", { timeout: 90_000 }, async (t) => {
  const env = await meshWithTools(t);
  const cli = await startCli(t, ["--nats", env.nats.url, "--log-level", "debug"]);
  const url = new URL(cli.url);

  // An agent already at work, and one that watches every log line it is sent.
  const worker = await connectClient(t, cli.url);
  const watcher = new Client({ name: "watcher", version: "1" });
  const logs: string[] = [];
  watcher.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(JSON.stringify(n.params)));
  await watcher.connect(new StreamableHTTPClientTransport(url));
  t.after(() => watcher.close().catch(() => {}));
  await watcher.setLoggingLevel("debug");
  assert.equal((await worker.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } })).isError, undefined);

  const pid = cli.proc.pid!;
  const before = memoryOf(pid);
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  t.after(() => agent.destroy());
  const answers: Answer[] = [];
  let next = 0;
  let workerCalls = 0;
  let workerFailures = 0;
  const t0 = performance.now();
  // Two halves: uncapped, memory grows with every session; capped, the second half costs (almost) nothing more.
  const flood = async (until: number) => {
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < until) {
        next++;
        answers.push(await post(agent, url, MCP_HEADERS, INITIALIZE));
      }
    }));
    return memoryOf(pid);
  };
  const flooders = (async () => {
    const half = await flood(FLOOD / 2);
    return { half, full: await flood(FLOOD) };
  })();
  // The working agent keeps calling throughout.
  let flooding = true;
  t.after(() => void (flooding = false)); // a failure must not leave the agent calling
  const steady = (async () => {
    while (flooding) {
      const r = await worker.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } }, undefined, { timeout: 10_000 }).catch((e: Error) => ({ isError: true, content: [{ type: "text", text: e.message }] }));
      workerCalls++;
      if (r.isError || JSON.stringify(r.content) !== JSON.stringify([{ type: "text", text: "5" }])) workerFailures++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const mem = await flooders;
  flooding = false;
  await steady;
  const floodMs = Math.round(performance.now() - t0);
  const after = memoryOf(pid);

  const accepted = answers.filter((a) => a.status === 200 && a.session);
  const refused = answers.filter((a) => a.status !== 200);
  const slowestRefusal = Math.max(0, ...refused.map((a) => a.ms));
  t.diagnostic(`${FLOOD} initialize in ${floodMs} ms: ${accepted.length} sessions accepted, ${refused.length} refused ` +
    `(statuses ${[...new Set(refused.map((a) => a.status))].join(",") || "-"}, slowest refusal ${Math.round(slowestRefusal)} ms); ` +
    `memory ${before.rssMb} → ${mem.half.rssMb} (half) → ${mem.full.rssMb} MB (peak ${after.peakMb} MB); working agent ${workerFailures}/${workerCalls} calls failed`);

  // Sessions still open (a cap may refuse new sessions, or close the least recently used ones).
  const ready = JSON.parse((await raw(`${cli.base}/readyz`)).body) as { sessions?: number };
  t.diagnostic(`sessions open after the flood: ${ready.sessions}`);

  await t.test("past the cap, clear and prompt refusals", () => {
    assert.ok(refused.length > 0 || (ready.sessions ?? Infinity) < accepted.length, `all ${FLOOD} sessions were accepted and kept open (${ready.sessions}): there is no session cap`);
    for (const a of refused) {
      assert.ok(a.status === 429 || a.status === 503, `a refusal is 429 or 503, not ${a.status}: ${a.body.slice(0, 200)}`);
      const body = JSON.parse(a.body) as { jsonrpc?: string; error?: { code?: unknown; message?: unknown } };
      assert.equal(body.jsonrpc, "2.0", a.body);
      assert.ok(typeof body.error?.code === "number" && typeof body.error.message === "string" && body.error.message.length > 10, `a JSON-RPC error that says why: ${a.body}`);
    }
    assert.ok(slowestRefusal < 2000, `refusals are prompt (slowest ${Math.round(slowestRefusal)} ms)`);
  });

  await t.test("memory stays bounded", () => {
    const second = mem.full.rssMb - mem.half.rssMb;
    assert.ok(second < 60, `the second ${FLOOD / 2} sessions added ${second} MB (${mem.half.rssMb} → ${mem.full.rssMb} MB): memory grows with every session (want < +60 MB; uncapped, 4,000 sessions add ~150 MB)`);
    assert.ok(after.peakMb - before.rssMb < 200, `memory peaked at ${after.peakMb} MB from ${before.rssMb} MB (want < +200 MB)`);
  });

  await t.test("the session already at work is unaffected", async () => {
    assert.equal(workerFailures, 0, `${workerFailures} of ${workerCalls} calls of the working agent failed during the flood`);
    assert.equal((await worker.callTool({ name: "calc__add", arguments: { a: 4, b: 4 } })).isError, undefined);
  });

  await t.test("no session's id reaches another session's log notifications", () => {
    const ids = new Set(accepted.map((a) => a.session!));
    const leaked = logs.filter((l) => [...ids].some((id) => l.includes(id)));
    assert.equal(leaked.length, 0, `${leaked.length} of ${logs.length} log notifications to the watcher carried other sessions' ids, e.g. ${leaked[0]}`);
  });

  await t.test("sessions closed by their client free their place", async () => {
    const h = { ...MCP_HEADERS, "mcp-protocol-version": "2025-06-18" };
    for (let i = 0; i < accepted.length; i += PARALLEL) {
      await Promise.all(accepted.slice(i, i + PARALLEL).map((a) => post(agent, url, { ...h, "mcp-session-id": a.session! }, "", "DELETE")));
    }
    const late = await connectClient(t, cli.url);
    assert.equal((await late.callTool({ name: "calc__add", arguments: { a: 5, b: 5 } })).isError, undefined);
    assert.ok(cli.proc.exitCode === null, "mesh-mcp still runs");
  });
});
