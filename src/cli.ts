#!/usr/bin/env node
/** The `mesh-mcp` command: wiring only. */
import module from "node:module";
import type { BridgeOptions } from "./mcp/bridge.js";
import type { Logger } from "./mcp/log.js";
import type { Config } from "./config.js";
import type { EmbeddedNats } from "./embedded-nats.js";
// Not ./mesh/index.js (it loads NATS): serving loads the mesh library only when it connects.
import { parseKeyValuePairs } from "./mesh/params.js";
import { addSecret, scrub } from "./mesh/secrets.js";
import type { MeshOptions } from "./mesh/index.js";
import { startTracing, stopTracing } from "./mcp/otel.js";
import { nodeVersionWarning } from "./node-version.js";

// Start-up is mostly compiling modules: keep the compiled code between runs (Node ≥ 22.1;
// NODE_COMPILE_CACHE=dir picks the place, NODE_DISABLE_COMPILE_CACHE=1 turns it off). Only
// what loads after this line is cached, so everything beyond the small modules above is
// imported where it is first needed: a 2025 session never loads the v2 SDK, stdio never
// loads the HTTP stack, `--help` loads neither.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

function kvMap(pairs: string[]): Record<string, string[]> {
  return Object.fromEntries(parseKeyValuePairs(pairs));
}

export function meshOptionsFrom(c: Config): MeshOptions {
  return {
    servers: c.nats,
    name: "mesh-mcp",
    token: c.natsToken,
    user: c.natsUser,
    password: c.natsPassword,
    credsFile: c.natsCreds,
    nkeySeed: c.natsNkey,
    tls: { caFile: c.natsTlsCa, certFile: c.natsTlsCert, keyFile: c.natsTlsKey },
    ws: {
      proxyPath: c.natsWsProxyPath,
      bearerToken: c.natsWsBearerToken,
      headers: kvMap(c.natsWsHeader),
      query: kvMap(c.natsWsQuery),
    },
    catalog: { refreshIntervalMs: c.refreshInterval * 1000 },
    tasks: { ttlMs: c.taskTtl * 1000 },
    events: { maxAgeMs: c.eventsMaxAge * 1000, maxBytes: c.eventsMaxBytes, maxMsgs: c.eventsMaxMsgs },
  };
}

export function bridgeOptionsFrom(c: Config): BridgeOptions {
  return {
    mesh: meshOptionsFrom(c),
    include: c.include,
    exclude: c.exclude,
    nodes: c.node,
    admin: c.admin,
    discovery: { mode: c.discovery, threshold: c.discoveryThreshold },
    nodeArg: c.nodeArg,
    allowDirs: c.allowDir,
    callTimeoutMs: c.callTimeout * 1000,
    streamIdleMs: c.streamIdleTimeout * 1000,
    keepaliveMs: c.keepaliveInterval * 1000,
    inlineImageMax: c.inlineImageMax,
    resourceLinks: c.resourceLinks,
    logCalls: c.logCalls,
    resourceMax: c.resourceMax,
    tasks: {
      disabled: c.disableTasks,
      tools: c.taskTools,
      pollMs: Math.round(c.taskPollInterval * 1000),
      // stdio: one identity per process unless a shared secret is configured.
      owner: c.taskOwner,
      maxPerIdentity: c.maxTasksPerIdentity,
    },
    resultMax: c.resultMax,
    events: {
      disabled: c.disableEvents,
      heartbeatMs: c.eventsHeartbeat * 1000,
      maxStreamsPerPrincipal: c.eventsMaxStreams,
      maxSubscriptionsPerPrincipal: c.eventsMaxSubscriptions,
      webhookConcurrency: c.eventsWebhookConcurrency,
      webhookAllowHttp: c.eventsWebhookAllowHttp,
      webhookAllowPrivate: c.eventsWebhookAllowPrivate,
    },
    policy: c.policy,
    audit: c.audit,
  };
}

async function serve(config: Config, log: Logger): Promise<void> {
  let embedded: EmbeddedNats | undefined;
  if (config.embeddedNats) {
    const { startEmbeddedNats } = await import("./embedded-nats.js");
    embedded = await startEmbeddedNats({ log: (m) => log.info(m) });
    config = { ...config, nats: embedded.url };
  }
  const { Bridge } = await import("./mcp/bridge.js");
  const bridge = new Bridge(bridgeOptionsFrom(config), log);
  bridge.start();
  // OpenTelemetry: only when OTEL_* asks for it; the SDK loads in the background.
  void startTracing((level, message) => log.log(level, message), process.env, { stdoutIsProtocol: config.transport === "stdio" });

  let stopping = false;
  let transport: { close(): Promise<void> } | undefined;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`shutting down (${why}): cancelling in-flight calls and draining NATS`);
    // Everything started is released below, so the process ends by itself. Should something
    // still run after 5 s (a bug), say what and exit anyway rather than hang.
    const force = setTimeout(() => {
      log.error(`shutdown: still running after 5 s: ${process.getActiveResourcesInfo().join(", ")}; exiting anyway`);
      process.exit(1);
    }, 5000);
    force.unref();
    await bridge.shutdown();
    await transport?.close();
    await embedded?.stop();
    await stopTracing();
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  if (config.transport === "http") {
    const { serveHttp } = await import("./transports/http.js");
    transport = await serveHttp(bridge, config, log, () => void shutdown("HTTP server closed"));
  } else {
    const [{ serveStdio }, { localPrincipal }] = await Promise.all([import("./transports/stdio.js"), import("./mcp/principal.js")]);
    transport = await serveStdio(bridge, () => void shutdown("stdin closed"), localPrincipal(config.principal));
    log.info(`serving MCP over stdio; NATS ${config.nats}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { ConfigError, helpText, parseConfig } = await import("./config.js");
  let parsed;
  try {
    parsed = parseConfig(argv);
  } catch (err) {
    process.stderr.write(`mesh-mcp: ${scrub((err as Error).message)}\n`);
    return 2;
  }
  const { positionals } = parsed;
  let config = parsed.config;
  // Registered before anything can print them (the mesh library adds the URL's own when it connects).
  for (const secret of [config.natsToken, config.natsPassword, config.natsWsBearerToken, config.authToken, config.taskOwner, config.oauthIntrospectionClientSecret]) addSecret(secret);
  if (config.help || config.version) {
    const { SERVER_VERSION } = await import("./mcp/server.js");
    process.stdout.write(config.help ? helpText(SERVER_VERSION) + "\n" : `${SERVER_VERSION}\n`);
    return 0;
  }
  const warning = nodeVersionWarning(process.versions.node);
  if (warning) process.stderr.write(`mesh-mcp: warning: ${warning}\n`);
  const [command = "serve", ...rest] = positionals;
  const { Logger } = await import("./mcp/log.js");
  const log = new Logger(config.logLevel, true, config.logFormat);
  let embedded: EmbeddedNats | undefined;
  try {
    if (config.embeddedNats && command !== "serve") {
      // One-shot commands against a private server: quiet unless asked (stdout is their output).
      const { startEmbeddedNats } = await import("./embedded-nats.js");
      embedded = await startEmbeddedNats({ log: (m) => log.debug(m) });
      config = { ...config, nats: embedded.url };
    }
    switch (command) {
      case "serve":
        await serve(config, log);
        return -1; // keep running
      case "tools":
        return await (await import("./commands.js")).runTools(config, bridgeOptionsFrom(config));
      case "call":
        return await (await import("./commands.js")).runCall(config, bridgeOptionsFrom(config), rest);
      case "hash-token": {
        const { stdout, code } = (await import("./transports/auth.js")).hashTokenCommand(rest);
        process.stdout.write(stdout);
        return code;
      }
      case "doctor":
        return await (await import("./commands.js")).runDoctor(config, meshOptionsFrom(config));
      case "demo":
        // The demo (a private NATS, the example nodes, an HTTP server) runs until Ctrl-C.
        await import("./demo.js");
        return -1;
      case "status":
        return await (await import("./commands.js")).runStatus(config, bridgeOptionsFrom(config));
      default:
        process.stderr.write(`mesh-mcp: unknown command "${command}". Run mesh-mcp --help.\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`mesh-mcp: ${err instanceof ConfigError ? "" : "error: "}${scrub((err as Error).message)}\n`);
    return 1;
  } finally {
    await embedded?.stop();
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
});
