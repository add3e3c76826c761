/**
 * A mesh node on raw NATS that behaves like the real jb-mesh node (v0.0.9), not like
 * our TypeScript node side: written from jb-mesh's pkg/mesh/mesh.go (registerToolLocked:
 * a micro service per tool, metadata node, endpoint metadata schema, a plain
 * `node.<node>.tools.<tool>.<method>` subscription) and pkg/node/node.go
 * (registerStreamingSubjects / handleStreamRequest: plain `.stream` subscriptions with
 * no queue group, frames stamped with `node`, a setup failure as one
 * `{error, done:true, node}` frame, nothing at all after a cancel). Python tool
 * behaviour (jb-service) is scripted per method: chunks, a raise mid-stream (an
 * `error` frame without `done`), `None` (no final frame), results with `__mesh_files__`.
 *
 * Run as a program (`node --import tsx test/helpers/jbnode.ts <url> <node> <tool>…`)
 * it serves the `slow` scenario tool until killed, for SIGKILL tests.
 */
import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { Svcm, type Service } from "@nats-io/services";

export interface JbFrame {
  chunk?: unknown;
  result?: unknown;
  done?: boolean;
  error?: string;
  traceback?: string;
}

export interface JbMethod {
  /** MethodSchema published in the endpoint metadata. */
  schema?: Record<string, unknown>;
  /** Declared `stream: true` in the manifest: also served on the `.stream` subjects. */
  stream?: boolean;
  /** Request/reply: what the node answers (`{ok, result|error}`), or undefined for no reply at all. */
  call?: (params: Record<string, unknown>, req: Record<string, unknown>, signal: AbortSignal) => Promise<{ ok: boolean; result?: unknown; error?: string } | undefined>;
  /**
   * Streaming: the frames the tool produces, as jumpboot hands them to the node.
   * Throwing a string before the first frame is a setup failure ("tool X is not running").
   */
  frames?: (params: Record<string, unknown>, signal: AbortSignal) => AsyncIterable<JbFrame>;
}

export interface JbTool {
  name: string;
  version?: string;
  description?: string;
  methods: Record<string, JbMethod>;
}

export interface JbNode {
  readonly node: string;
  readonly nc: NatsConnection;
  /** Every request this node received, by subject. */
  readonly received: Array<{ subject: string; body: Record<string, unknown> }>;
  /** Call ids whose `cancel.<id>` reached a running handler. */
  readonly cancelled: string[];
  register(tool: JbTool): Promise<void>;
  unregister(name: string): Promise<void>;
  /** Publishes a lifecycle event like pkg/events (`events.tool.started` …). */
  event(type: string, data?: Record<string, unknown>): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function jbNode(nc: NatsConnection, node: string): Promise<JbNode> {
  const svcm = new Svcm(nc);
  const regs = new Map<string, { svc: Service; subs: Subscription[] }>();
  const received: JbNode["received"] = [];
  const cancelled: string[] = [];

  // Per call, like the Go node: subscribe to cancel.<call_id> once the handler starts.
  const withCancel = (callId: string | undefined) => {
    const ac = new AbortController();
    const sub = callId ? nc.subscribe(`cancel.${callId}`, { callback: () => (cancelled.push(callId), ac.abort()) }) : undefined;
    return { signal: ac.signal, done: () => sub?.unsubscribe() };
  };
  const parse = (msg: Msg): Record<string, unknown> | undefined => {
    try {
      return msg.data.length ? (JSON.parse(dec.decode(msg.data)) as Record<string, unknown>) : {};
    } catch {
      return undefined;
    }
  };

  const serveCall = async (tool: string, m: JbMethod, msg: Msg) => {
    const req = parse(msg);
    received.push({ subject: msg.subject, body: req ?? {} });
    if (!req) return msg.respond(JSON.stringify({ ok: false, error: "invalid request: bad JSON", node }));
    const c = withCancel(req.call_id as string | undefined);
    try {
      const r = await m.call?.((req.params as Record<string, unknown>) ?? {}, req, c.signal);
      if (r) msg.respond(JSON.stringify({ ...r, node }));
    } finally {
      c.done();
    }
  };

  const serveStream = async (tool: string, m: JbMethod, msg: Msg) => {
    const req = parse(msg);
    received.push({ subject: msg.subject, body: req ?? {} });
    const reply = msg.reply;
    const publish = (f: JbFrame) => reply && nc.publish(reply, enc.encode(JSON.stringify({ ...f, node })));
    if (!req) return publish({ error: "invalid request: bad JSON", done: true });
    const c = withCancel(req.call_id as string | undefined);
    try {
      let frames: AsyncIterable<JbFrame>;
      try {
        frames = m.frames!((req.params as Record<string, unknown>) ?? {}, c.signal);
        // Setup happens before the first frame: a generator that throws at once is a setup failure.
        const it = frames[Symbol.asyncIterator]();
        const first = await it.next();
        if (!first.done) publish(first.value);
        for (;;) {
          if (c.signal.aborted) return; // like the Go node: no frame after a cancel
          const n = await it.next();
          if (n.done) return;
          if (c.signal.aborted) return;
          publish(n.value);
        }
      } catch (err) {
        if (typeof err === "string") return publish({ error: err, done: true }); // publishStreamErrorFrame
        throw err;
      }
    } finally {
      c.done();
    }
  };

  const api: JbNode = {
    node,
    nc,
    received,
    cancelled,
    async register(tool) {
      await api.unregister(tool.name);
      const svc = await svcm.add({ name: tool.name, version: tool.version ?? "1.0.0", description: tool.description ?? "", metadata: { node } });
      const group = svc.addGroup(`tools.${tool.name}`);
      const subs: Subscription[] = [];
      // nats.go runs a subscription's handler inline: one request at a time per subject.
      const serial = (serve: (msg: Msg) => Promise<unknown>) => {
        let chain: Promise<unknown> = Promise.resolve();
        return (_e: unknown, msg: Msg) => void (chain = chain.then(() => serve(msg)).catch(() => {}));
      };
      for (const [method, m] of Object.entries(tool.methods)) {
        // pkg/node: streaming subjects first, then the micro endpoint and the node-targeted subject.
        if (m.stream) {
          for (const subject of [`tools.${tool.name}.${method}.stream`, `node.${node}.tools.${tool.name}.${method}.stream`]) {
            subs.push(nc.subscribe(subject, { callback: serial((msg) => serveStream(tool.name, m, msg)) }));
          }
        }
        const schema = { ...(m.schema ?? {}), ...(m.stream ? { stream: true } : {}) };
        group.addEndpoint(method, {
          handler: serial((msg) => serveCall(tool.name, m, msg)),
          metadata: { schema: JSON.stringify(schema) },
        });
        subs.push(nc.subscribe(`node.${node}.tools.${tool.name}.${method}`, { callback: serial((msg) => serveCall(tool.name, m, msg)) }));
      }
      await nc.flush();
      regs.set(tool.name, { svc, subs });
    },
    async unregister(name) {
      const r = regs.get(name);
      if (!r) return;
      regs.delete(name);
      for (const s of r.subs) s.unsubscribe();
      await r.svc.stop().catch(() => {});
      await nc.flush();
    },
    event(type, data = {}) {
      const [kind, what] = type.split(".");
      nc.publish(`events.${kind}.${what}`, JSON.stringify({ type, node, timestamp: new Date().toISOString(), data }));
    },
  };
  return api;
}

/** The `slow` tool: `wait` answers only when cancelled, `ticks` streams a chunk every 200 ms until cancelled. */
export function slowTool(): JbTool {
  return {
    name: "slow",
    methods: {
      wait: {
        schema: { type: "object", properties: {} },
        call: (_p, _req, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve({ ok: false, error: "context canceled" }), { once: true })),
      },
      ticks: {
        stream: true,
        schema: { type: "object", properties: {} },
        frames: async function* (_p, signal) {
          for (let i = 1; !signal.aborted; i++) {
            yield { chunk: { progress: i, message: `tick ${i}` }, done: false };
            await new Promise((r) => setTimeout(r, 200));
          }
        },
      },
    },
  };
}

// As a program: serve the slow tool as node argv[3] until killed.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!) && process.argv[2]) {
  const nc = await connect({ servers: process.argv[2], maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const n = await jbNode(nc, process.argv[3] ?? "child");
  await n.register(slowTool());
  process.stdout.write("ready\n");
}
