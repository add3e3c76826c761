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

export function errorResult(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
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
      if (v.length < 256 && KEY_LIKE.test(v)) out.add(v);
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
}

/** Links (and small images inline) for file-store keys found in a result. */
async function fileContent(result: unknown, opts: ResultOptions): Promise<Content[]> {
  const files = opts.files;
  if (!files) return [];
  const found = await Promise.all(
    keyCandidates(result).map((k) => files.head(k).catch(() => undefined)),
  );
  const out: Content[] = [];
  for (const info of found) {
    if (!info) continue;
    out.push({
      type: "resource_link",
      uri: fileUri(info.key),
      name: info.key,
      mimeType: info.contentType || undefined,
      size: info.size,
      description: `mesh file store object (${info.size} bytes)`,
    } as Content);
    if (info.contentType.startsWith("image/") && info.size <= opts.inlineImageMax) {
      const got = await files.getBytes(info.key, opts.inlineImageMax).catch(() => undefined);
      if (got) out.push({ type: "image", data: Buffer.from(got.data).toString("base64"), mimeType: info.contentType });
    }
  }
  return out;
}

/** An `ok:true` result: text (+ structuredContent for objects), file links, inline images. */
export async function okResult(result: unknown, opts: ResultOptions): Promise<CallToolResult> {
  const content: Content[] = [{ type: "text", text: textOf(result) }];
  // A result that *is* an image (e.g. files.get of a PNG): show it.
  if (isPlainObject(result) && typeof result.data === "string" && typeof result.content_type === "string" &&
      result.content_type.startsWith("image/") && result.data.length * 0.75 <= opts.inlineImageMax) {
    content.push({ type: "image", data: result.data, mimeType: result.content_type });
  }
  content.push(...(await fileContent(result, opts)));
  const out: CallToolResult = { content };
  if (isPlainObject(result)) out.structuredContent = result;
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
