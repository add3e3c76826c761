/**
 * Mesh outcomes → MCP CallToolResult. A mesh failure is a tool failure
 * (`isError: true` with a message that says what to do), never a JSON-RPC error.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
// Error classes from errors.js, not index.js: keeps NATS out of the modules loaded before `initialize`.
import {
  MalformedReplyError,
  MeshCancelledError,
  MeshTimeoutError,
  NoRespondersError,
  NotConnectedError,
  StreamInactivityError,
} from "../mesh/errors.js";
import type { FileStore } from "../mesh/index.js";
import { scrub } from "../mesh/secrets.js";
import { fitsInline, largeResult } from "./large-results.js";

type Content = CallToolResult["content"][number];

export const FILE_URI_PREFIX = "mesh://files/";

/** `mesh://files/<key>` with each path segment encoded. */
export function fileUri(key: string): string {
  return FILE_URI_PREFIX + key.split("/").map(encodeURIComponent).join("/");
}

/** The store key of a `mesh://files/...` URI, or undefined. */
export function keyFromUri(uri: string): string | undefined {
  if (!uri.startsWith(FILE_URI_PREFIX)) return undefined;
  const rest = uri.slice(FILE_URI_PREFIX.length);
  try {
    return rest.split("/").map(decodeURIComponent).join("/");
  } catch {
    return undefined;
  }
}

/** A tool failure; its text never carries a credential (mesh/secrets.ts). */
export function errorResult(text: string): CallToolResult {
  return { content: [{ type: "text", text: scrub(text) }], isError: true };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "null";
  return JSON.stringify(value, null, 2);
}

// Segments of letters, digits, `_ . -`, with single inner spaces ("uploads/ab12/My Photo.png"): keys come from file names.
const KEY_LIKE = /^(?=[\p{L}\p{N}_])[\p{L}\p{N}_.\-]+(?: [\p{L}\p{N}_.\-]+)*(?:\/[\p{L}\p{N}_.\-]+(?: [\p{L}\p{N}_.\-]+)*)+$/u;

/** Strings in a result that look like file-store keys (bounded walk). */
export function keyCandidates(value: unknown, limit = 8): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, depth: number) => {
    if (out.size >= limit || depth > 4) return;
    if (typeof v === "string") {
      if (v.length < 256 && v.includes("/") && KEY_LIKE.test(v)) out.add(v);
    } else if (Array.isArray(v)) {
      for (const x of v.slice(0, 50)) walk(x, depth + 1);
    } else if (isPlainObject(v)) {
      for (const x of Object.values(v).slice(0, 50)) walk(x, depth + 1);
    }
  };
  walk(value, 0);
  return [...out];
}

export interface ResultOptions {
  files?: FileStore;
  inlineImageMax: number;
  /** Also add `resource_link` blocks (off by default: see fileNote). */
  resourceLinks?: boolean;
  /** Above this many bytes the result goes to the file store (large-results.ts). */
  resultMax?: number;
}

/** A file a Python tool attached (jb-service `attach_file` → `__mesh_files__`). */
interface MeshFileRef {
  key: string;
  contentType?: string;
  size?: number;
  filename?: string;
}

export const MESH_FILES = "__mesh_files__";

/** The `__mesh_files__` list of a result, in either shape jb-service produces (bounded). */
export function meshFileRefs(result: unknown): MeshFileRef[] {
  if (!isPlainObject(result) || !Array.isArray(result[MESH_FILES])) return [];
  const out: MeshFileRef[] = [];
  for (const r of (result[MESH_FILES] as unknown[]).slice(0, 50)) {
    if (!isPlainObject(r) || typeof r.key !== "string" || r.key === "" || r.key.length > 1024) continue;
    out.push({
      key: r.key,
      contentType: typeof r.content_type === "string" && r.content_type ? r.content_type : undefined,
      size: typeof r.size === "number" && Number.isFinite(r.size) ? r.size : undefined,
      filename: typeof r.filename === "string" && r.filename ? r.filename : undefined,
    });
  }
  return out;
}

/** What the agent reads: a `{value, __mesh_files__}` wrapper shows its value; the files come as links. */
function shownValue(result: unknown): unknown {
  if (!isPlainObject(result) || !(MESH_FILES in result)) return result;
  const keys = Object.keys(result);
  if (keys.length === 2 && "value" in result) return result.value;
  const { [MESH_FILES]: _files, ...rest } = result;
  return rest;
}

/**
 * What a result says about one file. Agents run on model providers, and a `resource_link`
 * reaches them as a file URL they cannot fetch (`mesh://…`): LangChain's OpenAI and
 * Anthropic classes throw on it, the AI SDK passes it on as JSON text. So each file gets
 * a text line (key, type, size, the resource URI to read it) that every client and
 * provider accepts, a small image also goes inline as `image` content (the one binary
 * block all of them take), and a `resource_link` only with --resource-links.
 */
function fileNote(key: string, contentType: string | undefined, size: number | undefined, name: string | undefined,
  image: Content | undefined, opts: ResultOptions): Content[] {
  const label = name && name !== key ? `${name} (${key})` : key;
  const facts = [contentType, size !== undefined ? `${size} bytes` : undefined].filter(Boolean).join(", ");
  const out: Content[] = [{
    type: "text",
    text: `mesh file ${label}${facts ? ` (${facts})` : ""}${image ? ", the image follows" : ""}; ` +
      `pass the key to a tool, or read ${fileUri(key)} as an MCP resource.`,
  }];
  if (image) out.push(image);
  if (opts.resourceLinks) {
    out.push({
      type: "resource_link",
      uri: fileUri(key),
      name: label,
      mimeType: contentType || undefined,
      ...(size !== undefined ? { size } : {}),
      description: `mesh file store object${size !== undefined ? ` (${size} bytes)` : ""}; read it as a resource`,
    } as Content);
  }
  return out;
}

async function inlineImage(files: FileStore, key: string, contentType: string, size: number | undefined, max: number): Promise<Content | undefined> {
  if (!contentType.startsWith("image/") || (size !== undefined && size > max)) return undefined;
  const got = await files.getBytes(key, max).catch(() => undefined);
  if (!got) return undefined;
  return { type: "image", data: Buffer.from(got.data).toString("base64"), mimeType: got.info.contentType || contentType };
}

/**
 * A note per attached file and file-store key found in a result (small images inline).
 * Synchronous (an empty list) when the result names no file: the everyday call does not
 * pay for an await (each costs a few µs on a cold call path, BENCHMARKS.md §10).
 */
function fileContent(result: unknown, opts: ResultOptions): Content[] | Promise<Content[]> {
  const refs = meshFileRefs(result);
  const candidates = opts.files ? keyCandidates(shownValue(result)) : [];
  if (refs.length === 0 && candidates.length === 0) return [];
  return fileNotes(refs, candidates, opts);
}

async function fileNotes(refs: MeshFileRef[], candidates: string[], opts: ResultOptions): Promise<Content[]> {
  const files = opts.files;
  const out: Content[] = [];
  const seen = new Set<string>();
  for (const ref of refs) {
    if (seen.has(ref.key)) continue;
    seen.add(ref.key);
    // The tool said what it stored; the store says it better when it can (size, type of a re-put key).
    const info = files ? await files.head(ref.key).catch(() => undefined) : undefined;
    const contentType = info?.contentType || ref.contentType;
    const size = info?.size ?? ref.size;
    const img = files && contentType ? await inlineImage(files, ref.key, contentType, size, opts.inlineImageMax) : undefined;
    out.push(...fileNote(ref.key, contentType, size, ref.filename, img, opts));
  }
  const unseen = candidates.filter((k) => !seen.has(k));
  if (!files || unseen.length === 0) return out;
  const found = await Promise.all(unseen.map((k) => files.head(k).catch(() => undefined)));
  for (const info of found) {
    if (!info) continue;
    const img = await inlineImage(files, info.key, info.contentType, info.size, opts.inlineImageMax);
    out.push(...fileNote(info.key, info.contentType, info.size, undefined, img, opts));
  }
  return out;
}

/** Above this many characters of text, the result is not repeated as structuredContent. */
export const STRUCTURED_DUPLICATE_MAX = 64 * 1024;

/**
 * An `ok:true` result: text (+ structuredContent for objects), file notes, inline images.
 * No payload goes out twice: an image shown inline is left out of the text, and a large
 * text is not repeated as structuredContent.
 */
export async function okResult(result: unknown, opts: ResultOptions): Promise<CallToolResult> {
  const shown = shownValue(result);
  let textValue: unknown = shown;
  const extra: Content[] = [];
  // A result that *is* an image (e.g. files.get of a PNG): show it, and not its base64 again as text.
  if (isPlainObject(shown) && typeof shown.data === "string" && typeof shown.content_type === "string" &&
      shown.content_type.startsWith("image/") && shown.data.length * 0.75 <= opts.inlineImageMax) {
    extra.push({ type: "image", data: shown.data, mimeType: shown.content_type });
    textValue = { ...shown, data: `(${Math.floor(shown.data.length * 0.75)} bytes of ${shown.content_type}, shown as an image below)` };
  }
  const text = textOf(textValue);
  const large = fitsInline(text, opts) ? undefined : await largeResult(shown, text, opts);
  if (large) {
    large.content.push(...extra, ...(await fileContent(result, opts)));
    return large;
  }
  const content: Content[] = [{ type: "text", text }, ...extra];
  const notes = fileContent(result, opts);
  content.push(...(Array.isArray(notes) ? notes : await notes));
  const out: CallToolResult = { content };
  if (isPlainObject(result) && extra.length === 0 && text.length <= STRUCTURED_DUPLICATE_MAX) out.structuredContent = result;
  return out;
}

/** An `ok:false` reply: the node's error and the node's name. */
export function nodeErrorResult(error: string | undefined, node: string, key: string): CallToolResult {
  return errorResult(`${key} failed on node ${node || "(unknown)"}: ${error || "the node gave no error text"}`);
}

/** Any thrown mesh error → an isError result naming what happened and what to do. */
export function thrownResult(err: unknown, key: string): CallToolResult {
  if (err instanceof NoRespondersError) {
    return errorResult(`${key}: no node answers right now (no responders). The tool may have just gone away; check the mesh with the mesh://nodes resource or 'mesh-mcp doctor'.`);
  }
  if (err instanceof MeshTimeoutError) return errorResult(`${key}: timed out after ${Math.round(err.timeoutMs / 1000)} s; the call was cancelled on the mesh. Raise --call-timeout for longer jobs.`);
  if (err instanceof StreamInactivityError) return errorResult(`${key}: ${err.message}`);
  if (err instanceof MeshCancelledError && err.cause instanceof MeshTimeoutError) return thrownResult(err.cause, key);
  if (err instanceof MeshCancelledError) return errorResult(`${key}: cancelled; cancel.${err.callId} was sent to the node.`);
  if (err instanceof MalformedReplyError) return errorResult(`${key}: ${err.message}`);
  if (err instanceof NotConnectedError) return errorResult(`${key}: ${err.message}`);
  return errorResult(`${key}: ${(err as Error)?.message ?? String(err)}`);
}
