import { join } from "node:path";

/** What every benchmark section gets from the runner. */
export interface BenchContext {
  quick: boolean;
  /** The bench nats-server (JetStream on, max_payload raised). */
  natsUrl: string;
  /** When set, mesh-mcp server processes run under `node --cpu-prof` writing here. */
  profileDir?: string;
  /** Progress lines (stderr, never the table). */
  log(message: string): void;
}

/** Node flags for a server process: CPU profiling when asked. */
export function serverNodeArgs(ctx: BenchContext, tag: string): string[] {
  // 200 µs samples (default 1 ms): a call costs a few hundred µs, and its parts tens.
  return ctx.profileDir ? ["--cpu-prof", "--cpu-prof-interval", "200", "--cpu-prof-dir", join(ctx.profileDir, tag)] : [];
}
