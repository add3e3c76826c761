/**
 * The status page over HTTP: `GET /status` is one static HTML file (static/status.html,
 * no data in it, so it is served without the bearer token, like a login page), and
 * `GET /status.json` is the view (mcp/status.ts), behind the same token as /mcp. The
 * page polls the JSON with the token it was given.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { statusView, type StatusSessions } from "../mcp/status.js";
import type { Bridge } from "../mcp/bridge.js";
import { sendJson } from "./http-io.js";

export const STATUS_PATH = "/status";
export const STATUS_JSON_PATH = "/status.json";

let page: { html: Buffer; csp: string } | undefined;

/** The page and a CSP that allows exactly its inline script and style (hashes), nothing from elsewhere. */
function statusPage(): { html: Buffer; csp: string } {
  if (page) return page;
  const html = readFileSync(new URL("../../static/status.html", import.meta.url));
  const text = html.toString("utf8");
  const hashes = (tag: string) =>
    [...text.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => `'sha256-${createHash("sha256").update(m[1]!).digest("base64")}'`).join(" ");
  const csp = `default-src 'none'; script-src ${hashes("script")}; style-src ${hashes("style")}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return (page = { html, csp });
}

export function sendStatusPage(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "GET only" }, { allow: "GET" });
  const { html, csp } = statusPage();
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "content-length": html.length,
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  });
  res.end(req.method === "HEAD" ? undefined : html);
}

export async function sendStatusJson(req: IncomingMessage, res: ServerResponse, bridge: Bridge, sessions: () => StatusSessions): Promise<void> {
  if (req.method !== "GET") return sendJson(res, 405, { error: "GET only" }, { allow: "GET" });
  sendJson(res, 200, await statusView(bridge, sessions()), { "cache-control": "no-store", "x-content-type-options": "nosniff" });
}
