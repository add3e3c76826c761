/**
 * Wire compatibility, Go → TypeScript: the Go caller (jb-mesh's client paths:
 * ListServices, Call, CallWithContext, Stream, GetToolSchema, admin requests,
 * files.*, the Go file store) against OUR node side (src/mesh/node.ts), on
 * Debian's nats-server 2.9 and on 2.12.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { Mesh, type JsonObject } from "../../src/mesh/index.js";
import { goCaller, NATS_FLAVOURS, startNats } from "../helpers/jbmesh.js";
import type { NatsServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/mesh.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

for (const flavour of NATS_FLAVOURS) {
  describe(`Go caller → our node side (nats-server ${flavour})`, () => {
    let nats: NatsServer;
    let node: Mesh;
    const seen: Array<{ method: string; params: JsonObject; corr?: string; callId?: string; streaming: boolean }> = [];
    const aborted = new Set<string>();
    const go = <T = Json>(cmd: string[], o: Parameters<typeof goCaller>[2] = {}) => goCaller<T>(nats.url, cmd, o).then((r) => r.out);

    before(async () => {
      nats = await startNats(flavour);
      node = await Mesh.connect({ servers: nats.url, node: "ts-node", resolveFileParams: true });
      // Abort-aware wait: resolves on the signal, so a cancel that reaches us ends the call.
      const until = (signal: AbortSignal, ms: number) =>
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), ms);
          signal.addEventListener("abort", () => (clearTimeout(timer), resolve(true)), { once: true });
        });
      await node.registerTool({
        name: "tsc",
        version: "2.1.0",
        description: "A TypeScript tool",
        methods: {
          add: {
            schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
            handler: (p, ctx) => {
              seen.push({ method: "add", params: p, corr: ctx.request.corr, callId: ctx.request.call_id, streaming: ctx.streaming });
              return (p.a as number) + (p.b as number);
            },
          },
          fail: { handler: () => { throw new Error("ValueError: nope"); } },
          wait: {
            handler: async (p, ctx) => {
              seen.push({ method: "wait", params: p, callId: ctx.request.call_id, streaming: false });
              if (await until(ctx.signal, 10_000)) aborted.add(ctx.request.call_id ?? "?");
              return "waited";
            },
          },
          count: {
            stream: true,
            schema: { type: "object", properties: { n: { type: "int" } } },
            handler: async (p, ctx) => {
              for (let i = 0; i < (p.n as number); i++) {
                ctx.emit({ i });
                if (await until(ctx.signal, 100)) {
                  aborted.add(ctx.request.call_id ?? "?");
                  return "cancelled";
                }
              }
              return { total: p.n };
            },
          },
          boom: {
            stream: true,
            handler: (_p, ctx) => {
              ctx.emit("one");
              throw new Error("RuntimeError: mid-stream");
            },
          },
          look: {
            stream: true,
            schema: { type: "object", properties: { image: { type: "str" } } },
            handler: (p, ctx) => {
              const image = String(p.image);
              seen.push({ method: "look", params: p, streaming: ctx.streaming });
              if (!existsSync(image)) return { path: image, exists: false };
              return { path: image, exists: true, sha256: createHash("sha256").update(readFileSync(image)).digest("hex") };
            },
          },
        },
      });
      node.subscribeFileHandlers();
      await node.registerFileTool();
      node.subscribeToolSchema(async (tool) => {
        if (tool !== "tsc") throw new Error(`tool not found: ${tool}`);
        return { add: { type: "object", properties: { a: { type: "number" } } } };
      });
      const config: JsonObject = {};
      node.subscribeAdmin({
        install: async (source) => {
          if (!source.startsWith("git+")) throw new Error(`cannot install ${source}`);
          return { toolName: "fresh", version: "0.1.0" };
        },
        uninstall: async (tool) => {
          if (tool !== "tsc") throw new Error(`tool not found: ${tool}`);
        },
        update: async () => ({ oldVersion: "2.1.0", newVersion: "2.2.0" }),
        config: async (_tool, action, values) => {
          if (action === "set") Object.assign(config, values);
          return { ...config };
        },
        releaseInspect: async (tool) => ({ tool_name: tool, tool_path: `/srv/${tool}`, manifest_version: "2.1.0" }),
      });
      await node.nc.flush();
    });
    after(async () => {
      await node?.close();
      await nats?.stop();
    });

    test("ListServices sees our tool as a jb-mesh node's service, schemas in endpoint metadata", async () => {
      const infos = await go<Json[]>(["list"]);
      const tsc = infos.find((i) => i.name === "tsc");
      assert.ok(tsc, `tsc in ${JSON.stringify(infos.map((i) => i.name))}`);
      assert.equal(tsc.version, "2.1.0");
      assert.equal(tsc.description, "A TypeScript tool");
      assert.deepEqual(tsc.metadata, { node: "ts-node" });
      const add = tsc.endpoints.find((e: Json) => e.name === "add");
      assert.equal(add.subject, "tools.tsc.add");
      assert.equal(add.queue_group, "q");
      assert.deepEqual(JSON.parse(add.metadata.schema).required, ["a", "b"]);
      const count = tsc.endpoints.find((e: Json) => e.name === "count");
      assert.equal(JSON.parse(count.metadata.schema).stream, true);
      assert.ok(infos.some((i) => i.name === "files" && i.metadata.node === "ts-node"), "the files tool is discoverable");
    });

    test("Call load-balanced and pinned; corr travels; errors are ok:false with the node", async () => {
      assert.deepEqual(await go(["call", "tsc", "add"], { params: { a: 2, b: 40, corr: "c-1" } }), { ok: true, result: 42, node: "ts-node" });
      assert.equal(seen.at(-1)?.corr, "c-1");
      assert.equal(seen.at(-1)?.callId, undefined, "Call sends no call_id");
      assert.deepEqual(await go(["call", "tsc", "add"], { node: "ts-node", params: { a: 1, b: 1 } }), { ok: true, result: 2, node: "ts-node" });
      assert.deepEqual(await go(["call", "tsc", "fail"]), { ok: false, error: "ValueError: nope", node: "ts-node" });
      // Go callers that pass nil params send "params": null; the Go node treats it as {}.
      assert.deepEqual(await go(["call", "tsc", "fail"], { params: null }), { ok: false, error: "ValueError: nope", node: "ts-node" });
      const missing = await go(["call", "tsc", "add"], { node: "elsewhere", timeout: "1s" });
      assert.match(String(missing.error), /no responders/);
    });

    test("CallWithContext: the cancel reaches our handler's signal", async () => {
      const r = await go(["callctx", "tsc", "wait"], { cancelAfter: "300ms", timeout: "10s" });
      assert.equal(r.error, "context canceled");
      const call = seen.filter((s) => s.method === "wait").at(-1);
      assert.match(String(call?.callId), /^[A-Za-z0-9]{22}$/, "a NUID call_id");
      await waitFor(() => aborted.has(call!.callId!), "our handler saw the cancel", { timeoutMs: 3000 });
    });

    test("Stream: partial frames then done:true with the result; node stamped on every frame", async () => {
      const r = await go(["stream", "tsc", "count"], { params: { n: 3 } });
      assert.equal(r.end, "done");
      assert.deepEqual(r.frames, [
        { chunk: { i: 0 }, done: false, node: "ts-node" },
        { chunk: { i: 1 }, done: false, node: "ts-node" },
        { chunk: { i: 2 }, done: false, node: "ts-node" },
        { result: { total: 3 }, done: true, node: "ts-node" },
      ]);
      const pinned = await go(["stream", "tsc", "count"], { node: "ts-node", params: { n: 1 } });
      assert.equal(pinned.end, "done");
    });

    test("Stream: a handler that throws ends the Go stream (done:true with the error)", async () => {
      const r = await go(["stream", "tsc", "boom"], { timeout: "5s" });
      assert.equal(r.end, "done", "a Go caller's stream ends only on done:true");
      assert.deepEqual(r.frames.at(-1), { error: "RuntimeError: mid-stream", done: true, node: "ts-node" });
    });

    test("Stream: a cancel from the Go caller reaches our streaming handler", async () => {
      const r = await go(["stream", "tsc", "count"], { params: { n: 100 }, cancelAfterFrames: 2, timeout: "10s" });
      assert.equal(r.end, "cancelled");
      assert.ok(r.frames.length >= 2 && r.frames.length < 100);
      await waitFor(() => aborted.size >= 2, "our streaming handler saw the cancel", { timeoutMs: 3000 });
    });

    test("GetToolSchema answers from our schema handler; errors as ok:false", async () => {
      assert.deepEqual(await go(["schema", "ts-node", "tsc"]), { ok: true, schema: { add: { type: "object", properties: { a: { type: "number" } } } } });
      assert.deepEqual(await go(["schema", "ts-node", "nope"]), { ok: false, error: "tool not found: nope" });
    });

    test("admin requests decode into jb-mesh's result types", async () => {
      assert.deepEqual(await go(["install", "ts-node", "git+https://example/t.git"]), { ok: true, tool_name: "fresh", version: "0.1.0", node: "ts-node" });
      assert.deepEqual(await go(["install", "ts-node", "/tmp/x"]), { ok: false, error: "cannot install /tmp/x", node: "ts-node" });
      assert.deepEqual(await go(["uninstall", "ts-node", "tsc"], { params: { remove_env: true } }), { ok: true, node: "ts-node" });
      assert.deepEqual(await go(["update", "ts-node", "tsc"]), { ok: true, tool_name: "tsc", old_version: "2.1.0", new_version: "2.2.0", node: "ts-node" });
      assert.deepEqual(await go(["config", "ts-node", "tsc", "set"], { params: { temperature: 0.5 } }), { ok: true, config: { temperature: 0.5 }, node: "ts-node" });
      assert.deepEqual(await go(["config", "ts-node", "tsc", "get"]), { ok: true, config: { temperature: 0.5 }, node: "ts-node" });
      assert.deepEqual(await go(["inspect", "ts-node", "tsc"]), {
        ok: true,
        node: "ts-node",
        info: { tool_name: "tsc", tool_path: "/srv/tsc", manifest_version: "2.1.0" },
      });
    });

    test("files.* request/reply round trip with the shapes Go expects", async () => {
      const data = Buffer.from("hello from Go").toString("base64");
      const etag = createHash("sha256").update("hello from Go").digest("hex");
      const put = await go(["files", "put"], { params: { key: "go/hello.txt", data, content_type: "text/plain" } });
      assert.deepEqual(put, { ok: true, key: "go/hello.txt", size: 13, content_type: "text/plain", etag });
      const got = await go(["files", "get"], { params: { key: "go/hello.txt" } });
      assert.deepEqual({ ...got }, { ok: true, key: "go/hello.txt", data, content_type: "text/plain", size: 13, etag });
      const head = await go(["files", "head"], { params: { key: "go/hello.txt" } });
      assert.equal(head.etag, etag);
      assert.ok(!Number.isNaN(Date.parse(head.created)), `created is a date: ${head.created}`);
      const list = await go(["files", "list"], { params: { prefix: "go/" } });
      assert.deepEqual(list.files.map((f: Json) => [f.key, f.size, f.content_type]), [["go/hello.txt", 13, "text/plain"]]);
      assert.deepEqual(await go(["files", "get"], { params: {} }), { ok: false, error: "key is required" });
      assert.deepEqual(await go(["files", "delete"], { params: { key: "go/hello.txt" } }), { ok: true });
      const gone = await go(["files", "get"], { params: { key: "go/hello.txt" } });
      assert.equal(gone.ok, false);
      assert.match(String(gone.error), /^get failed: /);
    });

    test("the files tool through Call", async () => {
      const data = Buffer.from("tool bytes").toString("base64");
      const put = await go(["call", "files", "put"], { params: { key: "go/tool.bin", data } });
      assert.equal(put.ok, true);
      assert.equal(put.result.content_type, "application/octet-stream");
      const got = await go(["call", "files", "get"], { params: { key: "go/tool.bin" } });
      assert.equal(got.result.data, data);
      assert.deepEqual(await go(["call", "files", "get"], { params: {} }), { ok: false, error: "key is required", node: "ts-node" });
    });

    test("the Go file store opens the bucket our side created, and each reads the other's objects", async () => {
      await go(["files", "put"], { params: { key: "shared/ts.txt", data: Buffer.from("from ts").toString("base64"), content_type: "text/plain" } });
      const head = await go(["store-head", "shared/ts.txt"]);
      assert.equal(head.error, undefined, `Go's CreateObjectStore accepts our bucket: ${head.error}`);
      assert.equal(head.ContentType, "text/plain");
      const put = await go(["store-put", "shared/go.txt", "text/markdown", "# from go"]);
      assert.equal(put.error, undefined, String(put.error));
      const got = await go(["files", "get"], { params: { key: "shared/go.txt" } });
      assert.equal(Buffer.from(got.data, "base64").toString(), "# from go");
      assert.equal(got.content_type, "text/markdown");
    });

    test("file params: resolved to a temp file on Call, left as the key on Stream (like a Go node)", async () => {
      await go(["store-put", "in/pic.png", "image/png", "not really a png"]);
      const sha = createHash("sha256").update("not really a png").digest("hex");
      const call = await go(["call", "tsc", "look"], { params: { image: "in/pic.png" } });
      assert.equal(call.ok, true);
      assert.equal(call.result.exists, true);
      assert.equal(call.result.sha256, sha);
      assert.notEqual(call.result.path, "in/pic.png");
      const stream = await go(["stream", "tsc", "look"], { params: { image: "in/pic.png" } });
      assert.deepEqual(stream.frames.at(-1).result, { path: "in/pic.png", exists: false }, "a Go node does not resolve keys for streams");
    });
  });
}
