/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * 03-weensydb starter, one Worker per connection: reads commands from its client with blocking
 * reads, runs them on the shared table, and writes the replies. Many Workers run at once, on
 * several cores, all touching one table: this file is where the locking lives, and the four
 * functions that touch the table (get, set, remove, exchange) are yours to write.
 *
 * Lock rules (README.md §5 to §8):
 * - Must hold mutex b (`locks`, one per bucket) when finding, inserting, removing, or reading or
 *   writing the value of any item of bucket b. An item number from `find` is only used while
 *   its bucket stays locked.
 * - No lock is ever held during socket I/O: a request (SET body included) is read whole before
 *   locking, and the reply is copied out and written only after unlocking (§6).
 * - Two locks (EXCH) without a global order: "no hold and wait". A thread only ever WAITS for a
 *   lock while it holds none; the second lock is taken with `tryLock`, and when it is busy the
 *   thread lets go of the first, backs off a random moment, and starts again, this time waiting
 *   for the lock that was busy. Since no thread waits while holding, no cycle of waiting threads
 *   (a deadlock) can form, whatever order the two buckets come in.
 *
 * @module
 */
import {
  close,
  IPPROTO_TCP,
  LineReader,
  MutexGroup,
  setsockopt,
  SysError,
  Table,
  type TableBuffers,
  TCP_NODELAY,
  writeAll,
} from "@course/shared";

/** What the main thread sends: the connection's fd and the shared memory. */
export interface Job {
  fd: number;
  table: TableBuffers;
  locks: SharedArrayBuffer;
}

/** Longest key, in bytes. */
export const MAX_KEY = 250;
/** Largest value, in bytes (1 MiB). */
export const MAX_VALUE = 1024 * 1024;
/** Longest command line, in bytes, without its CRLF. */
const MAX_LINE = 1024;

let table: Table;
let locks: MutexGroup;

/** A reply line: a protocol header is 8-bit text (keys are bytes), ended by CRLF. */
function line(text: string): Uint8Array {
  return latin1(text + "\r\n");
}

function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function keyOk(key: string): boolean {
  return key.length >= 1 && key.length <= MAX_KEY;
}

/** GET: a copy of the value of `key` and its item's id, or null when absent. */
function get(key: Uint8Array): { value: Uint8Array; id: number } | null {
  using _held = locks.hold(table.bucketOf(key)); // from find until the value is copied
  const item = table.find(key);
  return item === null ? null : { value: table.value(item), id: table.idOf(item) };
}

/**
 * SET: stores a copy of `value` under `key` (inserting the item if needed); the item's id.
 * Throws RangeError when the table's memory is full; then nothing is stored.
 */
function set(key: Uint8Array, value: Uint8Array): number {
  using _held = locks.hold(table.bucketOf(key));
  const old = table.find(key);
  const item = old ?? table.insert(key); // insert may throw RangeError too: nothing stored
  try {
    table.setValue(item, value); // RangeError when the arena is full (the old value stays)
  } catch (err) {
    if (old === null) table.remove(key); // a new key must not stay behind, empty
    throw err;
  }
  return table.idOf(item);
}

/** DELETE: removes `key`; the removed item's id, or null when absent. */
function remove(key: Uint8Array): number | null {
  using _held = locks.hold(table.bucketOf(key));
  return table.remove(key);
}

/** For the back-off sleep: a word nobody ever changes, so `Atomics.wait` just times out. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Locks buckets `first` and `second` (different) with no hold-and-wait: waits only for `first`,
 * while holding nothing, then tries `second`. If `second` is busy, lets go of `first` (so whoever
 * holds `second` can finish, even if it wants `first`), sleeps a random 0-2^tries ms so that two
 * threads do not retry in step, and tries again the other way round, waiting for the busy one.
 */
function lockBoth(first: number, second: number): void {
  for (let tries = 0;; tries++) {
    locks.lock(first);
    if (locks.tryLock(second)) return;
    locks.unlock(first);
    Atomics.wait(nap, 0, 0, Math.random() * 2 ** Math.min(tries, 4));
    [first, second] = [second, first];
  }
}

/**
 * EXCH: swaps the values of two keys when both exist; their ids, or null. Both buckets stay
 * locked from the finds to the swap; when both keys share a bucket it is locked once (a course
 * mutex is not recursive).
 */
function exchange(k1: Uint8Array, k2: Uint8Array): [number, number] | null {
  const [b1, b2] = [table.bucketOf(k1), table.bucketOf(k2)];
  if (b1 === b2) locks.lock(b1);
  else lockBoth(b1, b2);
  try {
    const [i1, i2] = [table.find(k1), table.find(k2)];
    if (i1 === null || i2 === null) return null;
    table.swapValues(i1, i2); // EXCH k k: swaps an item with itself, a no-op
    return [table.idOf(i1), table.idOf(i2)];
  } finally {
    locks.unlock(b1);
    if (b2 !== b1) locks.unlock(b2);
  }
}

/** Reads and drops `n` bytes: an over-limit value's body, so the next command is in sync. */
function discard(reader: LineReader, n: number): boolean {
  for (let left = n; left > 0;) {
    const got = reader.readBytes(Math.min(left, 64 * 1024)).length;
    if (got === 0) return false;
    left -= got;
  }
  return true;
}

/** Runs one SET whose header is `[key, nbytes]`; false when the client left mid-body. */
function handleSet(fd: number, reader: LineReader, key: string, count: string): boolean {
  const n = /^\d{1,10}$/.test(count) ? Number(count) : -1;
  if (n < 0) {
    writeAll(fd, line("ERROR"));
    return true;
  }
  if (n > MAX_VALUE || !keyOk(key)) {
    if (!discard(reader, n)) return false;
    writeAll(fd, line("ERROR"));
    return true;
  }
  const value = reader.readBytes(n); // the whole body, before any lock is taken
  if (value.length < n) return false;
  let reply: string;
  try {
    reply = `STORED #${set(latin1(key), value)}`;
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    reply = "SERVER_ERROR out of memory"; // the arena is full
  }
  writeAll(fd, line(reply));
  return true;
}

/** Runs one command line; false when the connection should close. */
function handleLine(fd: number, reader: LineReader, text: string): boolean {
  const [command, ...args] = text.trim().split(/ +/);
  if (command.startsWith("Q")) return false;
  if (command === "GET" && args.length === 1 && keyOk(args[0])) {
    const found = get(latin1(args[0]));
    const header = found && line(`VALUE ${args[0]} ${found.value.length} #${found.id}`);
    writeAll(fd, found ? concat(header!, found.value, line(""), line("END")) : line("END"));
  } else if (command === "SET" && args.length === 2) {
    return handleSet(fd, reader, args[0], args[1]);
  } else if (command === "DELETE" && args.length === 1 && keyOk(args[0])) {
    const id = remove(latin1(args[0]));
    writeAll(fd, line(id === null ? "NOT_FOUND" : `DELETED #${id}`));
  } else if (command === "EXCH" && args.length === 2 && args.every(keyOk)) {
    const ids = exchange(latin1(args[0]), latin1(args[1]));
    writeAll(fd, line(ids === null ? "NOT_FOUND" : `EXCHANGED #${ids[0]} #${ids[1]}`));
  } else {
    writeAll(fd, line("ERROR"));
  }
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/** Serves one client until it quits or leaves. */
function serveClient(fd: number): void {
  const reader = new LineReader(fd, { maxLine: MAX_LINE });
  try {
    // Small replies leave at once (README §4): Nagle's algorithm would hold them back until the
    // client's delayed ACK.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    for (let bytes; (bytes = reader.readLine()) !== null;) {
      const text = String.fromCharCode(...bytes);
      if (text.trim() === "") continue; // blank lines are ignored
      if (!handleLine(fd, reader, text)) return;
    }
  } catch (err) {
    if (!(err instanceof SysError || err instanceof RangeError)) throw err;
    // SysError: the client vanished (ECONNRESET, EPIPE). RangeError: a line longer than
    // MAX_LINE, after which we cannot find the next command. Either way the session ends.
  }
}

self.onmessage = (e: MessageEvent<Job>) => {
  const { fd } = e.data;
  table = Table.from(e.data.table);
  locks = MutexGroup.from(e.data.locks);
  try {
    serveClient(fd);
  } finally {
    close(fd);
    self.postMessage("done");
    self.close(); // the thread ends with its connection
  }
};
