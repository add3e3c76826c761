/**
 * Bounds on running tasks. A task is a call that outlives its request, so it counts as
 * one: against its session's --max-inflight (2025 sessions), and per identity against
 * --max-tasks-per-identity (both revisions: every task starts in tasks.ts). One session
 * used to start 100 concurrent jobs.
 *
 * Counted by this process: the tasks it started that are still working. The count is
 * kept up to date by the tasks' own status changes, and checked against the store
 * before a refusal (a task that ended unseen, by its deadline or on another replica,
 * frees its place then), so a refusal is never stale.
 */
import type { TaskStore } from "../mesh/index.js";

/** Default of --max-tasks-per-identity. */
export const MAX_TASKS_PER_IDENTITY = 32;

/** The JSON-RPC error of a refused task: implementation-defined server error (the spec names no code for limits). */
export const TOO_MANY_TASKS = -32000;

export function tooManyTasks(message: string): Error {
  return Object.assign(new Error(message), { code: TOO_MANY_TASKS });
}

/** Running task ids (of one identity, or one session) that are re-checked before they refuse anything. */
export class RunningTasks {
  private readonly ids = new Set<string>();
  /** Places taken by tasks being created (taken at once, so concurrent creations cannot all pass the check). */
  private pending = 0;

  constructor(private readonly owner: string) {}

  get size(): number {
    return this.ids.size + this.pending;
  }

  reserve(): void {
    this.pending++;
  }

  /** A reserved place becomes task `id`, or (id undefined: the creation failed) is given back. */
  settle(id: string | undefined): void {
    this.pending--;
    if (id !== undefined) this.ids.add(id);
  }

  delete(id: string): void {
    this.ids.delete(id);
  }

  /** How many are still working, asking the store about each (call only at the cap: one read per task). */
  async recount(store: TaskStore): Promise<number> {
    await Promise.all([...this.ids].map(async (id) => {
      const view = await store.getTask(id, this.owner).catch(() => undefined);
      if (!view || view.status !== "working") this.ids.delete(id);
    }));
    return this.ids.size;
  }
}

const byIdentity = new Map<string, RunningTasks>();

/** The running tasks of `owner` in this process. */
export function tasksOfIdentity(owner: string): RunningTasks {
  let running = byIdentity.get(owner);
  if (!running) byIdentity.set(owner, (running = new RunningTasks(owner)));
  return running;
}

/** Forgets identities with nothing running (so the map does not grow with every identity ever seen). */
export function forgetIdle(owner: string): void {
  if (byIdentity.get(owner)?.size === 0) byIdentity.delete(owner);
}

/** One bound a new task must fit under: `running` (plus `others()`, e.g. the session's plain calls) below `max`. */
export interface TaskLimit {
  running: RunningTasks;
  max: number;
  others?: () => number;
  /** The refusal, naming the limit and what to do. */
  refusal: string;
}

/**
 * Takes a place under every limit or throws the refusal of the first that is full
 * (after re-checking its tasks against the store). The check and the reservation
 * happen in one turn of the event loop.
 */
export async function admitTask(store: TaskStore, limits: readonly TaskLimit[]): Promise<void> {
  const full = (l: TaskLimit) => l.max > 0 && l.running.size + (l.others?.() ?? 0) >= l.max;
  for (const l of limits) if (full(l)) await l.running.recount(store);
  const refused = limits.find(full);
  if (refused) throw tooManyTasks(refused.refusal);
  for (const l of limits) l.running.reserve();
}
