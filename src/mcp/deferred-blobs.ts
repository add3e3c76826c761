/**
 * Large base64 blobs encoded while they are written, not before. A `resources/read` of a
 * big file held the raw bytes, the whole base64 string (4/3 of them) and the write's own
 * copies at once: 2.57× the file in RSS over HTTP. A session that asks for it
 * (SessionOptions.deferLargeBlobs, the HTTP transport's sessions) gets a short stand-in
 * string in the result instead; the transport that writes the answer finds it in the
 * JSON text and writes the base64 of the bytes slice by slice (`deferredParts`).
 *
 * The stand-in is a plain string (no character JSON escapes), so the result passes
 * through the SDK untouched. Bytes nobody wrote (the client went away, the answer was
 * dropped) are forgotten after a minute.
 */
import { randomUUID } from "node:crypto";

/** Blobs from this many bytes on are deferred (smaller ones are cheap to encode whole). */
export const DEFER_MIN_BYTES = 1 << 20;
const FORGET_AFTER_MS = 60_000;

const PREFIX = `mesh-mcp-deferred-base64-${randomUUID()}-`;
const FOUND = new RegExp(`${PREFIX}(\\d+)`);
const waiting = new Map<number, { bytes: Uint8Array; timer: NodeJS.Timeout }>();
let next = 0;

/** A stand-in for `Buffer.from(bytes).toString("base64")`, to be expanded by `deferredParts`. */
export function deferBase64(bytes: Uint8Array): string {
  const n = next++;
  const timer = setTimeout(() => waiting.delete(n), FORGET_AFTER_MS);
  timer.unref();
  waiting.set(n, { bytes, timer });
  return `${PREFIX}${n}`;
}

/**
 * The JSON text split into its literal text and the bytes whose base64 goes between
 * (each taken out of the registry), or undefined when the text has no stand-in.
 */
export function deferredParts(json: string): Array<string | Uint8Array> | undefined {
  if (!json.includes(PREFIX)) return undefined;
  const split = json.split(FOUND);
  const parts: Array<string | Uint8Array> = [];
  for (let i = 0; i < split.length; i++) {
    if (i % 2 === 0) {
      if (split[i]) parts.push(split[i]!);
      continue;
    }
    const n = Number(split[i]);
    const entry = waiting.get(n);
    if (!entry) throw new Error("a deferred resource blob was already written or forgotten");
    clearTimeout(entry.timer);
    waiting.delete(n);
    parts.push(entry.bytes);
  }
  return parts;
}

/** Byte length of the parts once written (base64 of the bytes, UTF-8 of the text). */
export function partsByteLength(parts: Array<string | Uint8Array>): number {
  let n = 0;
  for (const p of parts) n += typeof p === "string" ? Buffer.byteLength(p) : 4 * Math.ceil(p.byteLength / 3);
  return n;
}

/**
 * Base64 slice size in bytes: a multiple of 3, so slices concatenate into one valid
 * encoding, and small enough (64 KB of text) that each slice dies young: 1 MB slices
 * were large-object-space strings that waited for a full GC (2.83× the file at 50 MB
 * instead of 2.14×, and 2.5× slower).
 */
const SLICE = 3 * (1 << 14);

/** The parts as text pieces, the bytes encoded slice by slice (for a writer that waits for drain between them). */
export function* partsText(parts: Array<string | Uint8Array>): Generator<string> {
  for (const p of parts) {
    if (typeof p === "string") {
      yield p;
      continue;
    }
    for (let at = 0; at < p.byteLength; at += SLICE) {
      const end = Math.min(p.byteLength, at + SLICE);
      yield Buffer.from(p.buffer, p.byteOffset + at, end - at).toString("base64");
    }
  }
}
