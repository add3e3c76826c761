/**
 * Options → NATS connection: TCP or WebSocket, every auth method jb-mesh supports,
 * TLS, and reconnect forever (as the Go mesh does).
 */
import { readFileSync } from "node:fs";
import {
  connect as tcpConnect,
  credsAuthenticator,
  nkeyAuthenticator,
  wsconnect,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/transport-node";
import { WebSocket as NodeWebSocket } from "ws";
import { MeshConfigError, NatsAuthError, NotConnectedError } from "./errors.js";
import { addSecret } from "./secrets.js";

export const DEFAULT_NATS_URL = "nats://localhost:4222";

/** WebSocket client settings for `ws://`/`wss://` URLs behind an HTTP proxy path. */
export interface WebSocketOptions {
  /** Path appended to the URL's path, e.g. `nats` → `wss://host/nats`. */
  proxyPath?: string;
  /** Sent as `Authorization: Bearer <token>` on the upgrade request. */
  bearerToken?: string;
  /** Extra headers of the upgrade request (multi-value). */
  headers?: Record<string, string | string[]>;
  /** Extra query parameters; a key given here replaces the URL's own values. */
  query?: Record<string, string | string[]>;
}

export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface ConnectOptions {
  /** Server URL(s): an array or a comma-separated list (a cluster). Default `nats://localhost:4222`. */
  servers?: string | string[];
  /** Connection name shown in NATS monitoring (the Go mesh uses the node name). */
  name?: string;
  token?: string;
  user?: string;
  password?: string;
  /** Path of a `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  /** An nkey seed (`SU…`) or the path of a file holding one. */
  nkeySeed?: string;
  tls?: TlsFiles;
  ws?: WebSocketOptions;
  /** Pause between reconnect attempts. Default 2000 ms like the Go mesh. */
  reconnectWaitMs?: number;
  /** Keep retrying the first connect too, instead of failing at once. */
  waitOnFirstConnect?: boolean;
  /** Timeout of one connect attempt. */
  connectTimeoutMs?: number;
}

/** Splits `servers` into a clean URL list (comma-separated strings allowed). */
export function serverList(servers: string | string[] | undefined): string[] {
  const raw = Array.isArray(servers) ? servers : [servers ?? ""];
  const list = raw.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  return list.length > 0 ? list : [DEFAULT_NATS_URL];
}

function isWs(url: string): boolean {
  return /^wss?:\/\//i.test(url);
}

function hasWsOptions(ws: WebSocketOptions | undefined): boolean {
  if (!ws) return false;
  return Boolean(
    ws.proxyPath || ws.bearerToken || Object.keys(ws.headers ?? {}).length || Object.keys(ws.query ?? {}).length,
  );
}

function asList(v: string | string[]): string[] {
  return Array.isArray(v) ? v : [v];
}

/** Applies proxy path and query parameters to a ws URL (the Go mesh's prepareConnectURL). */
export function prepareWsUrl(raw: string, ws: WebSocketOptions | undefined): string {
  if (!hasWsOptions(ws)) return raw;
  if (!isWs(raw)) {
    throw new MeshConfigError(`websocket client options require ws:// or wss:// NATS URL, got "${raw}"`);
  }
  const u = new URL(raw);
  for (const [key, values] of Object.entries(ws?.query ?? {})) {
    u.searchParams.delete(key);
    for (const v of asList(values)) u.searchParams.append(key, v);
  }
  if (ws?.proxyPath) {
    const base = u.pathname.replace(/\/+$/, "");
    u.pathname = `${base}/${ws.proxyPath.replace(/^\/+/, "")}`;
  }
  return u.toString();
}

function authenticator(opts: ConnectOptions): Authenticator | undefined {
  if (opts.credsFile) return credsAuthenticator(readFileSync(opts.credsFile));
  if (opts.nkeySeed) {
    const given = opts.nkeySeed.trim();
    const seed = /^S[A-Z2-7]{50,}$/.test(given) ? given : readFileSync(given, "utf8").trim();
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return undefined;
}

/** Credentials found in server URLs (`nats://user:pass@host`, `nats://token@host`). */
interface UrlCredentials {
  user?: string;
  password?: string;
  token?: string;
}

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@(.*)$/i;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Takes the credentials out of server URLs, as the Go client reads them (user:pass, or
 * a lone user part as a token): nats.js ignores them, and a URL is printed in logs and
 * errors, so the list that remains carries none. Different credentials in different
 * URLs are refused (one connection logs in one way).
 */
export function splitUrlCredentials(servers: string[]): { servers: string[]; creds?: UrlCredentials } {
  let creds: UrlCredentials | undefined;
  let first: string | undefined;
  const out = servers.map((url) => {
    const m = USERINFO.exec(url);
    if (!m) return url;
    const info = m[2]!;
    const colon = info.indexOf(":");
    const these: UrlCredentials = colon < 0 ? { token: decode(info) } : { user: decode(info.slice(0, colon)), password: decode(info.slice(colon + 1)) };
    addSecret(these.token);
    addSecret(these.password);
    if (first !== undefined && first !== info) {
      throw new MeshConfigError("the NATS URLs carry different credentials; give them once (--nats-user/--nats-password or --nats-token) and leave them out of the URLs");
    }
    first = info;
    creds = these;
    return `${m[1]}${m[3]}`;
  });
  return { servers: out, creds };
}

/** Builds the nats.js options; throws MeshConfigError for contradictory settings. */
export function connectionOptions(opts: ConnectOptions): { servers: string[]; options: ConnectionOptions; ws: boolean; credentials: string } {
  for (const s of [opts.token, opts.password, opts.ws?.bearerToken]) addSecret(s);
  if (opts.nkeySeed && /^S[A-Z2-7]{50,}$/.test(opts.nkeySeed.trim())) addSecret(opts.nkeySeed.trim());
  const split = splitUrlCredentials(serverList(opts.servers));
  const servers = split.servers;
  if (split.creds) {
    const given = opts.token || opts.user || opts.password;
    const same = split.creds.token !== undefined ? opts.token === split.creds.token : opts.user === split.creds.user && opts.password === split.creds.password;
    if (given && !same) {
      throw new MeshConfigError("the NATS URL carries credentials that differ from --nats-user/--nats-password/--nats-token; give them one way only");
    }
    opts = { ...opts, ...split.creds };
  }
  const credentials = split.creds
    ? `${split.creds.token !== undefined ? "a token" : `user/password (user "${split.creds.user}")`} in the NATS URL`
    : describeCredentials(opts);
  const ws = servers.some(isWs);
  if (ws && !servers.every(isWs)) {
    throw new MeshConfigError(`cannot mix ws:// and nats:// URLs in one server list: ${servers.join(",")}`);
  }
  if ((opts.user || opts.password) && (!opts.user || !opts.password)) {
    throw new MeshConfigError("NATS username/password auth requires both username and password");
  }
  if (opts.token && (opts.user || opts.password)) {
    throw new MeshConfigError("NATS token auth cannot be combined with username/password auth");
  }
  const options: ConnectionOptions = {
    servers: ws ? servers.map((s) => prepareWsUrl(s, opts.ws)) : servers,
    name: opts.name,
    token: opts.token || undefined,
    user: opts.user || undefined,
    pass: opts.password || undefined,
    authenticator: authenticator(opts),
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectWaitMs ?? 2000,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    timeout: opts.connectTimeoutMs ?? 5000,
    ignoreClusterUpdates: false,
  };
  if (!ws) {
    if (hasWsOptions(opts.ws)) prepareWsUrl(servers[0]!, opts.ws); // throws the Go error text
    if (opts.tls && (opts.tls.caFile || opts.tls.certFile || opts.tls.keyFile)) {
      options.tls = { caFile: opts.tls.caFile, certFile: opts.tls.certFile, keyFile: opts.tls.keyFile };
    }
  }
  return { servers, options, ws, credentials };
}

/** Node 20 has no global WebSocket, and the W3C one cannot send headers: use `ws`. */
function wsFactory(opts: ConnectOptions) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.ws?.headers ?? {})) headers[k] = asList(v).join(", ");
  if (opts.ws?.bearerToken) headers["Authorization"] = `Bearer ${opts.ws.bearerToken}`;
  const tls = opts.tls ?? {};
  return async (url: string) => {
    const socket = new NodeWebSocket(url, {
      headers,
      ca: tls.caFile ? readFileSync(tls.caFile) : undefined,
      cert: tls.certFile ? readFileSync(tls.certFile) : undefined,
      key: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
    });
    return { socket: socket as unknown as WebSocket, encrypted: url.toLowerCase().startsWith("wss") };
  };
}

/** Which credential option is in use, never its secret (for error messages). */
export function describeCredentials(opts: ConnectOptions): string {
  const set: string[] = [];
  if (opts.token) set.push("a token (--nats-token / NATS_TOKEN)");
  if (opts.user || opts.password) set.push(`user/password (user "${opts.user ?? ""}")`);
  if (opts.credsFile) set.push(`the creds file ${opts.credsFile}`);
  if (opts.nkeySeed) set.push(/^S[A-Z2-7]{50,}$/.test(opts.nkeySeed.trim()) ? "an nkey seed" : `the nkey seed file ${opts.nkeySeed}`);
  if (opts.ws?.bearerToken) set.push("a WebSocket bearer token");
  return set.length ? set.join(" and ") : "none (no credential option is set)";
}

function isAuthFailure(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name === "AuthorizationError" || /authorization violation|authentication (expired|timeout)/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Opens a NATS connection with reconnect forever. When nothing answers, the error
 * names the URL(s) and what to do.
 */
export async function connectNats(opts: ConnectOptions = {}): Promise<NatsConnection> {
  const { servers, options, ws, credentials } = connectionOptions(opts);
  try {
    if (ws) return await wsconnect({ ...options, wsFactory: wsFactory(opts) } as ConnectionOptions);
    return await tcpConnect(options);
  } catch (err) {
    if (isAuthFailure(err)) throw new NatsAuthError(servers, credentials, { cause: err });
    const why = err instanceof Error ? err.message : String(err);
    throw new NotConnectedError(
      `could not connect to NATS at ${servers.join(",")} (${why}). ` +
        `Is nats-server running there? Check the URL (--nats / NATS_URL) and credentials.`,
      { cause: err },
    );
  }
}
