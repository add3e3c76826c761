/**
 * Running a call on exactly one node. jb-mesh's `.stream` subjects have no queue
 * group: a stream sent to `tools.<tool>.<method>.stream` runs on every node that
 * offers it. So the caller picks one node from the catalog and targets it
 * (`node.<node>.…`), and does the same for request/reply calls, which also tells it
 * which node to watch. A node that answers "tool X is not running" (the tool never
 * ran) is skipped for a while and the call goes to the next one.
 */
import { NoRespondersError } from "./errors.js";
import type { MeshStream } from "./call.js";
import type { StreamFrame } from "./types.js";

/** How long a node that just failed a call's setup is avoided when another node can serve. */
export const FAILED_NODE_AVOID_MS = 30_000;

/**
 * Errors a jb-mesh node gives before the tool runs (pkg/tools/executor.go: the tool is
 * stopped, unknown, or cannot stream); retrying them elsewhere cannot run a job twice.
 */
const SETUP_ERRORS = [
  /^tool \S+ is not running/i,
  /^tool not found: /i,
  /^method not found: /i,
  /^failed to ensure environment: /i,
  /^streaming requires (msgpack transport|persistent mode)/i,
];

export function isSetupError(text: string | undefined): boolean {
  return text !== undefined && SETUP_ERRORS.some((re) => re.test(text.trim()));
}

/**
 * Picks among the nodes that offer a method: not one that just failed, then the one with
 * the fewest of our calls of that method in flight (a jb-mesh node runs one request per
 * subject at a time: its handlers run inside the NATS subscription's callback, so a second
 * call waits behind the first), then the least recently used.
 */
export class NodePicker {
  private used = new Map<string, number>();
  private failed = new Map<string, number>();
  private busy = new Map<string, number>();
  private tick = 0;

  pick(tool: string, nodes: readonly string[], exclude: ReadonlySet<string> = new Set(), method = ""): string | undefined {
    const now = Date.now();
    const open = nodes.filter((n) => !exclude.has(n));
    if (open.length === 0) return undefined;
    const healthy = open.filter((n) => (this.failed.get(`${n}\u0000${tool}`) ?? 0) <= now);
    const pool = healthy.length ? healthy : open;
    const load = (n: string) => this.busy.get(`${n}\u0000${tool}.${method}`) ?? 0;
    let best = pool[0]!;
    for (const n of pool) {
      const d = load(n) - load(best);
      if (d < 0 || (d === 0 && (this.used.get(n) ?? 0) < (this.used.get(best) ?? 0))) best = n;
    }
    this.used.set(best, ++this.tick);
    if (this.used.size > 10_000) this.used.clear();
    return best;
  }

  /** A call of `tool.method` starts on `node`; the returned function ends it. */
  started(node: string, tool: string, method: string): () => void {
    const k = `${node}\u0000${tool}.${method}`;
    this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.busy.get(k) ?? 1) - 1;
      if (left > 0) this.busy.set(k, left);
      else this.busy.delete(k);
    };
  }

  /** `node` could not serve `tool` (not running there, gone): prefer others for a while. */
  failedOn(node: string, tool: string): void {
    this.failed.set(`${node}\u0000${tool}`, Date.now() + FAILED_NODE_AVOID_MS);
    if (this.failed.size > 10_000) this.failed.clear();
  }
}

/**
 * A stream on one picked node that moves to the next node while the first answer is a
 * setup failure (or no responder: the node just left). Frames pass through unchanged.
 */
export class PickedStream implements AsyncIterable<StreamFrame> {
  /** The current attempt's subject (the first node's until a retry). */
  subject: string;
  node?: string;

  constructor(
    private readonly open: (node: string) => MeshStream,
    private readonly nextNode: (tried: ReadonlySet<string>) => string | undefined,
    private readonly failedOn: (node: string) => void,
    first: MeshStream,
  ) {
    this.current = first;
    this.subject = first.subject;
    this.node = first.node;
  }

  private current: MeshStream;

  get callId(): string {
    return this.current.callId;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamFrame> {
    const tried = new Set<string>();
    for (;;) {
      const stream = this.current;
      const node = stream.node ?? "";
      tried.add(node);
      let retry = false;
      let first = true;
      try {
        for await (const frame of stream) {
          if (first) {
            first = false;
            const next = frame.error !== undefined && frame.chunk === undefined && isSetupError(frame.error) ? this.nextNode(tried) : undefined;
            if (next !== undefined) {
              this.failedOn(node);
              this.current = this.open(next);
              retry = true;
              break;
            }
          }
          yield frame;
        }
      } catch (err) {
        const next = first && err instanceof NoRespondersError ? this.nextNode(tried) : undefined;
        if (next === undefined) throw err;
        this.failedOn(node);
        this.current = this.open(next);
        retry = true;
      }
      if (!retry) return;
      this.subject = this.current.subject;
      this.node = this.current.node;
    }
  }
}
