/**
 * Small node:http helpers for the HTTP transport: request bodies read under a size
 * limit, and JSON / JSON-RPC error answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type BodyResult = { tooLarge: true } | { tooLarge: false; text: string };

/**
 * Reads the request body, giving up as soon as it passes `max` bytes (the rest is
 * discarded unbuffered, so the 413 can still be written on the same connection).
 */
export function readBody(req: IncomingMessage, max: number): Promise<BodyResult> {
  if (Number(req.headers["content-length"] ?? 0) > max) return Promise.resolve({ tooLarge: true });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      if (size > max) return;
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        resolve({ tooLarge: true });
      } else chunks.push(chunk);
    });
    req.once("end", () => {
      if (size <= max) resolve({ tooLarge: false, text: (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString("utf8") });
    });
    req.once("error", reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** An HTTP-level failure in the shape the SDK uses: a JSON-RPC error without an id. */
export function sendRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}, data?: unknown): void {
  sendJson(res, status, { jsonrpc: "2.0", error: data === undefined ? { code, message } : { code, message, data }, id: null }, headers);
}
