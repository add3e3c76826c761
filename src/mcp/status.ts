/**
 * The status view: what one mesh-mcp process knows right now — nodes and their tools,
 * calls in flight (tool, node, caller, age), recent failures with their reason, open
 * tasks, sessions, the NATS connection, versions — as one JSON object. Read by the HTTP
 * status page (`/status`, `/status.json`) and by `mesh-mcp status`.
 *
 * Read-only and nothing secret: no tokens, no arguments, no session ids, no task owners;
 * reasons are scrubbed of registered secrets (calls.ts).
 */
import type { Bridge } from "./bridge.js";
import { SERVER_VERSION } from "./server.js";

export interface StatusNode {
  name: string;
  tools: Array<{ tool: string; version: string; methods: string[] }>;
}

export interface StatusSessions {
  /** "stdio", "http", or "http (stateless)". */
  transport: string;
  open: number;
  /** Open sessions: who, since when, calls running (no session ids: they are capabilities). */
  list?: Array<{ caller: string; ageMs: number; inflight: number }>;
}

export interface StatusView {
  /** When this view was taken (epoch ms): the page shows ages relative to it. */
  at: number;
  versions: { meshMcp: string; node: string; natsServer?: string };
  startedAt: number;
  nats: { state: string; server?: string; serverName?: string; jetstream?: boolean; error?: string };
  mesh: { nodes: number; methods: number; visibleMethods: number; lastDiscoveryMs?: number };
  nodes: StatusNode[];
  calls: Array<{ id: number; tool: string; node?: string; candidates: string[]; callId?: string; caller?: string; ageMs: number }>;
  failures: Array<{ tool: string; node?: string; caller?: string; outcome: string; reason: string; at: number; ms: number }>;
  tasks: { enabled: boolean; open: Array<{ id: string; tool: string; node: string; status: string; ageMs: number; chunks: number }>; truncated?: boolean; error?: string };
  sessions: StatusSessions;
}

const STARTED_AT = Date.now();
/** Open tasks are read from NATS at most this often (a phone polling every 2 s costs nothing more). */
const TASKS_CACHE_MS = 2000;
const tasksCache = new WeakMap<Bridge, { at: number; value: Promise<StatusView["tasks"]> }>();

/** The status of `bridge` now. `sessions`: what the transport knows of its sessions. */
export async function statusView(bridge: Bridge, sessions: StatusSessions): Promise<StatusView> {
  const now = Date.now();
  const mesh = bridge.mesh;
  const catalog = bridge.catalog;
  const info = mesh?.serverInfo;
  const byNode = new Map<string, Map<string, { version: string; methods: string[] }>>();
  for (const e of catalog?.methods() ?? []) {
    for (const n of e.nodes) {
      let tools = byNode.get(n);
      if (!tools) byNode.set(n, (tools = new Map()));
      const t = tools.get(e.tool) ?? { version: e.version, methods: [] };
      t.methods.push(e.method);
      tools.set(e.tool, t);
    }
  }
  const nodes = [...byNode].sort(([a], [b]) => a.localeCompare(b)).map(([name, tools]) => ({
    name,
    tools: [...tools].sort(([a], [b]) => a.localeCompare(b)).map(([tool, t]) => ({ tool, version: t.version, methods: t.methods.sort() })),
  }));
  return {
    at: now,
    versions: { meshMcp: SERVER_VERSION, node: process.version, natsServer: info?.version },
    startedAt: STARTED_AT,
    nats: {
      state: bridge.state,
      server: mesh?.server,
      serverName: info?.name,
      jetstream: info?.jetstream,
      error: bridge.unavailableReason(),
    },
    mesh: {
      nodes: byNode.size,
      methods: catalog?.methods().length ?? 0,
      visibleMethods: bridge.methods().length,
      lastDiscoveryMs: catalog ? Math.round(catalog.lastDiscoveryMs) : undefined,
    },
    nodes,
    calls: bridge.calls.inflight().map((c) => ({
      id: c.id,
      tool: c.key,
      node: c.node,
      candidates: c.node ? [] : (bridge.methods().find((e) => `${e.tool}.${e.method}` === c.key)?.nodes ?? []),
      callId: c.callId,
      caller: c.caller,
      ageMs: now - c.startedAt,
    })),
    failures: bridge.calls.failures().map((f) => ({ tool: f.key, node: f.node, caller: f.caller, outcome: f.outcome, reason: f.reason, at: f.at, ms: f.ms })),
    tasks: await openTasks(bridge, now),
    sessions,
  };
}

function openTasks(bridge: Bridge, now: number): Promise<StatusView["tasks"]> {
  if (bridge.opts.tasks?.disabled) return Promise.resolve({ enabled: false, open: [] });
  const mesh = bridge.mesh;
  if (!mesh) return Promise.resolve({ enabled: true, open: [], error: "not connected to NATS" });
  const cached = tasksCache.get(bridge);
  if (cached && now - cached.at < TASKS_CACHE_MS) return cached.value;
  const value = (async (): Promise<StatusView["tasks"]> => {
    try {
      // Read-only: the bucket as it is, never created (mesh.tasks() would create it).
      const { tasks, truncated } = await mesh.openTasks();
      return {
        enabled: true,
        open: tasks.map((t) => ({ id: t.id, tool: `${t.tool}.${t.method}`, node: t.node, status: t.status, ageMs: now - t.createdAt, chunks: t.chunks })),
        ...(truncated ? { truncated } : {}),
      };
    } catch (err) {
      return { enabled: true, open: [], error: `cannot read tasks: ${(err as Error).message}` };
    }
  })();
  tasksCache.set(bridge, { at: now, value });
  return value;
}

/** The view as terminal text (`mesh-mcp status`). */
export function statusText(v: StatusView): string {
  const age = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
  const lines: string[] = [];
  lines.push(`mesh-mcp ${v.versions.meshMcp} (Node ${v.versions.node})`);
  lines.push(`NATS: ${v.nats.state}${v.nats.server ? ` ${v.nats.server}` : ""}${v.nats.serverName ? ` (${v.nats.serverName}, nats-server ${v.versions.natsServer}${v.nats.jetstream ? ", JetStream" : ", no JetStream"})` : ""}`);
  if (v.nats.error) lines.push(`  ${v.nats.error}`);
  lines.push(`Nodes (${v.nodes.length}), ${v.mesh.methods} methods${v.mesh.lastDiscoveryMs !== undefined ? `, discovery ${v.mesh.lastDiscoveryMs} ms` : ""}:`);
  for (const n of v.nodes) {
    lines.push(`  ${n.name}`);
    for (const t of n.tools) lines.push(`    ${t.tool} v${t.version || "?"}: ${t.methods.join(", ")}`);
  }
  lines.push(`Calls in flight (${v.calls.length}):`);
  for (const c of v.calls) lines.push(`  ${c.tool} on ${c.node ?? (c.candidates.length ? `any of ${c.candidates.join(", ")}` : "any node")} for ${c.caller ?? "?"}, ${age(c.ageMs)}`);
  lines.push(`Recent failures (${v.failures.length}):`);
  for (const f of v.failures.slice(0, 10)) lines.push(`  ${new Date(f.at).toISOString()} ${f.tool} ${f.outcome}${f.node ? ` (node ${f.node})` : ""}${f.caller ? ` for ${f.caller}` : ""}: ${f.reason}`);
  lines.push(`Open tasks (${v.tasks.enabled ? v.tasks.open.length : "tasks off"})${v.tasks.error ? `: ${v.tasks.error}` : ":"}`);
  for (const t of v.tasks.open) lines.push(`  ${t.id} ${t.tool} on ${t.node || "?"}: ${t.status}, ${age(t.ageMs)}${t.chunks ? `, ${t.chunks} chunks` : ""}`);
  lines.push(`Sessions: ${v.sessions.open} (${v.sessions.transport})`);
  return lines.join("\n");
}
