// The lock-order checker behind `MutexGroup`. Each thread (the main thread and every Worker)
// keeps its own stack of the locks it holds; each acquisition records "every held lock comes
// before this one" in a bit matrix that all threads share. Two locks seen in both orders form a
// cycle: a deadlock waiting for the right timing, reported even when the run did not deadlock.

/** One edge of the lock order: some thread held lock `first` while it acquired lock `then`. */
export interface LockOrderEdge {
  /** The lock that was held. */
  first: number;
  /** The lock acquired while `first` was held. */
  then: number;
}

/**
 * What the checker writes, one JSON object a line, to the file named by the environment variable
 * `COURSE_LOCK_ORDER_REPORT` (when set and `--allow-env --allow-write` are granted): each new
 * order edge the first time any thread takes it, each self-deadlock, and each lock the first
 * time any thread takes it (`use`: which locks a program really uses). `group` is the label
 * given to `MutexGroup.create`. The autograder reads this file after stopping the server.
 */
export type LockOrderEvent =
  | { event: "order"; group: string; first: number; then: number }
  | { event: "self"; group: string; lock: number }
  | { event: "use"; group: string; lock: number };

/** A lock this thread holds: the group's id and the lock's index in it. */
interface Held {
  group: number;
  lock: number;
}

// Per thread: module state is per isolate, and each Worker is its own isolate.
const held: Held[] = [];

/** The locks of `group` this thread holds, oldest first. */
export function heldLocks(group: number): number[] {
  return held.filter((h) => h.group === group).map((h) => h.lock);
}

/** Records that this thread now holds `lock` of `group`. */
export function pushHeld(group: number, lock: number): void {
  held.push({ group, lock });
}

// Per thread: the last tryLock that failed, forgotten when this thread releases any lock.
let lastFailedTry: Held | null = null;

/** Records that this thread's tryLock of `lock` failed. */
export function failedTry(group: number, lock: number): void {
  lastFailedTry = { group, lock };
}

/**
 * True when this thread's last failed tryLock was of `lock` and it has released nothing since:
 * trying again is then waiting for `lock` while holding what it holds.
 */
export function retriesWithoutRelease(group: number, lock: number): boolean {
  return lastFailedTry?.group === group && lastFailedTry.lock === lock;
}

/** Forgets the most recent hold of `lock`; false when this thread does not hold it. */
export function popHeld(group: number, lock: number): boolean {
  for (let i = held.length - 1; i >= 0; i--) {
    if (held[i].group === group && held[i].lock === lock) {
      held.splice(i, 1);
      lastFailedTry = null;
      return true;
    }
  }
  return false;
}

/** Appends one event to the report file, if there is one. Never throws. */
export function reportEvent(event: LockOrderEvent): void {
  const path = reportPath();
  if (path === null) return;
  try {
    Deno.writeTextFileSync(path, JSON.stringify(event) + "\n", { append: true });
  } catch {
    // A report that cannot be written must not change what the program does.
  }
}

let cachedPath: string | null | undefined;

function reportPath(): string | null {
  if (cachedPath !== undefined) return cachedPath;
  try {
    cachedPath = Deno.env.get("COURSE_LOCK_ORDER_REPORT") || null;
  } catch {
    cachedPath = null; // no --allow-env: no report
  }
  return cachedPath;
}

/**
 * The cycles in a lock order given as edges: each cycle is a list of locks `[a, b, ..., a]`
 * where each lock was held while the next was acquired. At most `limit` (default 10) cycles,
 * each found from one back edge of a depth-first search, shortest paths first.
 */
export function findCycles(edges: LockOrderEdge[], limit = 10): number[][] {
  const next = new Map<number, number[]>();
  for (const { first, then } of edges) {
    if (!next.has(first)) next.set(first, []);
    next.get(first)!.push(then);
  }
  const cycles: number[][] = [];
  const seen = new Set<string>();
  for (const { first, then } of edges) {
    if (cycles.length >= limit) break;
    const back = shortestPath(next, then, first);
    if (back === null) continue;
    const cycle = [first, ...back];
    const key = [...cycle.slice(0, -1)].sort((a, b) => a - b).join(",");
    if (!seen.has(key)) {
      seen.add(key);
      cycles.push(cycle);
    }
  }
  return cycles;
}

/** Breadth-first: the locks from `from` to `to` along edges, or null when unreachable. */
function shortestPath(next: Map<number, number[]>, from: number, to: number): number[] | null {
  const parent = new Map<number, number>([[from, from]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const at = queue[i];
    if (at === to) {
      const path = [to];
      while (path[0] !== from) path.unshift(parent.get(path[0])!);
      return path;
    }
    for (const n of next.get(at) ?? []) {
      if (!parent.has(n)) {
        parent.set(n, at);
        queue.push(n);
      }
    }
  }
  return null;
}
