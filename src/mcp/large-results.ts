/**
 * Results too big for one MCP message. A tool result becomes JSON-RPC text sent as
 * one message (over stdio, one line); a few megabytes of it, the same payload again
 * as structuredContent, is more than some clients take (the SDK's stdio client drops
 * the connection) and more than an agent's context wants. Above --result-max the
 * result goes into the mesh file store (the Object Store exists for exactly this) and
 * the client gets its `mesh://files/…` URI to read it in full (and, with
 * --resource-links, a resource_link), plus a preview of its start: the payload
 * appears once, and only when asked for.
 */
import { randomUUID } from "node:crypto";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { FileStore } from "../mesh/index.js";
import { fileUri } from "./results.js";

/** Default of --result-max. */
export const RESULT_MAX = 256 * 1024;
/** How much of a stored result is shown inline. */
export const PREVIEW_CHARS = 2000;

export interface LargeResultOptions {
  files?: FileStore;
  /** Bytes; 0 turns storing off. */
  resultMax?: number;
  /** Add a `resource_link` too (results.ts fileNote says why it is optional). */
  resourceLinks?: boolean;
  /** Makes the store key (tests). */
  keyOf?: (name: string) => string;
}

/** True when `text` surely fits under --result-max (no need to measure its bytes). */
export function fitsInline(text: string, opts: LargeResultOptions): boolean {
  const max = opts.resultMax ?? RESULT_MAX;
  // A UTF-8 character takes at most three bytes per UTF-16 unit.
  return max <= 0 || text.length <= max / 3;
}

/**
 * `text` is the result as the client would get it. Returns the link + preview result when
 * `text` is over the limit, undefined when it is not (or storing is off). When the store
 * is unreachable the result is returned as text once (no structuredContent copy).
 */
export async function largeResult(result: unknown, text: string, opts: LargeResultOptions): Promise<CallToolResult | undefined> {
  const max = opts.resultMax ?? RESULT_MAX;
  if (fitsInline(text, opts)) return undefined;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return undefined;
  const json = typeof result !== "string";
  const name = json ? "result.json" : "result.txt";
  const contentType = json ? "application/json" : "text/plain; charset=utf-8";
  const key = opts.keyOf?.(name) ?? `results/${randomUUID()}/${name}`;
  try {
    if (!opts.files) throw new Error("no file store");
    const info = await opts.files.put(key, bytes, contentType);
    const uri = fileUri(info.key);
    const preview = text.slice(0, PREVIEW_CHARS);
    return {
      content: [
        {
          type: "text",
          text:
            `The result is ${bytes.length} bytes, more than fits in a reply (--result-max ${max}); it is stored in the mesh file store as ` +
            `${info.key}. Read it in full with resources/read ${uri}. Its first ${preview.length} characters:\n\n${preview}\n…`,
        },
        ...(opts.resourceLinks
          ? [{ type: "resource_link" as const, uri, name: info.key, mimeType: contentType, size: bytes.length, description: "the full tool result" }]
          : []),
      ],
    };
  } catch {
    return { content: [{ type: "text", text }] };
  }
}
