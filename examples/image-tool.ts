/**
 * Example node: a file tool working through the mesh file store.
 *
 * - `image.render` draws a PNG bar chart (a histogram of byte values) of an input
 *   taken from the file store (`input`: a store key) or given inline (`text`), puts
 *   it into the store under `outputs/<id>.png` and returns its key.
 * - `image.stats` reads a text file from the store by key and returns its size,
 *   SHA-256 and first line: the upload → tool path in its simplest form.
 *
 *   MESH_NODE=img1 npx tsx examples/image-tool.ts
 *
 *   // from any caller:
 *   await mesh.files.put("uploads/notes.txt", bytes, "text/plain");
 *   const { result } = await mesh.call("image", "render", { input: "uploads/notes.txt" });
 *   const png = (await mesh.files.getBytes(result.key)).data;
 *
 * File keys follow the contract: a param named `input` whose value contains "/" and
 * is not a local path or URL is a store key. The handlers fetch the key themselves,
 * so run them on a mesh without `resolveFileParams` (the default).
 */
import { createHash, randomUUID } from "node:crypto";
import { isFileKeyParam, type JsonObject, type Mesh, type ToolDefinition } from "mesh-mcp";
import { numberParam, runIfMain, stringParam } from "./common.js";
import { RgbImage, encodePng } from "./png.js";

export const IMAGE_TOOL = "image";
/** Largest input the tool reads from the store. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

type Rgb = readonly [number, number, number];

/** Colour of a bar by the kind of byte it counts. */
function classColour(byte: number): Rgb {
  if (byte >= 0x61 && byte <= 0x7a) return [80, 200, 120]; // a-z
  if (byte >= 0x41 && byte <= 0x5a) return [60, 160, 230]; // A-Z
  if (byte >= 0x30 && byte <= 0x39) return [240, 200, 60]; // 0-9
  if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) return [150, 150, 150]; // whitespace
  if (byte < 0x20 || byte === 0x7f) return [230, 70, 70]; // control
  if (byte >= 0x80) return [170, 100, 220]; // non-ASCII
  return [240, 140, 60]; // punctuation
}

/** Draws the histogram of `data`'s byte values (256 bins spread over the width, square-root scale) on a gradient. */
export function drawByteHistogram(data: Uint8Array, width: number, height: number): RgbImage {
  const img = new RgbImage(width, height);
  // Background: a vertical gradient from dark blue to near black.
  for (let y = 0; y < height; y++) {
    const t = y / Math.max(1, height - 1);
    img.fillRect(0, y, width, 1, [Math.round(20 + 10 * t), Math.round(30 + 10 * t), Math.round(70 - 50 * t)]);
  }
  const counts = new Float64Array(256);
  for (const b of data) counts[b]!++;
  const columns = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const lo = Math.floor((x * 256) / width);
    const hi = Math.max(lo + 1, Math.floor(((x + 1) * 256) / width));
    for (let bin = lo; bin < hi; bin++) columns[x]! += counts[bin]!;
  }
  const max = Math.max(0, ...columns);
  const top = 4; // margin above the tallest bar
  const baseline = height - 1;
  img.fillRect(0, baseline, width, 1, [200, 200, 200]);
  if (max === 0) return img;
  for (let x = 0; x < width; x++) {
    const value = columns[x]!;
    if (value === 0) continue;
    // Square-root scale, so that rare bytes stay visible next to spaces and vowels.
    const barHeight = Math.max(1, Math.round(Math.sqrt(value / max) * (baseline - top)));
    const [r, g, b] = classColour(Math.floor((x * 256) / width));
    for (let i = 0; i < barHeight; i++) {
      // Brighter towards the top of the bar.
      const shade = 0.55 + (0.45 * i) / barHeight;
      img.set(x, baseline - 1 - i, [Math.round(r * shade), Math.round(g * shade), Math.round(b * shade)]);
    }
  }
  return img;
}

/** The store key in `params.input`, or an error saying what a key looks like. */
function inputKey(params: JsonObject, required: boolean): string {
  const value = stringParam(params, "input");
  if (value === "") {
    if (required) throw new Error('input is required: a file store key such as "uploads/notes.txt"');
    return "";
  }
  if (!isFileKeyParam("input", value)) {
    throw new Error(
      `input must be a file store key such as "uploads/notes.txt" (it contains "/" and is not a local path or URL), ` +
        `got ${JSON.stringify(value)}; upload the file first (files.put)`,
    );
  }
  return value;
}

export function imageTool(mesh: Mesh): ToolDefinition {
  return {
    name: IMAGE_TOOL,
    version: "1.0.0",
    description: "Draws PNG charts of inputs from the mesh file store, and inspects stored files",
    methods: {
      render: {
        schema: {
          type: "object",
          description:
            "Draw a PNG bar chart (histogram of byte values) of a file from the mesh file store (input) or of inline text, " +
            "store it under outputs/<id>.png and return its key.",
          properties: {
            input: { type: "string", description: 'File store key of the input, e.g. "uploads/notes.txt". Either input or text.' },
            text: { type: "string", description: "Inline text to chart instead of a stored file." },
            width: { type: "integer", description: "Image width in pixels (16-2048).", default: 512 },
            height: { type: "integer", description: "Image height in pixels (16-2048).", default: 256 },
          },
          required: [],
        },
        handler: async (params) => {
          const width = numberParam(params, "width", { default: 512, min: 16, max: 2048, integer: true });
          const height = numberParam(params, "height", { default: 256, min: 16, max: 2048, integer: true });
          const key = inputKey(params, false);
          const text = stringParam(params, "text");
          if (key && text) throw new Error("give either input (a file store key) or text, not both");
          let data: Uint8Array;
          if (key) data = (await mesh.files.getBytes(key, MAX_INPUT_BYTES)).data;
          else if ("text" in params) data = new TextEncoder().encode(text);
          else throw new Error('give input (a file store key such as "uploads/notes.txt") or text');

          const png = encodePng(drawByteHistogram(data, width, height));
          const outKey = `outputs/${randomUUID()}.png`;
          const info = await mesh.files.put(outKey, png, "image/png");
          return { key: info.key, content_type: "image/png", width, height, size: png.length, input_bytes: data.length };
        },
      },
      stats: {
        schema: {
          type: "object",
          description: "Read a file from the mesh file store and return its size, SHA-256, content type and first line.",
          properties: {
            input: { type: "string", description: 'File store key, e.g. "uploads/notes.txt".' },
          },
          required: ["input"],
        },
        handler: async (params) => {
          const key = inputKey(params, true);
          const { info, data } = await mesh.files.getBytes(key, MAX_INPUT_BYTES);
          const sha256 = createHash("sha256").update(data).digest("hex");
          let text: string | undefined;
          try {
            text = data.includes(0) ? undefined : new TextDecoder("utf-8", { fatal: true }).decode(data);
          } catch {
            text = undefined; // not UTF-8
          }
          const lines = text === undefined ? 0 : text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
          return {
            key,
            size: data.length,
            content_type: info.contentType,
            sha256,
            etag_matches: info.etag === "" ? null : info.etag === sha256,
            text: text !== undefined,
            lines,
            first_line: text === undefined ? "" : (text.split("\n", 1)[0] ?? "").replace(/\r$/, "").slice(0, 200),
          };
        },
      },
    },
  };
}

export async function registerImageTool(mesh: Mesh): Promise<void> {
  await mesh.registerTool(imageTool(mesh));
}

runIfMain(import.meta.url, "image", registerImageTool);
