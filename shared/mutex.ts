import {
  failedTry,
  findCycles,
  heldLocks,
  type LockOrderEdge,
  popHeld,
  pushHeld,
  reportEvent,
  retriesWithoutRelease,
} from "./lock_order.ts";

// A mutex is one 32-bit word of shared memory, in the style of a Linux futex:
//   0 = unlocked, 1 = locked and nobody waits, 2 = locked and someone may be waiting.
// Locking is one compare-and-swap when the lock is free; only contention costs a system call
// (Atomics.wait puts the thread to sleep until an unlock's Atomics.notify).

const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

/** Acquires the futex word `cells[i]`, sleeping while another thread holds it. */
export function lockWord(cells: Int32Array, i: number): void {
  let c = Atomics.compareExchange(cells, i, UNLOCKED, LOCKED);
  if (c === UNLOCKED) return;
  if (c !== CONTENDED) c = Atomics.exchange(cells, i, CONTENDED);
  while (c !== UNLOCKED) {
    Atomics.wait(cells, i, CONTENDED);
    c = Atomics.exchange(cells, i, CONTENDED);
  }
}

/** Releases the futex word `cells[i]`, waking one sleeper if there may be one. */
export function unlockWord(cells: Int32Array, i: number): void {
  if (Atomics.sub(cells, i, 1) !== LOCKED) {
    Atomics.store(cells, i, UNLOCKED);
    Atomics.notify(cells, i, 1);
  }
}

// Layout of a group's buffer, in 32-bit words: a header, one word per lock, then the lock-order
// matrix (bit first*count+then set when `first` was held while `then` was acquired; the
// diagonal, bit i*count+i, set once lock i has been taken at all).
const H_COUNT = 0;
const H_ID = 1;
const H_LABEL_LEN = 2;
const H_LABEL = 3; // 8 words: up to 32 bytes of label
const HEADER_WORDS = 11;
const MAX_LABEL = 32;
/** Groups up to this size record the lock order (the matrix grows as count squared). */
export const MAX_CHECKED_LOCKS = 4096;

/** Options for {@link MutexGroup.create}. */
export interface MutexGroupOptions {
  /** Names the locks in reports: label "bucket" makes lock 3 "bucket[3]". Default "lock". */
  label?: string;
}

/**
 * `count` mutexes in one `SharedArrayBuffer`, usable from the main thread and every Worker, with
 * a lock-order checker. Create the group once, send `group.buffer` to each Worker with
 * `postMessage`, and rebuild it there with `MutexGroup.from(buffer)`: every thread then locks
 * the same memory.
 *
 * The checker: each thread remembers which locks of the group it holds. Acquiring lock B while
 * holding lock A records the order "A before B" in shared memory. If some thread ever takes B
 * before A too, `cycles()` reports the pair: a deadlock that needs only unlucky timing, found
 * even when the run did not deadlock. Acquiring a lock the thread already holds is a
 * self-deadlock: it is reported (stderr, and the report file), then the thread waits forever, as
 * with any non-recursive mutex. With the environment variable `COURSE_LOCK_ORDER_REPORT=<file>`
 * every new order and every self-deadlock is appended to that file as it happens.
 *
 * @example Two threads, one counter
 * ```ts
 * import { MutexGroup } from "@course/shared";
 *
 * const locks = MutexGroup.create(1, { label: "counter" });
 * const counter = new Int32Array(new SharedArrayBuffer(4));
 * {
 *   using _held = locks.hold(0); // released at the end of this block
 *   counter[0] += 1; // must hold lock 0 when touching counter
 * }
 * console.log(counter[0], locks.cycles()); // 1 []
 * ```
 */
export class MutexGroup {
  #cells: Int32Array;
  #count: number;
  #id: number;
  #label: string;

  private constructor(buffer: SharedArrayBuffer) {
    this.#cells = new Int32Array(buffer);
    this.#count = this.#cells[H_COUNT];
    this.#id = this.#cells[H_ID];
    const bytes = new Uint8Array(buffer, H_LABEL * 4, this.#cells[H_LABEL_LEN]);
    this.#label = new TextDecoder().decode(bytes.slice());
  }

  /** A new group of `count` unlocked mutexes. Throws RangeError when `count` is not positive. */
  static create(count: number, options: MutexGroupOptions = {}): MutexGroup {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`Cannot create mutexes: count ${count} is not a positive integer`);
    }
    const label = new TextEncoder().encode(options.label ?? "lock").slice(0, MAX_LABEL);
    const matrixWords = count <= MAX_CHECKED_LOCKS ? Math.ceil((count * count) / 32) : 0;
    const buffer = new SharedArrayBuffer((HEADER_WORDS + count + matrixWords) * 4);
    const cells = new Int32Array(buffer);
    cells[H_COUNT] = count;
    cells[H_ID] = 1 + Math.floor(Math.random() * 0x7ffffffe);
    cells[H_LABEL_LEN] = label.length;
    new Uint8Array(buffer, H_LABEL * 4).set(label);
    return new MutexGroup(buffer);
  }

  /** The same group in another thread, from the `buffer` of one made by `create`. */
  static from(buffer: SharedArrayBuffer): MutexGroup {
    return new MutexGroup(buffer);
  }

  /** The shared memory to send to Workers. */
  get buffer(): SharedArrayBuffer {
    return this.#cells.buffer as SharedArrayBuffer;
  }

  /** How many mutexes the group has. */
  get length(): number {
    return this.#count;
  }

  /** How reports name lock `i`, such as "bucket[3]". */
  nameOf(i: number): string {
    return `${this.#label}[${i}]`;
  }

  /**
   * Acquires mutex `i`, waiting while another thread holds it. Records the lock order (every
   * lock of this group the thread holds comes before `i`). Acquiring a mutex this thread
   * already holds reports a self-deadlock and then waits forever.
   */
  lock(i: number): void {
    this.#check(i);
    const before = heldLocks(this.#id);
    if (before.includes(i)) this.#reportSelfDeadlock(i);
    for (const first of before) this.#recordOrder(first, i);
    lockWord(this.#cells, HEADER_WORDS + i);
    pushHeld(this.#id, i);
    this.#recordUse(i);
  }

  /**
   * Acquires mutex `i` if it is free, without waiting; true when it did. One try waits for
   * nothing, so it records no order; but trying `i` again after a failed try, without having
   * released any lock in between, is waiting for `i` while holding the rest (a spin): that is
   * recorded like `lock(i)`, self-deadlock included.
   */
  tryLock(i: number): boolean {
    this.#check(i);
    if (retriesWithoutRelease(this.#id, i)) {
      const before = heldLocks(this.#id);
      if (before.includes(i)) this.#reportSelfDeadlock(i);
      for (const first of before) this.#recordOrder(first, i);
    }
    const cell = HEADER_WORDS + i;
    if (Atomics.compareExchange(this.#cells, cell, UNLOCKED, LOCKED) !== UNLOCKED) {
      failedTry(this.#id, i);
      return false;
    }
    pushHeld(this.#id, i);
    this.#recordUse(i);
    return true;
  }

  /** Releases mutex `i`. Throws TypeError when this thread does not hold it. */
  unlock(i: number): void {
    this.#check(i);
    if (!popHeld(this.#id, i)) {
      throw new TypeError(`Cannot unlock ${this.nameOf(i)}: this thread does not hold it`);
    }
    unlockWord(this.#cells, HEADER_WORDS + i);
  }

  /** Acquires mutex `i` and returns a handle that releases it: `using _held = group.hold(i);` */
  hold(i: number): Disposable {
    this.lock(i);
    return { [Symbol.dispose]: () => this.unlock(i) };
  }

  /** Every lock order seen so far, by any thread: `first` was held while `then` was acquired. */
  edges(): LockOrderEdge[] {
    const edges: LockOrderEdge[] = [];
    const base = HEADER_WORDS + this.#count;
    const words = this.#cells.length - base;
    for (let w = 0; w < words; w++) {
      const bits = Atomics.load(this.#cells, base + w);
      for (let b = 0; bits !== 0 && b < 32; b++) {
        if (bits & (1 << b)) {
          const bit = w * 32 + b;
          const [first, then] = [Math.floor(bit / this.#count), bit % this.#count];
          if (first !== then) edges.push({ first, then }); // the diagonal records use
        }
      }
    }
    return edges;
  }

  /** Orders seen in both directions: each cycle lists locks `[a, b, ..., a]`. */
  cycles(): number[][] {
    return findCycles(this.edges());
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.#count) {
      throw new RangeError(`Cannot use ${this.nameOf(i)}: the group has ${this.#count} mutexes`);
    }
  }

  #recordOrder(first: number, then: number): void {
    if (first === then || this.#count > MAX_CHECKED_LOCKS) return;
    const bit = first * this.#count + then;
    const word = HEADER_WORDS + this.#count + Math.floor(bit / 32);
    const mask = 1 << (bit % 32);
    // Only the thread that sets the bit first writes the report line: each order once.
    if ((Atomics.or(this.#cells, word, mask) & mask) === 0) {
      reportEvent({ event: "order", group: this.#label, first, then });
    }
  }

  // The matrix's diagonal (lock i "before" itself, never an order) marks the locks ever taken.
  #recordUse(i: number): void {
    if (this.#count > MAX_CHECKED_LOCKS) return;
    const bit = i * this.#count + i;
    const word = HEADER_WORDS + this.#count + Math.floor(bit / 32);
    const mask = 1 << (bit % 32);
    if ((Atomics.load(this.#cells, word) & mask) !== 0) return; // the usual case: one load
    if ((Atomics.or(this.#cells, word, mask) & mask) === 0) {
      reportEvent({ event: "use", group: this.#label, lock: i });
    }
  }

  #reportSelfDeadlock(i: number): void {
    reportEvent({ event: "self", group: this.#label, lock: i });
    console.error(`lock order: ${this.nameOf(i)} acquired by a thread that already holds it`);
  }
}
