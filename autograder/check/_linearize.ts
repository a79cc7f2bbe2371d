/**
 * The search at the heart of the linearizability checker: Wing & Gong's algorithm with Lowe's
 * memoisation, as porcupine implements it. Internal to `linearizability.ts`.
 *
 * @module
 */

import type { Model, Operation, Verdict } from "./linearizability.ts";

/** A call or a return in the doubly linked list of pending events. */
interface Entry {
  /** Index of the operation in the history. */
  id: number;
  /** For a call, its return; for a return, null. */
  match: Entry | null;
  /** Position in time order, to find how far the search got. */
  pos: number;
  prev: Entry | null;
  next: Entry | null;
}

/** What one search found. */
export interface SearchResult {
  verdict: Verdict;
  /** The longest sequence of operation indices the search could linearize. */
  longest: number[];
  /** For "illegal": the operations called before the search's furthest dead end. */
  needed: number[];
  /** For "illegal": the operation whose return is that dead end (it could not be placed). */
  stuck: number;
}

interface Frame<S> {
  entry: Entry;
  state: S;
}

/**
 * Builds the event list: calls and returns in time order, a call before a return at the same
 * time (so the two operations count as overlapping). Returns the list head, a sentinel.
 */
function entries<I, O>(history: readonly Operation<I, O>[]): Entry[] {
  const events = history.flatMap((op, id) => [[op.call, 0, id], [op.return, 1, id]] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const list: Entry[] = [{ id: -1, match: null, pos: -1, prev: null, next: null }];
  const returns = new Map<number, Entry>();
  for (let i = events.length - 1; i >= 0; i--) {
    const [, kind, id] = events[i];
    const e: Entry = {
      id,
      match: kind === 0 ? returns.get(id)! : null,
      pos: i,
      prev: null,
      next: null,
    };
    if (kind === 1) returns.set(id, e);
    list[i + 1] = e;
  }
  for (let i = 0; i < list.length; i++) {
    list[i].prev = list[i - 1] ?? null;
    list[i].next = list[i + 1] ?? null;
  }
  return list;
}

/** Takes a call and its return out of the list. */
function lift(e: Entry): void {
  e.prev!.next = e.next;
  e.next!.prev = e.prev;
  const m = e.match!;
  m.prev!.next = m.next;
  if (m.next) m.next.prev = m.prev;
}

/** Puts back what {@link lift} took out; must undo lifts in reverse order. */
function unlift(e: Entry): void {
  const m = e.match!;
  m.prev!.next = m;
  if (m.next) m.next.prev = m;
  e.prev!.next = e;
  e.next!.prev = e;
}

/**
 * The memo of (set of linearized operations, state) pairs already explored. Keyed by a Zobrist
 * hash of the set (XOR of a random word per operation, updated in O(1)); a bucket holds every
 * pair with that hash, compared in full, so hash collisions cost time, never correctness.
 */
class Memo<S> {
  #buckets = new Map<number, { bits: Uint32Array; state: S }[]>();
  #equal: (a: S, b: S) => boolean;
  constructor(equal: (a: S, b: S) => boolean) {
    this.#equal = equal;
  }
  /** Adds the pair; false if it was already there. */
  add(hash: number, bits: Uint32Array, state: S): boolean {
    const bucket = this.#buckets.get(hash) ?? [];
    if (bucket.some((m) => sameBits(m.bits, bits) && this.#equal(m.state, state))) return false;
    bucket.push({ bits: bits.slice(), state });
    this.#buckets.set(hash, bucket);
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function zobrist(n: number): Int32Array {
  const words = new Int32Array(n);
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    words[i] = x;
  }
  return words;
}

/**
 * Searches for a linearization of `history`: walks the event list, linearizing the first
 * pending call the model accepts and backtracking when it meets the return of an operation not
 * yet linearized. Gives up with "unknown" once `performance.now()` passes `deadline`.
 */
export function search<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  deadline: number,
): SearchResult {
  const list = entries(history);
  const head = list[0];
  const keys = zobrist(history.length);
  const bits = new Uint32Array(Math.ceil(history.length / 32));
  const memo = new Memo<S>(model.equal ?? Object.is);
  const stack: Frame<S>[] = [];
  let longest: number[] = [];
  let furthest = -1, stuck = -1;
  let state = model.init(), hash = 0, steps = 0;
  let entry = head.next;
  while (entry !== null) {
    if ((++steps & 1023) === 0 && performance.now() > deadline) {
      return { verdict: "unknown", longest, needed: [], stuck: -1 };
    }
    if (entry.match) {
      const op = history[entry.id];
      const [ok, next] = model.step(state, op.input, op.output);
      bits[entry.id >> 5] ^= 1 << (entry.id & 31);
      if (ok && memo.add(hash ^ keys[entry.id], bits, next)) {
        stack.push({ entry, state });
        state = next, hash ^= keys[entry.id];
        lift(entry);
        if (stack.length > longest.length) longest = stack.map((f) => f.entry.id);
        entry = head.next;
      } else {
        bits[entry.id >> 5] ^= 1 << (entry.id & 31);
        entry = entry.next;
      }
    } else {
      if (entry.pos > furthest) furthest = entry.pos, stuck = entry.id;
      const top = stack.pop();
      if (!top) {
        return { verdict: "illegal", longest, needed: calledBefore(list, furthest), stuck };
      }
      ({ entry, state } = top);
      bits[entry.id >> 5] ^= 1 << (entry.id & 31);
      hash ^= keys[entry.id];
      unlift(entry);
      entry = entry.next;
    }
  }
  return { verdict: "ok", longest, needed: [], stuck: -1 };
}

/**
 * The operations whose call comes before event `pos`. When every branch of the search died at
 * or before `pos`, these alone are already illegal: the search over them is the same search.
 */
function calledBefore(list: Entry[], pos: number): number[] {
  return list.slice(1, pos + 2).filter((e) => e.match).map((e) => e.id).sort((a, b) => a - b);
}
