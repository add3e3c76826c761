/**
 * A 2026-07-28 client of the Events extension on the wire (raw HTTP, as any client in
 * any language sends it): one request per call, and events/stream read as SSE.
 */
import { MCP_HEADERS, raw } from "./helpers.js";

export const V = "2026-07-28";
export const EVENTS_EXT = "io.modelcontextprotocol/events";
export type Msg = { result?: Record<string, any>; error?: { code: number; message: string; data?: any } };
export type Note = { method: string; params: Record<string, any> };

function envelope() {
  return {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientInfo": { name: "events-2026", version: "1" },
    "io.modelcontextprotocol/clientCapabilities": { extensions: { [EVENTS_EXT]: {} } },
  };
}

function parse(text: string): Msg {
  if (text.startsWith("{")) return JSON.parse(text);
  const data = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).filter(Boolean);
  return JSON.parse(data[data.length - 1]!);
}

let ids = 0;

export async function rpc(url: string, method: string, params: Record<string, unknown>, token?: string): Promise<Msg> {
  const r = await raw(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": method, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++ids, method, params: { ...params, _meta: envelope() } }),
  });
  return parse(r.body);
}

export interface OpenStream {
  notes: Note[];
  /** The final answer when the server ended the stream (an error for a refused subscription). */
  answer?: Msg;
  ended: Promise<void>;
  close(): void;
  /** The last cursor the stream told (active, event or heartbeat). */
  cursor(): string | undefined;
}

/** Opens an events/stream; `notes` fills as notifications arrive. */
export async function openStream(url: string, params: Record<string, unknown>, token?: string): Promise<OpenStream> {
  const abort = new AbortController();
  const id = ++ids;
  const res = await fetch(url, {
    method: "POST",
    signal: abort.signal,
    headers: { ...MCP_HEADERS, "mcp-protocol-version": V, "mcp-method": "events/stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "events/stream", params: { ...params, _meta: envelope() } }),
  });
  const s: OpenStream = {
    notes: [],
    ended: Promise.resolve(),
    close: () => abort.abort(),
    cursor() {
      for (let i = s.notes.length - 1; i >= 0; i--) {
        const c = s.notes[i]!.params?.cursor;
        if (typeof c === "string") return c;
      }
      return undefined;
    },
  };
  if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    s.answer = parse(await res.text());
    return s;
  }
  s.ended = (async () => {
    let buf = "";
    for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString();
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const data = buf.slice(0, at).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
        buf = buf.slice(at + 2);
        if (!data) continue;
        const m = JSON.parse(data);
        if (m.method) s.notes.push(m);
        else s.answer = m;
      }
    }
  })().catch(() => {});
  return s;
}

export const events = (s: OpenStream, name?: string) => s.notes.filter((n) => n.method === "notifications/events/event" && (!name || n.params.name === name));
