import { test } from "node:test";
import assert from "node:assert/strict";
import { NatsServer } from "./helpers/nats-server.js";
import { Mesh } from "../src/mesh/index.js";

test("smoke: register, discover, call, stream", async () => {
  const srv = await NatsServer.start();
  const node = await Mesh.connect({ servers: srv.url, node: "n1" });
  const client = await Mesh.connect({ servers: srv.url });
  try {
    await node.registerTool({
      name: "calc", version: "1.0.0", description: "Calculator",
      methods: {
        add: { schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } }, handler: (p) => (p.a as number) + (p.b as number) },
        count: { stream: true, handler: async (p, ctx) => { for (let i = 0; i < 3; i++) ctx.emit({ i }); return "done"; } },
      },
    });
    const t0 = performance.now();
    const cat = await client.catalog();
    console.error("discovery ms", performance.now() - t0, cat.methods().map((m) => `${m.tool}.${m.method}@${m.nodes}`));
    const r = await client.call("calc", "add", { a: 2, b: 3 });
    assert.deepEqual(r, { ok: true, result: 5, node: "n1" });
    const frames = [];
    for await (const f of client.stream("calc", "count", {})) frames.push(f);
    assert.equal(frames.length, 4);
    assert.equal(frames[3]!.result, "done");
    const info = await client.files.put("a/b.bin", new Uint8Array([0, 1, 2, 255]), "application/x-test");
    const got = await client.files.getBytes("a/b.bin");
    assert.deepEqual([...got.data], [0, 1, 2, 255]);
    assert.equal(got.info.etag, info.etag);
    assert.equal(got.info.contentType, "application/x-test");
  } finally {
    await client.close();
    await node.close();
    await srv.stop();
  }
});
