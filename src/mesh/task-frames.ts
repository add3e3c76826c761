/**
 * The capture stream of durable tasks: the nodes' replies and stream frames, stored
 * by JetStream under `mesh-mcp-tasks.<id>.frames` whoever listens. Reads use only
 * nats-server 2.9 features (last-by-subject get, subject-filtered info, one-filter
 * ordered consumers).
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { CapturedMsg } from "./task-records.js";
import { taskFramesSubject } from "./subjects.js";

export interface LastFrame {
  msg: CapturedMsg;
  /** When JetStream stored it (ms since the epoch). */
  time: number;
  seq: number;
}

export class CapturedFrames {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    readonly stream: string,
    private readonly prefix?: string,
  ) {}

  /** Creates the stream unless it exists (another process may create it at the same time). */
  static async ensure(jsm: JetStreamManager, stream: string, prefix: string, ttlMs: number): Promise<void> {
    try {
      await jsm.streams.info(stream);
    } catch {
      try {
        await jsm.streams.add({ name: stream, subjects: [`${prefix}.*.frames`], max_age: ttlMs * 1_000_000, description: "mesh-mcp: nodes' replies to task calls" });
      } catch (err) {
        if (!/already in use|exists/i.test((err as Error).message)) throw err;
      }
    }
  }

  subject(id: string): string {
    return taskFramesSubject(id, this.prefix);
  }

  async last(id: string): Promise<LastFrame | undefined> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(id) });
      if (!m) return undefined;
      return { msg: { data: m.data, serviceError: m.header?.get("Nats-Service-Error") || undefined }, time: m.time.getTime(), seq: m.seq };
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  async count(id: string): Promise<number> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: this.subject(id) });
    return info.state.subjects?.[this.subject(id)] ?? 0;
  }

  /** Every captured message of a task, in order. */
  async all(id: string, kind: "call" | "stream"): Promise<CapturedMsg[]> {
    const last = await this.last(id);
    if (!last) return [];
    // A call has one reply: the last message is all of it (no consumer needed).
    if (kind === "call") return [last.msg];
    // A string filter is sent as 2.9's `filter_subject` (an array needs 2.10).
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: this.subject(id) });
    const out: CapturedMsg[] = [];
    const msgs = await consumer.consume();
    try {
      for await (const m of msgs) {
        out.push({ data: m.data, serviceError: m.headers?.get("Nats-Service-Error") || undefined });
        if (m.seq >= last.seq) break;
      }
    } finally {
      await msgs.close().catch(() => {});
    }
    return out;
  }
}
