/**
 * Outbound webhook requests, and what keeps them from being turned against the network
 * they run in (SSRF): https only unless allowed; the host is resolved and every address
 * checked against loopback, private, link-local, CGNAT, multicast and other special
 * ranges unless allowed — at subscribe time and again at every delivery, connecting to
 * the address that was checked (no rebinding window); redirects are never followed.
 * Signing is Standard Webhooks: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`
 * with the client's `whsec_` secret.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { lookup } from "node:dns/promises";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";

export interface WebhookPolicy {
  allowHttp?: boolean;
  allowPrivate?: boolean;
}

/** Why a callback failed, as the spec's categories (never the endpoint's own words). */
export type CallbackFailure = "connection_refused" | "timeout" | "tls_error" | "http_4xx" | "http_5xx" | "challenge_failed";

export class CallbackUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CallbackUrlError";
  }
}

const special = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24],
  ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) special.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128], ["::1", 128], ["64:ff9b::", 96], ["100::", 64], ["2001::", 23], ["2001:db8::", 32], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8],
] as const) special.addSubnet(net, bits, "ipv6");

/** Whether `address` is outside the globally routable space (IANA special-purpose registries). */
export function isSpecialAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d, or its hex form ::ffff:7f00:1): judged as the IPv4 address.
    const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return special.check(mapped[1]!, "ipv4");
    const hex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    if (hex) {
      const hi = parseInt(hex[1]!, 16);
      const lo = parseInt(hex[2]!, 16);
      return special.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, "ipv4");
    }
  }
  return special.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** The URL, parsed and checked for scheme and form (no DNS yet). */
export function parseCallbackUrl(raw: string, policy: WebhookPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallbackUrlError(`delivery.url "${raw.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== "https:" && !(policy.allowHttp && url.protocol === "http:")) {
    throw new CallbackUrlError(`delivery.url must be https:// (got ${url.protocol}//${policy.allowHttp ? "" : "; the operator may allow http:// with --events-webhook-allow-http"})`);
  }
  if (url.username || url.password) throw new CallbackUrlError("delivery.url must not carry credentials");
  return url;
}

/** Resolves the host and checks every address; returns the one to connect to. */
export async function resolveCallback(url: URL, policy: WebhookPolicy): Promise<{ address: string; family: number }> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addrs = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true }).catch(() => {
    throw new CallbackUrlError(`delivery.url host "${host}" does not resolve`);
  });
  if (addrs.length === 0) throw new CallbackUrlError(`delivery.url host "${host}" does not resolve`);
  if (!policy.allowPrivate) {
    const bad = addrs.find((a) => isSpecialAddress(a.address));
    if (bad) throw new CallbackUrlError(`delivery.url resolves to ${bad.address}, a loopback/private/special address; mesh-mcp refuses those unless the operator allows them with --events-webhook-allow-private`);
  }
  return addrs[0]!;
}

/** `whsec_` + base64 of 24–64 bytes: the key bytes, or undefined when malformed. */
export function secretKey(secret: string): Buffer | undefined {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m) return undefined;
  const key = Buffer.from(m[1]!, "base64");
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = secretKey(secret);
  if (!key) throw new Error("invalid webhook secret");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

export interface PostResult {
  ok: boolean;
  status?: number;
  failure?: CallbackFailure;
  body?: string;
}

/**
 * One signed POST to the callback, connecting to the checked address (the hostname
 * still goes in Host and TLS SNI). Never follows a redirect (a 3xx is a 4xx-class
 * failure). Resolves, never rejects.
 */
export async function postSigned(
  rawUrl: string,
  policy: WebhookPolicy,
  secret: string,
  webhookId: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs = 10_000,
): Promise<PostResult> {
  let url: URL;
  let target: { address: string; family: number };
  try {
    url = parseCallbackUrl(rawUrl, policy);
    target = await resolveCallback(url, policy);
  } catch {
    return { ok: false, failure: "connection_refused" };
  }
  const ts = Math.floor(Date.now() / 1000);
  const pinned: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [target]);
    else cb(null, target.address, target.family);
  };
  const options: RequestOptions = {
    method: "POST",
    lookup: pinned,
    timeout: timeoutMs,
    headers: {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
      "user-agent": "mesh-mcp-webhooks",
      "webhook-id": webhookId,
      "webhook-timestamp": String(ts),
      "webhook-signature": sign(secret, webhookId, ts, body),
      ...headers,
    },
  };
  return new Promise<PostResult>((resolve) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (text.length < 4096) text += d;
      });
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve({ ok: true, status, body: text });
        else resolve({ ok: false, status, failure: status >= 500 ? "http_5xx" : "http_4xx" });
      });
      res.on("error", () => resolve({ ok: false, status: res.statusCode, failure: "connection_refused" }));
    });
    req.on("timeout", () => {
      req.destroy();
      resolve({ ok: false, failure: "timeout" });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "";
      resolve({ ok: false, failure: /CERT|SSL|TLS|SELF_SIGNED/i.test(code) || /certificate|ssl|tls/i.test(err.message) ? "tls_error" : code === "ETIMEDOUT" ? "timeout" : "connection_refused" });
    });
    req.end(body);
  });
}

/** Constant-time comparison of the echoed challenge. */
export function challengeMatches(body: string | undefined, challenge: string): boolean {
  let echoed: unknown;
  try {
    echoed = (JSON.parse(body ?? "") as { challenge?: unknown }).challenge;
  } catch {
    return false;
  }
  if (typeof echoed !== "string") return false;
  const a = Buffer.from(echoed);
  const b = Buffer.from(challenge);
  return a.length === b.length && timingSafeEqual(a, b);
}
