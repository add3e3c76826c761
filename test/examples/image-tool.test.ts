import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32 as zlibCrc32, inflateSync } from "node:zlib";
import { NODE, publishedSchema, startFixture, type Fixture } from "./helpers.js";

const { registerImageTool } = await import("../../examples/image-tool.js");
const { crc32 } = await import("../../examples/png.js");

interface PngChunk {
  type: string;
  data: Buffer;
}

/** Splits a PNG file into chunks, checking the signature and every CRC on the way. */
function parsePng(bytes: Uint8Array): PngChunk[] {
  const buf = Buffer.from(bytes);
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  const chunks: PngChunk[] = [];
  let off = 8;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    const crc = buf.readUInt32BE(off + 8 + len);
    // Checked with Node's own CRC-32, independent of the example's table.
    assert.equal(crc, zlibCrc32(buf.subarray(off + 4, off + 8 + len)), `CRC of ${type}`);
    chunks.push({ type, data });
    off += 12 + len;
  }
  assert.equal(off, buf.length, "no trailing bytes");
  return chunks;
}

/** Asserts a valid 8-bit RGB PNG of the given size; returns the inflated scanlines. */
function assertPng(bytes: Uint8Array, width: number, height: number): Buffer {
  const chunks = parsePng(bytes);
  assert.equal(chunks[0]?.type, "IHDR", "IHDR comes first");
  const ihdr = chunks[0]!.data;
  assert.equal(ihdr.length, 13);
  assert.equal(ihdr.readUInt32BE(0), width, "IHDR width");
  assert.equal(ihdr.readUInt32BE(4), height, "IHDR height");
  assert.deepEqual([...ihdr.subarray(8)], [8, 2, 0, 0, 0], "8-bit RGB, deflate, filter 0, no interlace");
  assert.equal(chunks.at(-1)?.type, "IEND");
  assert.equal(chunks.at(-1)?.data.length, 0);
  const idat = Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data));
  const raw = inflateSync(idat);
  assert.equal(raw.length, height * (1 + width * 3), "one filter byte + width*3 bytes per row");
  for (let y = 0; y < height; y++) assert.equal(raw[y * (1 + width * 3)], 0, `row ${y} filter type`);
  return raw;
}

describe("examples/image-tool", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture(registerImageTool);
  });
  after(() => fx.close());

  test("the example's CRC-32 matches zlib's", () => {
    for (const s of ["", "IEND", "hello, mesh", "x".repeat(10_000)]) {
      const b = Buffer.from(s);
      assert.equal(crc32(b), zlibCrc32(b));
    }
  });

  test("render from inline text: a valid PNG in the store", async () => {
    const r = await fx.client.call("image", "render", { text: "hello, mesh! 12345", width: 64, height: 32 });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.node, NODE);
    const res = r.result as { key: string; content_type: string; width: number; height: number; size: number; input_bytes: number };
    assert.match(res.key, /^outputs\/[0-9a-f-]{36}\.png$/);
    assert.equal(res.content_type, "image/png");
    assert.equal(res.width, 64);
    assert.equal(res.height, 32);
    assert.equal(res.input_bytes, 18);

    const { info, data } = await fx.client.files.getBytes(res.key);
    assert.equal(info.contentType, "image/png");
    assert.equal(info.etag, createHash("sha256").update(data).digest("hex"));
    assert.equal(data.length, res.size);
    const raw = assertPng(data, 64, 32);
    // Something was drawn: the pixels are not all one colour.
    const pixels = new Set<string>();
    for (let i = 1; i < raw.length; i += 3) pixels.add(`${raw[i]},${raw[i + 1]},${raw[i + 2]}`);
    assert.ok(pixels.size > 10, `${pixels.size} distinct colours`);
  });

  test("upload → render by file key → PNG in the store; stats of the same key", async () => {
    const text = "first line of the notes\r\nsecond line\nthird\n";
    const bytes = new TextEncoder().encode(text);
    await fx.client.files.put("uploads/notes.txt", bytes, "text/plain");

    const r = await fx.client.call("image", "render", { input: "uploads/notes.txt" });
    assert.equal(r.ok, true, r.error);
    const res = r.result as { key: string; width: number; height: number; input_bytes: number };
    assert.deepEqual([res.width, res.height, res.input_bytes], [512, 256, bytes.length]);
    assertPng((await fx.client.files.getBytes(res.key)).data, 512, 256);

    const s = await fx.client.call("image", "stats", { input: "uploads/notes.txt" });
    assert.deepEqual(s, {
      ok: true,
      node: NODE,
      result: {
        key: "uploads/notes.txt",
        size: bytes.length,
        content_type: "text/plain",
        sha256: createHash("sha256").update(bytes).digest("hex"),
        etag_matches: true,
        text: true,
        lines: 3,
        first_line: "first line of the notes",
      },
    });
  });

  test("stats of a binary file", async () => {
    await fx.client.files.put("uploads/blob.bin", Uint8Array.of(0, 1, 2, 0xff));
    const s = await fx.client.call("image", "stats", { input: "uploads/blob.bin" });
    assert.equal(s.ok, true, s.error);
    assert.deepEqual(
      { ...(s.result as object) },
      {
        key: "uploads/blob.bin",
        size: 4,
        content_type: "application/octet-stream",
        sha256: createHash("sha256").update(Uint8Array.of(0, 1, 2, 0xff)).digest("hex"),
        etag_matches: true,
        text: false,
        lines: 0,
        first_line: "",
      },
    );
  });

  test("useful errors: missing key, local path, no input, bad size", async () => {
    const missing = await fx.client.call("image", "stats", { input: "uploads/nope.txt" });
    assert.equal(missing.ok, false);
    assert.match(missing.error ?? "", /no object "uploads\/nope.txt"/);

    const local = await fx.client.call("image", "render", { input: "/etc/passwd" });
    assert.equal(local.ok, false);
    assert.match(local.error ?? "", /input must be a file store key/);

    const none = await fx.client.call("image", "render", {});
    assert.equal(none.ok, false);
    assert.match(none.error ?? "", /give input .* or text/);

    const big = await fx.client.call("image", "render", { text: "x", width: 100_000 });
    assert.equal(big.ok, false);
    assert.equal(big.error, "width must be at most 2048, got 100000");

    const noKey = await fx.client.call("image", "stats", {});
    assert.equal(noKey.ok, false);
    assert.match(noKey.error ?? "", /^input is required/);
  });

  test("schemas describe the file-key input", async () => {
    const render = await publishedSchema(fx.client, "image", "render");
    const props = render.properties as Record<string, { type: string; description: string }>;
    assert.equal(props.input?.type, "string");
    assert.match(props.input?.description ?? "", /File store key/);
    assert.deepEqual((await publishedSchema(fx.client, "image", "stats")).required, ["input"]);
  });
});
