/**
 * The node fixture puts on the wire what jb-mesh's pkg/node does (read from its
 * source at v0.0.9 and v0.0.2), checked with the Go caller. If one of these
 * changes, the bridge tests stop meaning what they say.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { GoNode, goCaller, startNats } from "../helpers/jbmesh.js";
import type { NatsServer } from "../helpers/nats-server.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("jb-mesh node fixture, as seen by the Go caller", () => {
  let nats: NatsServer;
  const nodes: GoNode[] = [];
  const go = <T = Json>(cmd: string[], o: Parameters<typeof goCaller>[2] = {}) => goCaller<T>(nats.url, cmd, o).then((r) => r.out);

  before(async () => {
    nats = await startNats("2.9");
    nodes.push(await GoNode.start({ natsUrl: nats.url, name: "new", tools: ["calc", "writer"] }));
    nodes.push(await GoNode.start({ natsUrl: nats.url, name: "old", tools: ["writer"], flavour: "v0.0.2", notRunning: ["writer"] }));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await nats?.stop();
  });

  test("services: metadata node, schema per method (`{}` without input), the files tool only from v0.0.9", async () => {
    const infos = await go<Json[]>(["list"]);
    const calc = infos.find((i) => i.name === "calc" && i.metadata.node === "new")!;
    const health = calc.endpoints.find((e: Json) => e.name === "health");
    assert.equal(health.metadata.schema, "{}");
    const add = JSON.parse(calc.endpoints.find((e: Json) => e.name === "add").metadata.schema);
    assert.equal(add.properties.a.type, "int", "manifest types are free text");
    const silent = infos.find((i) => i.name === "writer")!.endpoints.find((e: Json) => e.name === "silent");
    assert.equal(silent.metadata.schema, '{"stream":true}');
    assert.deepEqual(infos.filter((i) => i.name === "files").map((i) => i.metadata.node), ["new"]);
    assert.deepEqual(await go(["schema", "new", "calc"]).then((r) => r.schema.health), { type: "object", properties: {} });
    assert.deepEqual(await go(["schema", "old", "files"]), { ok: false, error: "tool not found: files" });
  });

  test("streams: an exception is a terminal error frame with done (as a real v0.0.9 node sends it); setup errors have done", async () => {
    const boom = await go(["stream", "writer", "explode"], { node: "new", timeout: "5s" });
    assert.equal(boom.end, "done");
    assert.match(boom.frames.at(-1).error, /^RuntimeError: the model ran out of memory\nTraceback/);
    assert.equal(boom.frames.at(-1).done, true);
    assert.equal(boom.frames.at(-1).node, "new");
    const sick = await go(["stream", "writer", "generate"], { node: "old", params: { prompt: "x" } });
    assert.deepEqual(sick.frames, [{ error: "tool writer is not running, start it first", done: true, node: "old" }]);
  });

  test("request/reply: a Python exception and a tool that is not running, as jb-mesh words them", async () => {
    const div = await go(["call", "calc", "divide"], { params: { a: 1, b: 0 } });
    assert.match(div.error, /^queue call failed: python error: ValueError: Cannot divide by zero\nTraceback/);
    const sick = await go(["call", "writer", "generate"], { node: "old", params: { prompt: "x" } });
    assert.deepEqual(sick, { ok: false, error: "tool writer is not running, start it first", node: "old" });
  });
});
