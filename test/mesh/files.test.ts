import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FILE_TOOL_SCHEMAS,
  FileNotFoundError,
  FileStore,
  MeshError,
  type FileWatchEvent,
  type Mesh,
} from "../../src/mesh/index.js";
import { NatsServer } from "../helpers/nats-server.js";
import { meshEnv, subjectLog, waitFor, type MeshEnv } from "../helpers/mesh.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

/** The store behaviour both modes must share. */
async function storeContract(store: FileStore) {
  const info = await store.put("bin/all-bytes.dat", allBytes, "application/x-test");
  assert.equal(info.key, "bin/all-bytes.dat");
  assert.equal(info.size, 256);
  assert.equal(info.etag, sha256(allBytes), "ETag is the hex SHA-256 of the content");
  assert.equal(info.contentType, "application/x-test");

  const got = await store.getBytes("bin/all-bytes.dat");
  assert.deepEqual([...got.data], [...allBytes], "every byte value survives the round trip");
  assert.equal(got.info.contentType, "application/x-test");
  assert.equal(got.info.etag, sha256(allBytes));
  assert.equal(got.info.size, 256);

  const streamed = await store.get("bin/all-bytes.dat");
  assert.deepEqual([...(await readAll(streamed.data))], [...allBytes]);
  await streamed.done;

  const head = await store.head("bin/all-bytes.dat");
  assert.deepEqual(
    { key: head.key, size: head.size, contentType: head.contentType, etag: head.etag },
    { key: "bin/all-bytes.dat", size: 256, contentType: "application/x-test", etag: sha256(allBytes) },
  );
  assert.ok(!Number.isNaN(Date.parse(head.created)), `created is a date: ${head.created}`);

  await store.put("outputs/b.txt", new TextEncoder().encode("bee"), "text/plain");
  await store.put("outputs/a.txt", new TextEncoder().encode("a"));
  await store.put("other/c.txt", new TextEncoder().encode("c"));
  const listed = await store.list("outputs/");
  assert.deepEqual(listed.map((f) => f.key), ["outputs/a.txt", "outputs/b.txt"], "prefix filter, sorted by key");
  assert.equal(listed[0]!.contentType, "application/octet-stream", "default content type");
  assert.deepEqual([listed[1]!.size, listed[1]!.etag, listed[1]!.contentType], [3, sha256(new TextEncoder().encode("bee")), "text/plain"]);
  assert.deepEqual((await store.list()).map((f) => f.key), ["bin/all-bytes.dat", "other/c.txt", "outputs/a.txt", "outputs/b.txt"]);

  await store.delete("outputs/a.txt");
  assert.deepEqual((await store.list("outputs/")).map((f) => f.key), ["outputs/b.txt"]);
  for (const op of [
    () => store.head("outputs/a.txt"),
    () => store.getBytes("outputs/a.txt"),
    () => store.get("outputs/a.txt"),
    () => store.delete("outputs/a.txt"),
    () => store.head("never/was.txt"),
  ]) {
    await assert.rejects(op(), (err: unknown) => {
      assert.ok(err instanceof FileNotFoundError, String(err));
      assert.match(err.message, /file store has no object "(outputs\/a|never\/was)\.txt"/);
      return true;
    });
  }
  await assert.rejects(store.getBytes("bin/all-bytes.dat", 100), /256 bytes, over the limit of 100 bytes/);
}

/** Follows `store.watch()` in the background until the test ends. */
async function startWatch(t: TestContext, store: FileStore) {
  const ac = new AbortController();
  const events: FileWatchEvent[] = [];
  const following = (async () => {
    for await (const e of store.watch(ac.signal)) events.push(e);
  })();
  t.after(async () => {
    ac.abort();
    await following.catch(() => {});
  });
  // The watch reports only changes made after it started: put a probe until one shows up.
  await waitFor(
    async () => (await store.put("probe/live", new Uint8Array([1])), events.some((e) => e.key === "probe/live")),
    "the watch to start",
    { intervalMs: 100 },
  );
  return (key: string, deleted: boolean) =>
    waitFor(() => events.find((e) => e.key === key && e.deleted === deleted), `a ${deleted ? "delete" : "put"} event for ${key}`);
}

test("Object Store mode: binary round trip, headers, head/list/delete, not found", async (t) => {
  const env = await meshEnv(t);
  const mesh = await env.mesh();
  assert.equal(await mesh.files.mode(), "objectstore", "JetStream on → Object Store");
  await storeContract(mesh.files);
});

test("Object Store mode: a ~3 MB random file is intact, with the right ETag", async (t) => {
  const env = await meshEnv(t);
  const mesh = await env.mesh();
  const big = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
  const info = await mesh.files.put("big/blob.bin", big, "application/octet-stream");
  assert.equal(info.size, big.length);
  assert.equal(info.etag, sha256(big));

  const other = await env.mesh(); // a second client sees the same object
  const got = await other.files.getBytes("big/blob.bin");
  assert.equal(got.data.length, big.length);
  assert.ok(Buffer.from(got.data).equals(Buffer.from(big)), "content identical");
  assert.equal(got.info.etag, sha256(big));
  const streamed = await other.files.get("big/blob.bin");
  assert.equal(sha256(await readAll(streamed.data)), sha256(big));
  await streamed.done;
});

test("Object Store mode: putFile uploads a local file", async (t) => {
  const env = await meshEnv(t);
  const mesh = await env.mesh();
  const path = join(tmpdir(), `mesh-putfile-${process.pid}.bin`);
  const content = new Uint8Array(randomBytes(200_000));
  writeFileSync(path, content);
  t.after(() => rmSync(path, { force: true }));
  const info = await mesh.files.putFile("up/local.bin", path, "audio/wav");
  assert.deepEqual([info.size, info.etag, info.contentType], [content.length, sha256(content), "audio/wav"]);
  const got = await mesh.files.getBytes("up/local.bin");
  assert.ok(Buffer.from(got.data).equals(Buffer.from(content)));
  assert.equal(got.info.contentType, "audio/wav");
});

test("Object Store mode: watch() yields put and delete events", async (t) => {
  const env = await meshEnv(t);
  const writer = await env.mesh();
  const watcher = await env.mesh();
  const nextEvent = await startWatch(t, watcher.files);
  await writer.files.put("w/new.txt", new TextEncoder().encode("hi"), "text/plain");
  const put = await nextEvent("w/new.txt", false);
  assert.equal(put.info?.etag, sha256(new TextEncoder().encode("hi")));
  assert.equal(put.info?.contentType, "text/plain");
  assert.equal(put.info?.size, 2);
  await writer.files.delete("w/new.txt");
  await nextEvent("w/new.txt", true);
});

/** A node on `env` serving files.* from its Object Store, and a client store forced onto files.*. */
async function natsModeSetup(env: MeshEnv): Promise<{ node: Mesh; store: FileStore }> {
  const node = await env.node("store-node");
  node.subscribeFileHandlers();
  await node.nc.flush();
  const client = await env.mesh({ files: { mode: "nats", pollMs: 50 } });
  return { node, store: client.files };
}

test("files.* mode: the same behaviour through a node serving files.*", async (t) => {
  const env = await meshEnv(t);
  const { node, store } = await natsModeSetup(env);
  assert.equal(await store.mode(), "nats");
  await storeContract(store);
  // The bytes really went through the node into its Object Store.
  const direct = await node.files.getBytes("bin/all-bytes.dat");
  assert.deepEqual([...direct.data], [...allBytes]);
});

test("files.* mode: watch() polls and yields put and delete events", async (t) => {
  const env = await meshEnv(t);
  const { node, store } = await natsModeSetup(env);
  const nextEvent = await startWatch(t, store);
  await node.files.put("w/polled.txt", new Uint8Array([1, 2, 3]));
  const put = await nextEvent("w/polled.txt", false);
  assert.equal(put.info?.size, 3);
  assert.equal(put.info?.etag, sha256(new Uint8Array([1, 2, 3])));
  await node.files.delete("w/polled.txt");
  await nextEvent("w/polled.txt", true);
});

test("files.* mode with nobody serving files.* fails with a clear error", async (t) => {
  const env = await meshEnv(t);
  const client = await env.mesh({ files: { mode: "nats" } });
  await assert.rejects(client.files.put("a/b", new Uint8Array([1])), (err: unknown) => {
    assert.ok(err instanceof MeshError);
    assert.match(err.message, /no node serves files\.put/);
    return true;
  });
});

test("a server without JetStream: mode() is 'nats' and the store works through a node serving files.*", async (t) => {
  // The leaf-node situation: the client's server has no JetStream; a node on it serves
  // files.* from an Object Store it reaches elsewhere (here: a second server).
  const env = await meshEnv(t, { jetstream: false });
  const storeServer = await NatsServer.start();
  t.after(() => storeServer.stop());
  const backing = await env.mesh({ servers: storeServer.url });
  const node = await env.node("edge");
  node.subscribeFileHandlers(backing.files);
  await node.nc.flush();

  const client = await env.mesh();
  assert.equal(await client.files.mode(), "nats");
  const info = await client.files.put("edge/x.bin", allBytes, "image/png");
  assert.equal(info.etag, sha256(allBytes));
  const got = await client.files.getBytes("edge/x.bin");
  assert.deepEqual([...got.data], [...allBytes]);
  assert.equal(got.info.contentType, "image/png");
  assert.deepEqual((await client.files.list("edge/")).map((f) => f.key), ["edge/x.bin"]);
  assert.equal((await backing.files.head("edge/x.bin")).etag, sha256(allBytes), "stored in the backing Object Store");
});

test("a node whose store has no Object Store stays silent on files.* (no request loop) and says why", async (t) => {
  const env = await meshEnv(t, { jetstream: false });
  const storeServer = await NatsServer.start();
  t.after(() => storeServer.stop());
  const warnings: string[] = [];
  const silent = await env.node("no-js", { log: (level, m) => level === "warning" && warnings.push(m) });
  silent.subscribeFileHandlers(); // its own store: files.* mode on this server
  const watcher = await env.raw();
  const puts = await subjectLog(watcher, "files.put");
  const client = await env.mesh({ files: { requestTimeoutMs: 500 } });

  await assert.rejects(client.files.put("a/b.bin", new Uint8Array([1])), /files\.put failed: .*timeout/i);
  assert.equal(puts.messages.length, 1, "only the client's request: the node did not forward it into the mesh");
  assert.ok(warnings.some((w) => /files\.\* is not served/.test(w)), warnings.join("\n"));

  // A node with a store on the same server answers; the silent one does not get in the way.
  const backing = await env.mesh({ servers: storeServer.url });
  const good = await env.node("with-store");
  good.subscribeFileHandlers(backing.files);
  await good.nc.flush();
  assert.equal((await client.files.put("a/b.bin", allBytes)).etag, sha256(allBytes));
  assert.equal(puts.messages.length, 2);
});

test("the built-in `files` tool: put/get/head/list/delete via mesh.call", async (t) => {
  const env = await meshEnv(t);
  const node = await env.node("n1");
  await node.registerFileTool();
  const client = await env.mesh();

  const cat = await client.catalog();
  for (const m of ["put", "get", "head", "delete", "list"]) {
    assert.deepEqual(cat.get("files", m)?.schema, FILE_TOOL_SCHEMAS[m], `files.${m} schema`);
  }

  const data = Buffer.from(allBytes).toString("base64");
  const put = await client.call("files", "put", { key: "tool/all.bin", data, content_type: "application/x-test" });
  assert.deepEqual(put, {
    ok: true,
    node: "n1",
    result: { ok: true, key: "tool/all.bin", size: 256, content_type: "application/x-test", etag: sha256(allBytes) },
  });
  const get = await client.call("files", "get", { key: "tool/all.bin" });
  assert.deepEqual(get.result, {
    ok: true, key: "tool/all.bin", data, content_type: "application/x-test", size: 256, etag: sha256(allBytes),
  });
  const head = (await client.call("files", "head", { key: "tool/all.bin" })).result as Record<string, unknown>;
  assert.deepEqual({ ...head, created: typeof head.created }, {
    ok: true, key: "tool/all.bin", content_type: "application/x-test", size: 256, etag: sha256(allBytes), created: "string",
  });
  const list = (await client.call("files", "list", { prefix: "tool/" })).result as { files: Array<{ key: string }> };
  assert.deepEqual(list.files.map((f) => f.key), ["tool/all.bin"]);
  assert.deepEqual((await client.call("files", "delete", { key: "tool/all.bin" })).result, { ok: true });

  const missing = await client.call("files", "get", { key: "tool/all.bin" });
  assert.equal(missing.ok, false);
  assert.match(missing.error ?? "", /no object "tool\/all\.bin"/);
  const noKey = await client.call("files", "put", { data });
  assert.deepEqual([noKey.ok, noKey.error], [false, "key is required"]);
});
