/**
 * The mesh file store: JetStream Object Store bucket `mesh-files`, with the
 * `files.*` request/reply subjects as a fallback where JetStream is not reachable
 * (e.g. a leaf node without JetStream).
 */
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { headers as natsHeaders, nanos, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { Objm, StorageType, type ObjectInfo, type ObjectStore } from "@nats-io/obj";
import type { z } from "zod";
import { parseReply } from "./call.js";
import { FileNotFoundError, MeshError } from "./errors.js";
import { FILES_BUCKET, filesSubject, type FileOp } from "./subjects.js";
import {
  FileDeleteResultWire,
  FileGetResultWire,
  FileHeadResultWire,
  FileListResultWire,
  FilePutResultWire,
  type FileInfo,
} from "./types.js";

export type FileStoreMode = "objectstore" | "nats";

export interface FileStoreOptions {
  bucket?: string;
  /** TTL of a bucket this store creates (default 1 h, like jb-mesh). */
  ttlMs?: number;
  /** "auto" (default): Object Store when JetStream answers, else `files.*`. */
  mode?: "auto" | FileStoreMode;
  /** Timeout of one `files.*` request (default 30 s, like the Go resolver). */
  requestTimeoutMs?: number;
  /** Poll interval of `watch()` in `files.*` mode (default 5 s). */
  pollMs?: number;
}

export interface FileWatchEvent {
  key: string;
  deleted: boolean;
  info?: FileInfo;
}

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function headerOf(h: MsgHdrs | Record<string, string[]> | undefined, name: string): string {
  if (!h) return "";
  if (typeof (h as MsgHdrs).get === "function") return (h as MsgHdrs).get(name) ?? "";
  const rec = h as Record<string, string[]>;
  const k = Object.keys(rec).find((x) => x.toLowerCase() === name.toLowerCase());
  return k ? (rec[k]?.[0] ?? "") : "";
}

/**
 * Python tools (jb-service `attach_file`, through nats-py) store no headers: their
 * object description is `"<content type>;etag=<hex>"`. Parsed only when it has that form.
 */
export function parseTypedDescription(description: string | undefined): { contentType: string; etag: string } | undefined {
  const m = /^([\w.+-]+\/[\w.+-]+(?:\s*;\s*[\w.-]+=[^;]*)*?)\s*;\s*etag=([0-9a-f]*)\s*$/i.exec(description ?? "");
  return m ? { contentType: m[1]!.trim(), etag: m[2]!.toLowerCase() } : undefined;
}

function infoFromObject(o: ObjectInfo): FileInfo {
  const h = o.headers as MsgHdrs | Record<string, string[]> | undefined;
  const typed = parseTypedDescription(o.description);
  return {
    key: o.name,
    size: o.size,
    contentType: headerOf(h, "Content-Type") || typed?.contentType || "",
    etag: headerOf(h, "ETag") || typed?.etag || "",
    created: o.mtime,
  };
}

async function* bytesOf(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

export class FileStore {
  private store?: ObjectStore;
  private resolved?: Promise<FileStoreMode>;
  readonly bucket: string;
  /** Ends every watch (close). */
  private readonly closing = new AbortController();
  /** Watch setups in progress: close waits for them (see close()). */
  private readonly setups = new Set<Promise<unknown>>();

  constructor(private readonly nc: NatsConnection, private readonly opts: FileStoreOptions = {}) {
    this.bucket = opts.bucket ?? FILES_BUCKET;
  }

  /** Which path this store uses; decided once, on first use. */
  mode(): Promise<FileStoreMode> {
    this.resolved ??= this.resolveMode().catch((err) => {
      this.resolved = undefined; // try again next time
      throw err;
    });
    return this.resolved;
  }

  private async resolveMode(): Promise<FileStoreMode> {
    if (this.opts.mode === "nats") return "nats";
    try {
      const objm = new Objm(this.nc);
      try {
        this.store = await objm.open(this.bucket);
      } catch {
        this.store = await objm.create(this.bucket, {
          storage: StorageType.File,
          ttl: nanos(this.opts.ttlMs ?? 3_600_000),
          description: "jb-mesh file store",
        });
      }
      return "objectstore";
    } catch (err) {
      if (this.opts.mode === "objectstore") {
        throw new MeshError(`JetStream Object Store "${this.bucket}" is not reachable: ${(err as Error).message}`, {
          cause: err,
        });
      }
      return "nats";
    }
  }

  private async os(): Promise<ObjectStore | undefined> {
    return (await this.mode()) === "objectstore" ? this.store : undefined;
  }

  private async request<T extends z.ZodType>(op: FileOp, body: unknown, schema: T): Promise<z.output<T>> {
    const subject = filesSubject(op);
    let msg;
    try {
      msg = await this.nc.request(subject, JSON.stringify(body), { timeout: this.opts.requestTimeoutMs ?? 30_000 });
    } catch (err) {
      const e = err as { isNoResponders?: () => boolean };
      if (e.isNoResponders?.()) {
        throw new MeshError(
          `no node serves ${subject} and JetStream is not reachable from here: start a node with a file store, or enable JetStream`,
          { cause: err },
        );
      }
      throw new MeshError(`${subject} failed: ${(err as Error).message}`, { cause: err });
    }
    return parseReply(subject, msg.data, schema);
  }

  /** Stores `data` under `key` with `Content-Type` and `ETag` (hex SHA-256) headers. */
  async put(key: string, data: Uint8Array, contentType = DEFAULT_CONTENT_TYPE): Promise<FileInfo> {
    if (!key) throw new MeshError("key is required");
    const etag = sha256Hex(data);
    const os = await this.os();
    if (os) {
      const info = await os.put(this.meta(key, contentType, etag), Readable.toWeb(Readable.from(bytesOf(data))) as ReadableStream<Uint8Array>);
      return { ...infoFromObject(info), contentType, etag };
    }
    const r = await this.request("put", { key, data: Buffer.from(data).toString("base64"), content_type: contentType }, FilePutResultWire);
    if (!r.ok) throw new MeshError(`files.put ${key}: ${r.error ?? "failed"}`);
    return { key: r.key ?? key, size: r.size ?? data.length, contentType: r.content_type ?? contentType, etag: r.etag ?? etag, created: new Date().toISOString() };
  }

  /** Uploads a local file by path (see putOpenFile). */
  async putFile(key: string, path: string, contentType = DEFAULT_CONTENT_TYPE): Promise<FileInfo> {
    const handle = await open(path, "r");
    try {
      return await this.putOpenFile(key, handle, contentType);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * Uploads from an open file, reading only through that handle (the caller checked
   * what it opened; a path could be swapped under us). Hashes it first (one pass), then
   * streams it (second pass) so memory stays flat. The caller closes the handle.
   */
  async putOpenFile(key: string, handle: FileHandle, contentType = DEFAULT_CONTENT_TYPE): Promise<FileInfo> {
    const os = await this.os();
    if (!os) return this.put(key, new Uint8Array(await handle.readFile()), contentType);
    const pass = () => handle.createReadStream({ start: 0, autoClose: false, emitClose: false });
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of pass()) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const etag = hash.digest("hex");
    const info = await os.put(this.meta(key, contentType, etag), Readable.toWeb(pass()) as ReadableStream<Uint8Array>);
    return { ...infoFromObject(info), size, contentType, etag };
  }

  private meta(key: string, contentType: string, etag: string) {
    const h = natsHeaders();
    h.set("Content-Type", contentType);
    h.set("ETag", etag);
    return { name: key, headers: h };
  }

  /** Metadata of `key`; throws FileNotFoundError when there is none. */
  async head(key: string): Promise<FileInfo> {
    const os = await this.os();
    if (os) {
      const info = await os.info(key);
      if (!info || info.deleted) throw new FileNotFoundError(key);
      return infoFromObject(info);
    }
    const r = await this.request("head", { key }, FileHeadResultWire);
    if (!r.ok) throw notFoundOr(key, r.error);
    return { key: r.key ?? key, size: r.size ?? 0, contentType: r.content_type ?? "", etag: r.etag ?? "", created: r.created ?? "" };
  }

  /**
   * Content as a stream, with `info` and a `done` promise that rejects when the
   * object turned out corrupt (digest mismatch). In `files.*` mode the whole
   * content travels in one reply (small files only: NATS' max payload applies).
   */
  async get(key: string): Promise<{ info: FileInfo; data: ReadableStream<Uint8Array>; done: Promise<void> }> {
    const os = await this.os();
    if (os) {
      const r = await os.get(key);
      if (!r) throw new FileNotFoundError(key);
      return { info: infoFromObject(r.info), data: r.data, done: r.error.then((e) => (e ? Promise.reject(e) : undefined)) };
    }
    const { info, data } = await this.getBytes(key);
    return { info, data: Readable.toWeb(Readable.from(bytesOf(data))) as ReadableStream<Uint8Array>, done: Promise.resolve() };
  }

  /** Whole content. `maxBytes` refuses larger objects before downloading them. */
  async getBytes(key: string, maxBytes?: number): Promise<{ info: FileInfo; data: Uint8Array }> {
    const os = await this.os();
    if (os) {
      const info = await this.head(key);
      if (maxBytes !== undefined && info.size > maxBytes) throw tooLarge(key, info.size, maxBytes);
      // Not os.getBlob: it keeps every chunk and then concatenates them (twice the size in memory).
      const r = await os.get(key);
      if (!r) throw new FileNotFoundError(key);
      const data = await readAll(r.data, r.info.size);
      const err = await r.error;
      if (err) throw err;
      return { info, data };
    }
    const r = await this.request("get", { key }, FileGetResultWire);
    if (!r.ok) throw notFoundOr(key, r.error);
    const decoded = Buffer.from(r.data ?? "", "base64");
    const data = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    if (maxBytes !== undefined && data.length > maxBytes) throw tooLarge(key, data.length, maxBytes);
    return {
      info: { key: r.key ?? key, size: r.size ?? data.length, contentType: r.content_type ?? "", etag: r.etag ?? "", created: "" },
      data,
    };
  }

  async delete(key: string): Promise<void> {
    const os = await this.os();
    if (os) {
      const info = await os.info(key);
      if (!info || info.deleted) throw new FileNotFoundError(key);
      await os.delete(key);
      return;
    }
    const r = await this.request("delete", { key }, FileDeleteResultWire);
    if (!r.ok) throw notFoundOr(key, r.error);
  }

  /** Objects whose key starts with `prefix`, sorted by key. */
  async list(prefix = ""): Promise<FileInfo[]> {
    const os = await this.os();
    let files: FileInfo[];
    if (os) {
      const all = await os.list();
      files = all.filter((o) => !o.deleted && o.name.startsWith(prefix)).map(infoFromObject);
    } else {
      const r = await this.request("list", { prefix }, FileListResultWire);
      if (!r.ok) throw new MeshError(`files.list: ${r.error ?? "failed"}`);
      files = (r.files ?? []).map((f) => ({ key: f.key, size: f.size, contentType: f.content_type, etag: f.etag, created: f.created }));
    }
    return files.sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * Ends every watch. A watch whose setup is under way is let finish first and then
   * stopped: the JetStream client starts the consumer's heartbeat timer before it
   * subscribes, and a subscribe on a closing connection throws and leaves that timer
   * running for ever (the process never exits). Call before closing the connection.
   */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.setups]);
  }

  /**
   * Changes to the store as they happen (not the existing objects). Object Store
   * mode uses the bucket's watch; `files.*` mode polls `list`. Stop with the signal.
   */
  async *watch(outer?: AbortSignal): AsyncGenerator<FileWatchEvent> {
    const signal = outer ? AbortSignal.any([outer, this.closing.signal]) : this.closing.signal;
    if (signal.aborted) return;
    const os = await this.os();
    if (signal.aborted) return;
    if (os) {
      const setup = os.watch({ includeHistory: false });
      this.setups.add(setup);
      let iter;
      try {
        iter = await setup;
      } finally {
        this.setups.delete(setup);
      }
      const stop = () => iter.stop();
      if (signal.aborted) return stop();
      signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const o of iter) {
          if (!o) continue;
          yield o.deleted ? { key: o.name, deleted: true } : { key: o.name, deleted: false, info: infoFromObject(o) };
        }
      } finally {
        signal.removeEventListener("abort", stop);
        iter.stop();
      }
      return;
    }
    let known = new Map((await this.list()).map((f) => [f.key, f.etag + f.created]));
    while (!signal.aborted) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.opts.pollMs ?? 5000);
        signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
      });
      if (signal.aborted) return;
      const now = await this.list().catch(() => undefined);
      if (!now) continue;
      const next = new Map(now.map((f) => [f.key, f.etag + f.created]));
      for (const f of now) if (known.get(f.key) !== next.get(f.key)) yield { key: f.key, deleted: false, info: f };
      for (const k of known.keys()) if (!next.has(k)) yield { key: k, deleted: true };
      known = next;
    }
  }
}

/** Reads a stream into one buffer of the expected size (grown if the stream brings more). */
async function readAll(stream: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  let out = new Uint8Array(size);
  let at = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, at + value.length));
      grown.set(out.subarray(0, at));
      out = grown;
    }
    out.set(value, at);
    at += value.length;
  }
  return at === out.length ? out : out.subarray(0, at);
}

function tooLarge(key: string, size: number, max: number): MeshError {
  return new MeshError(`file "${key}" is ${size} bytes, over the limit of ${max} bytes; raise the limit or fetch it another way`);
}

/** Go nodes say "object not found"; our own nodes relay FileNotFoundError's "has no object". */
function notFoundOr(key: string, error: string | undefined): MeshError {
  if (!error || /not found|no such|no object|missing/i.test(error)) return new FileNotFoundError(key);
  return new MeshError(`file store: ${error}`);
}
