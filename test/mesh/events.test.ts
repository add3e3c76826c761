/**
 * Mesh events over a real nats-server (2.9 from Debian and 2.12 from the fixtures):
 * the capture stream, cursors, resume, truncation by the stream's limits, filters,
 * file and task changes, and a stream that already exists or whose subjects another
 * stream already captures (jb-mesh's own MESH_EVENTS).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { meshEnv, sleep, waitFor } from "../helpers/mesh.js";
import { EventRequestError, type EventOccurrence } from "../../src/mesh/index.js";

const SERVERS: Array<[string, string | undefined]> = [["2.9 (Debian)", "/usr/sbin/nats-server"], ["2.12", new URL("../jbmesh/bin/nats-server", import.meta.url).pathname]];
const reader = { owner: "alice-secret-owner" };

function joined(node: string): string {
  return JSON.stringify({ type: "node.joined", node, timestamp: new Date().toISOString(), data: { capabilities: {} } });
}

for (const [label, bin] of SERVERS) {
  test(`nats-server ${label}: poll from a cursor sees what happened after it, filtered; a bad cursor or name is refused`, { skip: bin && !existsSync(bin) ? `${bin} missing` : false }, async (t) => {
    const env = await meshEnv(t, { bin });
    const mesh = await env.mesh();
    const nc = await env.raw();
    const events = await mesh.events();
    const first = await events.poll({ name: "mesh.node.joined", cursor: null }, reader);
    assert.deepEqual(first.events, []);
    nc.publish("events.node.joined", joined("n1"));
    nc.publish("events.node.joined", joined("n2"));
    nc.publish("events.tool.crashed", JSON.stringify({ type: "tool.crashed", node: "n1", data: { tool: "t", error: "boom", restart_count: 2 } }));
    nc.publish("logs.call.n1.t.run", JSON.stringify({ level: "info", kind: "tool_call", node: "n1", tool: "t", method: "run", corr: "c1", message: "t.run completed", data: { response_bytes: 12 }, duration_ms: 5, ok: true }));
    nc.publish("logs.call.n2.t.run", JSON.stringify({ level: "error", kind: "tool_call", node: "n2", tool: "t", method: "run", message: "t.run failed", data: { error: "bad" }, duration_ms: 1, ok: false }));
    await nc.flush();
    const all = await waitFor(async () => {
      const r = await events.poll({ name: "mesh.node.joined", cursor: first.cursor }, reader);
      return r.events.length === 2 ? r : undefined;
    }, "two joins");
    assert.deepEqual(all.events.map((e) => e.data.node), ["n1", "n2"]);
    assert.equal(all.truncated, false);
    const only = await events.poll({ name: "mesh.node.joined", arguments: { node: "n2" }, cursor: first.cursor }, reader);
    assert.deepEqual(only.events.map((e) => e.data.node), ["n2"]);
    // Nothing new after the returned cursor.
    assert.deepEqual((await events.poll({ name: "mesh.node.joined", cursor: all.cursor }, reader)).events, []);
    // maxEvents pages: one at a time, hasMore, then the second.
    const p1 = await events.poll({ name: "mesh.node.joined", cursor: first.cursor, maxEvents: 1 }, reader);
    assert.equal(p1.events.length, 1);
    assert.equal(p1.hasMore, true);
    const p2 = await events.poll({ name: "mesh.node.joined", cursor: p1.cursor, maxEvents: 1 }, reader);
    assert.deepEqual(p2.events.map((e) => e.data.node), ["n2"]);

    const crash = await events.poll({ name: "mesh.tool.crashed", arguments: { tool: "t" }, cursor: first.cursor }, reader);
    assert.deepEqual(crash.events[0]!.data, { node: "n1", tool: "t", error: "boom", restartCount: 2 });
    const ok = await events.poll({ name: "mesh.call.completed", arguments: { tool: "t" }, cursor: first.cursor }, reader);
    assert.deepEqual(ok.events.map((e) => e.data), [{ node: "n1", tool: "t", method: "run", durationMs: 5, corr: "c1", responseBytes: 12 }]);
    const failed = await events.poll({ name: "mesh.call.failed", arguments: { node: "n2" }, cursor: first.cursor }, reader);
    assert.deepEqual(failed.events.map((e) => e.data.error), ["bad"]);
    // What a principal may not see is not told.
    const hidden = await events.poll({ name: "mesh.node.joined", cursor: first.cursor }, { ...reader, visible: (x) => x.node !== "n1" });
    assert.deepEqual(hidden.events.map((e) => e.data.node), ["n2"]);

    await assert.rejects(events.poll({ name: "mesh.nope", cursor: null }, reader), (e) => e instanceof EventRequestError && e.kind === "not-found");
    await assert.rejects(events.poll({ name: "mesh.node.joined", cursor: "garbage!" }, reader), /invalid cursor/);
    await assert.rejects(events.poll({ name: "mesh.node.joined", arguments: { tool: "x" }, cursor: null }, reader), /takes no argument "tool"/);
  });

  test(`nats-server ${label}: past the stream's limit a stale cursor resumes at the oldest kept occurrence with truncated`, { skip: bin && !existsSync(bin) ? `${bin} missing` : false }, async (t) => {
    const env = await meshEnv(t, { bin });
    const mesh = await env.mesh({ events: { maxMsgs: 3 } });
    const nc = await env.raw();
    const events = await mesh.events();
    const start = await events.poll({ name: "mesh.node.joined", cursor: null }, reader);
    for (let i = 1; i <= 6; i++) nc.publish("events.node.joined", joined(`n${i}`));
    await nc.flush();
    await waitFor(async () => (await events.log.state()).lastSeq >= 6, "six stored");
    const r = await events.poll({ name: "mesh.node.joined", cursor: start.cursor }, reader);
    assert.equal(r.truncated, true);
    assert.deepEqual(r.events.map((e) => e.data.node), ["n4", "n5", "n6"]);
    // maxAgeMs skips what is older than asked, and says so.
    await sleep(300);
    nc.publish("events.node.joined", joined("fresh"));
    await nc.flush();
    const young = await waitFor(async () => {
      const x = await events.poll({ name: "mesh.node.joined", cursor: r.cursor, maxAgeMs: 200 }, reader);
      return x.events.length ? x : undefined;
    }, "only the fresh one");
    assert.deepEqual(young.events.map((e) => e.data.node), ["fresh"]);
    assert.equal((await events.poll({ name: "mesh.node.joined", cursor: start.cursor, maxAgeMs: 200 }, reader)).truncated, true);
    // From the new cursor nothing is missing any more.
    nc.publish("events.node.joined", joined("n7"));
    await nc.flush();
    const next = await waitFor(async () => {
      const x = await events.poll({ name: "mesh.node.joined", cursor: young.cursor }, reader);
      return x.events.length ? x : undefined;
    }, "n7");
    assert.equal(next.truncated, false);
    assert.deepEqual(next.events.map((e) => e.data.node), ["n7"]);
  });
}

test("push: a follower hears occurrences as they are stored, from its cursor, in order, across processes", async (t) => {
  const env = await meshEnv(t);
  const [a, b] = [await env.mesh(), await env.mesh()];
  const nc = await env.raw();
  const ea = await a.events();
  const eb = await b.events();
  const cursor = await ea.now();
  nc.publish("events.node.left", JSON.stringify({ type: "node.left", node: "gone", data: { reason: "shutdown" } }));
  await nc.flush();
  const heard: EventOccurrence[] = [];
  const stop = new AbortController();
  t.after(() => stop.abort());
  let active: [string, boolean] | undefined;
  await eb.follow({ name: "mesh.node.left", cursor }, reader, stop.signal, {
    active: (c, tr) => (active = [c, tr]),
    event: (o) => heard.push(o),
    error: (e) => assert.fail(e),
  });
  assert.equal(active?.[1], false);
  await waitFor(() => heard.length === 1, "the occurrence before the follow started (replayed from the cursor)");
  nc.publish("events.node.left", JSON.stringify({ type: "node.left", node: "also", data: { reason: "crash" } }));
  await waitFor(() => heard.length === 2, "a live occurrence");
  assert.deepEqual(heard.map((o) => o.data), [{ node: "gone", reason: "shutdown" }, { node: "also", reason: "crash" }]);
  assert.notEqual(heard[0]!.cursor, heard[1]!.cursor);
});

test("file store changes and the caller's own finished tasks are events; another owner's task is not told", async (t) => {
  const env = await meshEnv(t);
  const mesh = await env.mesh();
  const events = await mesh.events();
  await mesh.files.put("reports/old.txt", new TextEncoder().encode("old"));
  const from = await events.now();
  await mesh.files.put("reports/a.txt", new TextEncoder().encode("hello"));
  await mesh.files.put("other/b.txt", new TextEncoder().encode("x"));
  // (The store's delete record rolls up older records of the same key in the events
  // stream too: a file written and deleted keeps only its deletion; see docs/events.md.)
  await mesh.files.delete("reports/old.txt");
  const created = await waitFor(async () => {
    const r = await events.poll({ name: "mesh.file.created", arguments: { prefix: "reports/" }, cursor: from }, reader);
    return r.events.length ? r : undefined;
  }, "file created", { timeoutMs: 8000 });
  assert.equal(created.events[0]!.data.key, "reports/a.txt");
  assert.equal(created.events[0]!.data.size, 5);
  const deleted = await waitFor(async () => {
    const r = await events.poll({ name: "mesh.file.deleted", cursor: from }, reader);
    return r.events.length ? r : undefined;
  }, "file deleted", { timeoutMs: 8000 });
  assert.deepEqual(deleted.events.map((e) => e.data.key), ["reports/old.txt"]);

  // Tasks: a record reaching its end, written to the task bucket (as TaskStore does).
  const tasks = await mesh.tasks();
  const kv = (tasks as unknown as { kv: { put(k: string, v: string): Promise<number> } }).kv;
  const { ownerHash } = await import("../../src/mesh/index.js");
  const rec = (owner: string, id: string, status: string) => JSON.stringify({ v: 1, id, owner: ownerHash(owner), callId: "c", tool: "job", method: "run", node: "n1", kind: "call", status, createdAt: 1, updatedAt: Date.now(), deadline: Date.now() + 1e6, ttlMs: 1e6 });
  await kv.put(`${ownerHash(reader.owner)}.task1`, rec(reader.owner, "task1", "working"));
  await kv.put(`${ownerHash(reader.owner)}.task1`, rec(reader.owner, "task1", "completed"));
  await kv.put(`${ownerHash("someone-else-1")}.task2`, rec("someone-else-1", "task2", "failed"));
  const done = await waitFor(async () => {
    const r = await events.poll({ name: "mesh.task.completed", cursor: from }, reader);
    return r.events.length ? r : undefined;
  }, "task completed", { timeoutMs: 8000 });
  await sleep(200);
  const again = await events.poll({ name: "mesh.task.completed", cursor: from }, reader);
  assert.deepEqual(again.events.map((e) => [e.data.taskId, e.data.status]), [["task1", "completed"]]);
  assert.equal(done.events[0]!.data.tool, "job");
});

test("jb-mesh's own MESH_EVENTS already captures events.>: the events stream sources from it instead of failing", async (t) => {
  const env = await meshEnv(t);
  const nc = await env.raw();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "MESH_EVENTS", subjects: ["events.>"] });
  const mesh = await env.mesh();
  const events = await mesh.events();
  const from = await events.now();
  nc.publish("events.node.joined", joined("via-source"));
  const r = await waitFor(async () => {
    const x = await events.poll({ name: "mesh.node.joined", cursor: from }, reader);
    return x.events.length ? x : undefined;
  }, "the join, sourced", { timeoutMs: 8000 });
  assert.equal(r.events[0]!.data.node, "via-source");
  // A second process finds the stream already there and reads the same positions.
  const other = await (await env.mesh()).events();
  assert.deepEqual((await other.poll({ name: "mesh.node.joined", cursor: from }, reader)).events.map((e) => e.eventId), r.events.map((e) => e.eventId));
});
