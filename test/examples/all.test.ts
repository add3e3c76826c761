import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { FileStore } from "../../src/mesh/index.js";
import { NODE, startFixture, type Fixture } from "./helpers.js";

const { registerAll } = await import("../../examples/all.js");

describe("examples/all (every example as one node)", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture(registerAll);
  });
  after(() => fx.close());

  test("one node offers every example tool and the files tool", async () => {
    const services = await fx.client.listServices();
    assert.deepEqual(services.map((s) => s.name).sort(), ["calculator", "counter", "files", "image", "slow"]);
    for (const s of services) assert.equal(s.metadata?.node, NODE);
    const cat = await fx.client.catalog();
    assert.deepEqual(cat.get("counter", "count")?.stream, true);
    assert.deepEqual(cat.get("files", "put")?.nodes, [NODE]);
  });

  test("upload with the files tool, then use the key in another tool", async () => {
    const data = Buffer.from("uploaded through files.put\n").toString("base64");
    const put = await fx.client.call("files", "put", { key: "uploads/via-tool.txt", data, content_type: "text/plain" });
    assert.equal(put.ok, true, put.error);
    const stats = await fx.client.call("image", "stats", { input: "uploads/via-tool.txt" });
    assert.equal(stats.ok, true, stats.error);
    assert.equal((stats.result as { first_line: string }).first_line, "uploaded through files.put");

    const render = await fx.client.call("image", "render", { input: "uploads/via-tool.txt", width: 32, height: 16 });
    assert.equal(render.ok, true, render.error);
    const key = (render.result as { key: string }).key;
    const got = await fx.client.call("files", "get", { key });
    assert.equal(got.ok, true, got.error);
    const png = Buffer.from((got.result as { data: string }).data, "base64");
    assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
  });

  test("files.* request/reply handlers serve the store (for callers without JetStream)", async () => {
    const viaNats = new FileStore(fx.client.nc, { mode: "nats" });
    assert.equal(await viaNats.mode(), "nats");
    const info = await viaNats.put("uploads/rr.bin", Uint8Array.of(9, 8, 7), "application/x-test");
    assert.equal(info.size, 3);
    const got = await viaNats.getBytes("uploads/rr.bin");
    assert.deepEqual([...got.data], [9, 8, 7]);
    assert.equal(got.info.contentType, "application/x-test");
    assert.ok((await viaNats.list("uploads/")).some((f) => f.key === "uploads/rr.bin"));
    await viaNats.delete("uploads/rr.bin");
    await assert.rejects(viaNats.head("uploads/rr.bin"), /no object/);
  });

  test("the calculator and the slow tool answer in the same process", async () => {
    assert.equal((await fx.client.call("calculator", "add", { a: 1, b: 2 })).result, 3);
    assert.equal((await fx.client.call("slow", "sleep", { seconds: 0 })).ok, true);
  });
});
