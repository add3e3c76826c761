/**
 * node:http ⇄ the SDK's web-standard Streamable HTTP transport: request bodies read
 * under a size limit, web Responses written back (with backpressure and client
 * disconnects), and the per-request choice between a JSON and an SSE answer.
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
      if (size <= max) resolve({ tooLarge: false, text: Buffer.concat(chunks).toString("utf8") });
    });
    req.once("error", reject);
  });
}

/** A web Request carrying the headers the transport looks at; the body goes separately (parsed). */
export function toWebRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
  } catch {
    url = new URL(req.url ?? "/", "http://localhost");
  }
  return new Request(url, { method: req.method, headers });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** An HTTP-level failure in the shape the SDK uses: a JSON-RPC error without an id. */
export function sendRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { jsonrpc: "2.0", error: { code, message }, id: null }, headers);
}

const decoder = new TextDecoder();
const SSE_PREFIX = "event: message\ndata: ";

/** Answers up to this size may become JSON; bigger ones stream as SSE (no second parse of megabytes). */
const JSON_ANSWER_MAX = 1 << 20;

/** The JSON text of an SSE event when it is a JSON-RPC response (result or error), else undefined. */
function responseText(chunk: Uint8Array): string | undefined {
  if (chunk.byteLength > JSON_ANSWER_MAX) return undefined;
  const text = decoder.decode(chunk);
  if (!text.startsWith(SSE_PREFIX) || !text.endsWith("\n\n")) return undefined;
  const data = text.slice(SSE_PREFIX.length, -2);
  if (data.includes("\n")) return undefined;
  try {
    const msg = JSON.parse(data) as Record<string, unknown>;
    return "id" in msg && ("result" in msg || "error" in msg) ? data : undefined;
  } catch {
    return undefined;
  }
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/**
 * Writes a web Response to a node response. With `preferJson`, an SSE answer whose
 * only event is the JSON-RPC response goes out as `application/json` instead (the
 * spec lets the server choose per request): a plain call costs one JSON body, while
 * progress, keep-alives or any other message switch the answer to SSE on the spot.
 */
export async function writeWebResponse(res: ServerResponse, web: Response, preferJson: boolean): Promise<void> {
  const headers: Record<string, string> = {};
  web.headers.forEach((v, k) => (headers[k] = v));
  if (!web.body) {
    res.writeHead(web.status, headers);
    res.end();
    return;
  }
  const reader = web.body.getReader();
  // A client that goes away cancels the stream, so the transport forgets it (no 409 on reconnect).
  const onClose = () => void reader.cancel().catch(() => {});
  res.once("close", onClose);
  try {
    const pending: Uint8Array[] = [];
    if (preferJson && headers["content-type"] === "text/event-stream") {
      const first = await reader.read();
      if (!first.done) {
        pending.push(first.value);
        const json = responseText(first.value);
        if (json !== undefined) {
          const next = await reader.read();
          if (next.done) {
            for (const h of ["content-type", "cache-control", "connection", "x-accel-buffering"]) delete headers[h];
            res.writeHead(web.status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(json) });
            res.end(json);
            return;
          }
          pending.push(next.value);
        }
      }
    }
    res.writeHead(web.status, headers);
    if (pending.length) for (const chunk of pending) res.write(chunk);
    // Node holds headers back until the first body byte: send them now, so a GET
    // stream is open on the client before its first event.
    else res.flushHeaders();
    for (;;) {
      if (res.destroyed) break;
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await waitDrain(res);
    }
    res.end();
  } finally {
    res.off("close", onClose);
  }
}
