/**
 * Flags + environment → one typed config. The OPTIONS table is the single source:
 * it drives parsing, `--help` and the README's config reference (a test checks the
 * README against it).
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadConfigFile, type ConfigFile } from "./config-file.js";
import type { Policy } from "./mcp/policy.js";

type Kind = "string" | "number" | "boolean" | "list";

export interface OptionSpec {
  /** Flag name without the leading dashes. */
  flag: string;
  env?: string;
  kind: Kind;
  default?: string | number | boolean;
  group: "NATS connection" | "Tools" | "Calls" | "HTTP transport" | "General";
  description: string;
  /** Value placeholder in --help. */
  arg?: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  // NATS connection
  { flag: "nats", env: "NATS_URL", kind: "string", default: "nats://localhost:4222", group: "NATS connection", arg: "URL", description: "NATS server URL(s), comma-separated for a cluster; ws:// and wss:// for WebSocket." },
  { flag: "nats-token", env: "NATS_TOKEN", kind: "string", group: "NATS connection", arg: "TOKEN", description: "Token auth (not together with user/password)." },
  { flag: "nats-user", env: "NATS_USER", kind: "string", group: "NATS connection", arg: "USER", description: "User for user/password auth." },
  { flag: "nats-password", env: "NATS_PASSWORD", kind: "string", group: "NATS connection", arg: "PASS", description: "Password for user/password auth." },
  { flag: "nats-creds", env: "NATS_CREDS", kind: "string", group: "NATS connection", arg: "FILE", description: "Credentials file (JWT + nkey seed)." },
  { flag: "nats-nkey", env: "NATS_NKEY", kind: "string", group: "NATS connection", arg: "SEED|FILE", description: "Nkey seed, or a file holding one." },
  { flag: "nats-tls-ca", env: "NATS_TLS_CA", kind: "string", group: "NATS connection", arg: "FILE", description: "CA certificate to verify the server." },
  { flag: "nats-tls-cert", env: "NATS_TLS_CERT", kind: "string", group: "NATS connection", arg: "FILE", description: "Client certificate (mutual TLS)." },
  { flag: "nats-tls-key", env: "NATS_TLS_KEY", kind: "string", group: "NATS connection", arg: "FILE", description: "Client key (mutual TLS)." },
  { flag: "nats-ws-proxy-path", env: "NATS_WS_PROXY_PATH", kind: "string", group: "NATS connection", arg: "PATH", description: "Path appended to a ws:// URL (NATS behind an HTTP proxy)." },
  { flag: "nats-ws-bearer-token", env: "NATS_WS_BEARER_TOKEN", kind: "string", group: "NATS connection", arg: "TOKEN", description: "Sent as Authorization: Bearer on the WebSocket upgrade." },
  { flag: "nats-ws-header", env: "NATS_WS_HEADERS", kind: "list", group: "NATS connection", arg: "K=V", description: "Extra WebSocket upgrade header (repeatable; env: comma-separated)." },
  { flag: "nats-ws-query", env: "NATS_WS_QUERY", kind: "list", group: "NATS connection", arg: "K=V", description: "Extra WebSocket URL query parameter (repeatable; env: comma-separated)." },
  { flag: "embedded-nats", env: "MESH_MCP_EMBEDDED_NATS", kind: "boolean", default: false, group: "NATS connection", description: "Start a private nats-server with JetStream (found on PATH) and use it: single-machine use." },
  // Tools
  { flag: "include", env: "MESH_MCP_INCLUDE", kind: "list", group: "Tools", arg: "GLOB", description: "Only expose methods whose <tool>.<method> or MCP name <tool>__<method> matches (repeatable; * and ? globs; calculator.* is every method of calculator)." },
  { flag: "exclude", env: "MESH_MCP_EXCLUDE", kind: "list", group: "Tools", arg: "GLOB", description: "Hide methods whose <tool>.<method> or MCP name (e.g. files__delete) matches (repeatable). A filter matching nothing is warned about." },
  { flag: "node", env: "MESH_MCP_NODES", kind: "list", group: "Tools", arg: "NODE", description: "Only use these nodes (repeatable); calls are pinned to them." },
  { flag: "admin", env: "MESH_MCP_ADMIN", kind: "boolean", default: false, group: "Tools", description: "Expose node administration tools (install, uninstall, update, config, release inspect)." },
  { flag: "discovery", env: "MESH_MCP_DISCOVERY", kind: "string", default: "auto", group: "Tools", arg: "auto|on|off", description: "Progressive discovery: list search/get/call meta-tools instead of every mesh method; auto: when more than --discovery-threshold methods are visible (see docs/discovery.md)." },
  { flag: "discovery-threshold", env: "MESH_MCP_DISCOVERY_THRESHOLD", kind: "number", default: 200, group: "Tools", arg: "N", description: "With --discovery auto: list the meta-tools once more than this many mesh methods are visible." },
  { flag: "node-arg", env: "MESH_MCP_NODE_ARG", kind: "boolean", default: false, group: "Tools", description: "List an optional, nullable _node argument (no node names) in every mesh tool's schema, for models that should pin calls to a node; programs pin with _meta \"mesh-mcp/node\" either way." },
  { flag: "allow-dir", env: "MESH_MCP_ALLOW_DIRS", kind: "list", group: "Tools", arg: "DIR", description: "Server folder the upload tool may read from (repeatable). Over HTTP the only folders it reads; over stdio the client's MCP roots count too." },
  // Calls
  { flag: "call-timeout", env: "MESH_MCP_CALL_TIMEOUT", kind: "number", default: 3600, group: "Calls", arg: "SECONDS", description: "Per-call timeout; on expiry the call is cancelled on the mesh." },
  { flag: "stream-idle-timeout", env: "MESH_MCP_STREAM_IDLE_TIMEOUT", kind: "number", default: 120, group: "Calls", arg: "SECONDS", description: "A stream that sends nothing for this long ends with an error." },
  { flag: "keepalive-interval", env: "MESH_MCP_KEEPALIVE_INTERVAL", kind: "number", default: 15, group: "Calls", arg: "SECONDS", description: "Keep-alive progress for long calls when the client sent a progress token (0: off)." },
  { flag: "inline-image-max", env: "MESH_MCP_INLINE_IMAGE_MAX", kind: "number", default: 1048576, group: "Calls", arg: "BYTES", description: "Images in results (files named by store key) up to this size are sent inline, with a text line naming the file." },
  { flag: "resource-links", env: "MESH_MCP_RESOURCE_LINKS", kind: "boolean", default: false, group: "Calls", description: "Also add resource_link content for files named in results (for clients that open them; LangChain's OpenAI/Anthropic classes reject it)." },
  { flag: "resource-max", env: "MESH_MCP_RESOURCE_MAX", kind: "number", default: 26214400, group: "Calls", arg: "BYTES", description: "Largest file resources/read returns." },
  { flag: "task-tools", env: "MESH_MCP_TASK_TOOLS", kind: "list", group: "Calls", arg: "GLOB", description: "Methods (<tool>.<method> globs) a client may run as an MCP task, besides every streaming method (repeatable)." },
  { flag: "task-ttl", env: "MESH_MCP_TASK_TTL", kind: "number", default: 86400, group: "Calls", arg: "SECONDS", description: "How long task records and captured results stay in JetStream after their last change (set when the bucket is created)." },
  { flag: "task-poll-interval", env: "MESH_MCP_TASK_POLL_INTERVAL", kind: "number", default: 1, group: "Calls", arg: "SECONDS", description: "Poll interval suggested to clients waiting on a task." },
  { flag: "task-owner", env: "MESH_MCP_TASK_OWNER", kind: "string", group: "Calls", arg: "SECRET", description: "Task identity where the transport has none (stdio; HTTP without --auth-token): processes given the same secret see each other's tasks. Default: one per process/session." },
  { flag: "max-tasks-per-identity", env: "MESH_MCP_MAX_TASKS_PER_IDENTITY", kind: "number", default: 32, group: "Calls", arg: "N", description: "Concurrent running MCP tasks per identity (token, principal or task owner) in this process; more are refused with a JSON-RPC error (0: no bound). A session's tasks also count against --max-inflight." },
  { flag: "disable-tasks", env: "MESH_MCP_DISABLE_TASKS", kind: "boolean", default: false, group: "Calls", description: "Never run calls as MCP tasks (no tasks capability)." },
  { flag: "result-max", env: "MESH_MCP_RESULT_MAX", kind: "number", default: 262144, group: "Calls", arg: "BYTES", description: "A tool result larger than this (as JSON) goes into the mesh file store; the client gets a link and a preview (0: never)." },
  { flag: "refresh-interval", env: "MESH_MCP_REFRESH_INTERVAL", kind: "number", default: 5, group: "Calls", arg: "SECONDS", description: "How often to check for tools that came or went without an event: a $SRV.PING sweep, with a full rediscovery only when something changed (0: off)." },
  { flag: "events-max-age", env: "MESH_MCP_EVENTS_MAX_AGE", kind: "number", default: 86400, group: "Calls", arg: "SECONDS", description: "MCP events: how long the events stream keeps occurrences (a cursor older than this resumes with truncated: true; set when the stream is created)." },
  { flag: "events-max-bytes", env: "MESH_MCP_EVENTS_MAX_BYTES", kind: "number", default: 268435456, group: "Calls", arg: "BYTES", description: "MCP events: size cap of the events stream; the oldest occurrences go first (set when the stream is created)." },
  { flag: "events-max-msgs", env: "MESH_MCP_EVENTS_MAX_MSGS", kind: "number", default: 1000000, group: "Calls", arg: "N", description: "MCP events: message cap of the events stream (set when the stream is created)." },
  { flag: "events-heartbeat", env: "MESH_MCP_EVENTS_HEARTBEAT", kind: "number", default: 15, group: "Calls", arg: "SECONDS", description: "MCP events: heartbeat period on an events/stream (carries the cursor)." },
  { flag: "events-max-streams", env: "MESH_MCP_EVENTS_MAX_STREAMS", kind: "number", default: 16, group: "Calls", arg: "N", description: "MCP events: open events/stream requests per identity, per process." },
  { flag: "events-max-subscriptions", env: "MESH_MCP_EVENTS_MAX_SUBSCRIPTIONS", kind: "number", default: 32, group: "Calls", arg: "N", description: "MCP events: webhook subscriptions per identity (all processes)." },
  { flag: "events-webhook-concurrency", env: "MESH_MCP_EVENTS_WEBHOOK_CONCURRENCY", kind: "number", default: 8, group: "Calls", arg: "N", description: "MCP events: webhook deliveries this process makes at once." },
  { flag: "events-webhook-allow-http", env: "MESH_MCP_EVENTS_WEBHOOK_ALLOW_HTTP", kind: "boolean", default: false, group: "Calls", description: "MCP events: accept http:// webhook URLs (default: https only)." },
  { flag: "events-webhook-allow-private", env: "MESH_MCP_EVENTS_WEBHOOK_ALLOW_PRIVATE", kind: "boolean", default: false, group: "Calls", description: "MCP events: accept webhook URLs on loopback, private and link-local addresses (default: refused, checked at every delivery)." },
  { flag: "disable-events", env: "MESH_MCP_DISABLE_EVENTS", kind: "boolean", default: false, group: "Calls", description: "Do not offer the MCP Events extension." },
  // HTTP transport
  { flag: "transport", env: "MESH_MCP_TRANSPORT", kind: "string", default: "stdio", group: "HTTP transport", arg: "stdio|http", description: "MCP transport." },
  { flag: "host", env: "MESH_MCP_HOST", kind: "string", default: "127.0.0.1", group: "HTTP transport", arg: "ADDR", description: "HTTP listen address (loopback by default)." },
  { flag: "port", env: "MESH_MCP_PORT", kind: "number", default: 3000, group: "HTTP transport", arg: "PORT", description: "HTTP listen port (0: any free port)." },
  { flag: "auth-token", env: "MESH_MCP_AUTH_TOKEN", kind: "string", group: "HTTP transport", arg: "TOKEN", description: "Require Authorization: Bearer TOKEN on /mcp." },
  { flag: "auth-token-name", env: "MESH_MCP_AUTH_TOKEN_NAME", kind: "string", default: "token", group: "HTTP transport", arg: "NAME", description: "Principal name of --auth-token's holder (in logs, audit records and the policy)." },
  { flag: "token-file", env: "MESH_MCP_TOKEN_FILE", kind: "string", group: "HTTP transport", arg: "FILE", description: "Named bearer tokens: lines of `sha256:HASH NAME [ROLE,…]` (make them with `mesh-mcp hash-token`); re-read when it changes. See docs/sign-in.md." },
  { flag: "oauth-issuer", env: "MESH_MCP_OAUTH_ISSUER", kind: "string", group: "HTTP transport", arg: "URL", description: "OAuth 2.1 sign-in: accept access tokens of this authorization server (its RFC 8414 / OIDC metadata names the keys); needs --public-url. See docs/sign-in.md." },
  { flag: "public-url", env: "MESH_MCP_PUBLIC_URL", kind: "string", group: "HTTP transport", arg: "URL", description: "The MCP endpoint's URL as clients reach it (https://host/mcp): the OAuth resource tokens must be issued for, named in the protected-resource metadata." },
  { flag: "oauth-audience", env: "MESH_MCP_OAUTH_AUDIENCE", kind: "list", group: "HTTP transport", arg: "AUD", description: "Accepted token audience instead of --public-url (repeatable; e.g. Entra's api://… App ID URI)." },
  { flag: "oauth-scopes", env: "MESH_MCP_OAUTH_SCOPES", kind: "list", group: "HTTP transport", arg: "SCOPE", description: "Scopes every access token must carry (repeatable); fewer: 403 insufficient_scope naming them." },
  { flag: "oauth-algorithms", env: "MESH_MCP_OAUTH_ALGORITHMS", kind: "list", group: "HTTP transport", arg: "ALG", description: "Accepted JWT signature algorithms (asymmetric only; default RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)." },
  { flag: "oauth-name-claim", env: "MESH_MCP_OAUTH_NAME_CLAIM", kind: "list", group: "HTTP transport", arg: "CLAIM", description: "Claim(s) naming the principal, first present wins (default preferred_username, email, sub)." },
  { flag: "oauth-groups-claim", env: "MESH_MCP_OAUTH_GROUPS_CLAIM", kind: "list", group: "HTTP transport", arg: "CLAIM", description: "Claim(s) holding group memberships (default groups, roles)." },
  { flag: "oauth-clock-skew", env: "MESH_MCP_OAUTH_CLOCK_SKEW", kind: "number", default: 30, group: "HTTP transport", arg: "SECONDS", description: "Tolerated clock difference with the issuer for exp/nbf/iat." },
  { flag: "oauth-introspection-client-id", env: "MESH_MCP_OAUTH_INTROSPECTION_CLIENT_ID", kind: "string", group: "HTTP transport", arg: "ID", description: "Client id for RFC 7662 introspection of opaque (non-JWT) access tokens at the issuer's introspection endpoint." },
  { flag: "oauth-introspection-client-secret", env: "MESH_MCP_OAUTH_INTROSPECTION_CLIENT_SECRET", kind: "string", group: "HTTP transport", arg: "SECRET", description: "Client secret for introspection (with --oauth-introspection-client-id)." },
  { flag: "insecure-no-auth", env: "MESH_MCP_INSECURE_NO_AUTH", kind: "boolean", default: false, group: "HTTP transport", description: "Allow a non-loopback listen address without a token." },
  { flag: "allowed-origin", env: "MESH_MCP_ALLOWED_ORIGINS", kind: "list", group: "HTTP transport", arg: "ORIGIN", description: "Browser Origin allowed besides loopback ones (repeatable)." },
  { flag: "allowed-host", env: "MESH_MCP_ALLOWED_HOSTS", kind: "list", group: "HTTP transport", arg: "HOST", description: "Host header allowed besides loopback and the listen address (repeatable)." },
  { flag: "stateless", env: "MESH_MCP_STATELESS", kind: "boolean", default: false, group: "HTTP transport", description: "No sessions: every request stands alone (behind load balancers)." },
  { flag: "session-idle-timeout", env: "MESH_MCP_SESSION_IDLE_TIMEOUT", kind: "number", default: 1800, group: "HTTP transport", arg: "SECONDS", description: "Idle HTTP sessions are closed after this long." },
  { flag: "max-body", env: "MESH_MCP_MAX_BODY", kind: "number", default: 4194304, group: "HTTP transport", arg: "BYTES", description: "Largest accepted request body (413 beyond)." },
  { flag: "max-sessions", env: "MESH_MCP_MAX_SESSIONS", kind: "number", default: 1000, group: "HTTP transport", arg: "N", description: "Open HTTP sessions in all; a new session beyond is answered 503 with Retry-After." },
  { flag: "max-sessions-per-client", env: "MESH_MCP_MAX_SESSIONS_PER_CLIENT", kind: "number", default: 100, group: "HTTP transport", arg: "N", description: "Open sessions per client address; beyond, its least recently used idle session is closed, or 429 when none is idle." },
  { flag: "max-inflight", env: "MESH_MCP_MAX_INFLIGHT", kind: "number", default: 32, group: "HTTP transport", arg: "N", description: "Concurrent tool calls per session." },
  // General
  { flag: "config", env: "MESH_MCP_CONFIG", kind: "string", group: "General", arg: "FILE", description: "Config file (YAML or JSON): any option below by its flag name, and the access `policy` (docs/config.md, docs/identity.md). Flags and env win over it." },
  { flag: "principal", env: "MESH_MCP_PRINCIPAL", kind: "string", group: "General", arg: "NAME", description: "stdio: the caller's name for the policy, audit and mesh headers (default: the local user)." },
  { flag: "audit", env: "MESH_MCP_AUDIT", kind: "boolean", default: false, group: "General", description: "Log one audit record per tool call (principal, client, tool.method, node, call id, outcome, duration, bytes) at info level." },
  { flag: "log-level", env: "MESH_MCP_LOG_LEVEL", kind: "string", default: "info", group: "General", arg: "LEVEL", description: "stderr log level: debug, info, warning, error." },
  { flag: "log-calls", env: "MESH_MCP_LOG_CALLS", kind: "boolean", default: false, group: "General", description: "Log every tool call (start, outcome, duration) at info level; a client that set a log level sees only its own calls." },
  { flag: "log-format", env: "MESH_MCP_LOG_FORMAT", kind: "string", default: "text", group: "General", arg: "text|json", description: "stderr log lines as text or as one JSON object each." },
  { flag: "help", kind: "boolean", group: "General", description: "Show this help." },
  { flag: "version", kind: "boolean", group: "General", description: "Print the version." },
];

const seconds = z.number().min(0);
export const ConfigSchema = z.object({
  nats: z.string().min(1),
  natsToken: z.string().optional(),
  natsUser: z.string().optional(),
  natsPassword: z.string().optional(),
  natsCreds: z.string().optional(),
  natsNkey: z.string().optional(),
  natsTlsCa: z.string().optional(),
  natsTlsCert: z.string().optional(),
  natsTlsKey: z.string().optional(),
  natsWsProxyPath: z.string().optional(),
  natsWsBearerToken: z.string().optional(),
  natsWsHeader: z.array(z.string()),
  natsWsQuery: z.array(z.string()),
  embeddedNats: z.boolean(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  node: z.array(z.string()),
  admin: z.boolean(),
  discovery: z.enum(["auto", "on", "off"]),
  discoveryThreshold: z.number().int().min(0),
  nodeArg: z.boolean(),
  allowDir: z.array(z.string()),
  callTimeout: seconds,
  streamIdleTimeout: seconds,
  keepaliveInterval: seconds,
  inlineImageMax: z.number().int().min(0),
  resourceLinks: z.boolean(),
  logCalls: z.boolean(),
  resourceMax: z.number().int().min(0),
  taskTools: z.array(z.string()),
  taskTtl: z.number().min(1),
  taskPollInterval: z.number().min(0.05),
  taskOwner: z.string().min(8, "use a secret of at least 8 characters").optional(),
  maxTasksPerIdentity: z.number().int().min(0),
  disableTasks: z.boolean(),
  resultMax: z.number().int().min(0),
  refreshInterval: seconds,
  eventsMaxAge: z.number().min(1),
  eventsMaxBytes: z.number().int().min(1024),
  eventsMaxMsgs: z.number().int().min(1),
  eventsHeartbeat: z.number().min(0.05).max(30),
  eventsMaxStreams: z.number().int().min(1),
  eventsMaxSubscriptions: z.number().int().min(0),
  eventsWebhookConcurrency: z.number().int().min(1),
  eventsWebhookAllowHttp: z.boolean(),
  eventsWebhookAllowPrivate: z.boolean(),
  disableEvents: z.boolean(),
  transport: z.enum(["stdio", "http"]),
  host: z.string(),
  port: z.number().int().min(0).max(65535),
  authToken: z.string().optional(),
  authTokenName: z.string().min(1),
  tokenFile: z.string().optional(),
  oauthIssuer: z.string().optional(),
  publicUrl: z.string().optional(),
  oauthAudience: z.array(z.string()),
  oauthScopes: z.array(z.string()),
  oauthAlgorithms: z.array(z.string()),
  oauthNameClaim: z.array(z.string()),
  oauthGroupsClaim: z.array(z.string()),
  oauthClockSkew: z.number().min(0).max(600),
  oauthIntrospectionClientId: z.string().optional(),
  oauthIntrospectionClientSecret: z.string().optional(),
  insecureNoAuth: z.boolean(),
  allowedOrigin: z.array(z.string()),
  allowedHost: z.array(z.string()),
  stateless: z.boolean(),
  sessionIdleTimeout: seconds,
  maxBody: z.number().int().min(1),
  maxSessions: z.number().int().min(1),
  maxSessionsPerClient: z.number().int().min(1),
  maxInflight: z.number().int().min(1),
  logLevel: z.enum(["debug", "info", "warning", "error"]),
  logFormat: z.enum(["text", "json"]),
  config: z.string().optional(),
  principal: z.string().min(1).max(200).regex(/^[^\r\n]*$/, "one line").optional(),
  audit: z.boolean(),
  help: z.boolean().optional(),
  version: z.boolean().optional(),
});
export type Config = z.infer<typeof ConfigSchema> & {
  /** The config file's `policy` (absent: everything the flags expose, as before). */
  policy?: Policy;
};

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function truthy(v: string): boolean {
  return /^(1|true|yes|on)$/i.test(v.trim());
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses argv (flags) over env over defaults. Returns the config and the
 * positional arguments (subcommand and its arguments).
 */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): { config: Config; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const o of OPTIONS) options[o.flag] = o.kind === "list" ? { type: "string", multiple: true } : { type: o.kind === "boolean" ? "boolean" : "string" };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Run mesh-mcp --help for the options.`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  // The file comes under flags and env: flags > env > file > defaults.
  const fileName = (values.config as string | undefined) ?? (env.MESH_MCP_CONFIG || undefined);
  let file: ConfigFile | undefined;
  try {
    file = fileName ? loadConfigFile(fileName, OPTIONS) : undefined;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    let v: unknown = values[o.flag];
    const fromEnv = o.env ? env[o.env] : undefined;
    if (v === undefined && fromEnv !== undefined && fromEnv !== "") {
      v = o.kind === "boolean" ? truthy(fromEnv) : o.kind === "list" ? fromEnv.split(",").map((s) => s.trim()).filter(Boolean) : fromEnv;
    }
    if (v === undefined) v = file?.values.get(o.flag);
    if (v === undefined) v = o.kind === "list" ? [] : o.default;
    if (o.kind === "number" && typeof v === "string") {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new ConfigError(`--${o.flag}${o.env ? ` / ${o.env}` : ""} must be a number, got "${v}"`);
      v = n;
    }
    out[camel(o.flag)] = v;
  }
  const result = ConfigSchema.safeParse(out);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    const spec = OPTIONS.find((o) => camel(o.flag) === key);
    const line = file?.lines.get(key);
    const fromFile = line !== undefined && values[spec?.flag ?? ""] === undefined && !(spec?.env && env[spec.env]);
    throw new ConfigError(`${fromFile ? `${file!.path}:${line}: ${spec?.flag ?? key}` : `--${spec?.flag ?? key}${spec?.env ? ` / ${spec.env}` : ""}`}: ${issue.message}`);
  }
  return { config: file?.policy ? { ...result.data, policy: file.policy } : result.data, positionals: parsed.positionals };
}

/** `--help` text, generated from OPTIONS. */
export function helpText(version: string): string {
  const lines = [
    `mesh-mcp ${version}: every tool of a jb-mesh (NATS) as MCP tools for AI agents.`,
    "",
    "Usage:",
    "  mesh-mcp [options]                       serve MCP (stdio by default, --transport http)",
    "  mesh-mcp tools [options]                 list the tools an agent would see, with schemas",
    "  mesh-mcp call TOOL.METHOD [k=v ...]      call a mesh method (values parsed as JSON when they parse)",
    "  mesh-mcp doctor [options]                check NATS, JetStream, nodes and tools; say what to fix",
    "  mesh-mcp hash-token [TOKEN]              a --token-file line's hash (a new random token when none is given)",
    "",
  ];
  for (const group of ["NATS connection", "Tools", "Calls", "HTTP transport", "General"] as const) {
    lines.push(`${group}:`);
    for (const o of OPTIONS.filter((x) => x.group === group)) {
      const left = `  --${o.flag}${o.arg ? ` ${o.arg}` : ""}`;
      const extra = [o.env ? `env ${o.env}` : "", o.default !== undefined && o.default !== false ? `default ${o.default}` : ""].filter(Boolean).join(", ");
      lines.push(`${left.padEnd(36)} ${o.description}${extra ? ` (${extra})` : ""}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Markdown table of every option, for the README. */
export function optionsMarkdown(): string {
  const rows = ["| Flag | Env | Default | Description |", "| --- | --- | --- | --- |"];
  for (const o of OPTIONS) {
    const def = o.default === undefined ? "" : `\`${String(o.default)}\``;
    rows.push(`| \`--${o.flag}${o.arg ? ` ${o.arg.replace(/\|/g, "\\|")}` : ""}\` | ${o.env ? `\`${o.env}\`` : ""} | ${def} | ${o.description.replace(/\|/g, "\\|")} |`);
  }
  return rows.join("\n");
}

/** Markdown table of the config file's keys (docs/config.md): the options by flag name, typed. */
export function configFileMarkdown(): string {
  const type = { string: "string", number: "number", boolean: "true/false", list: "list of strings" } as const;
  const rows = ["| Key | Type | Default | Flag / env | Description |", "| --- | --- | --- | --- | --- |"];
  for (const o of OPTIONS) {
    if (o.flag === "config" || o.flag === "help" || o.flag === "version") continue;
    const def = o.default === undefined ? "" : `\`${String(o.default)}\``;
    rows.push(`| \`${o.flag}\` | ${type[o.kind]} | ${def} | \`--${o.flag}\`${o.env ? ` / \`${o.env}\`` : ""} | ${o.description.replace(/\|/g, "\\|")} |`);
  }
  rows.push("| `policy` | mapping | | (file only) | Who may do what: roles, rules mapping principals to roles, default and anonymous roles. See [identity.md](identity.md). |");
  return rows.join("\n");
}
