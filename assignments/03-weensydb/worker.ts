/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * 03-weensydb starter, one Worker per connection: reads commands from its client with blocking
 * reads, runs them on the shared table, and writes the replies. Many Workers run at once, on
 * several cores, all touching one table: this file is where the locking lives, and the four
 * functions that touch the table (get, set, remove, exchange) are yours to write.
 *
 * Lock rules: write them here, next to the data they guard (README.md §5 to §8): which mutex
 * guards which part of the table, the order in which two are taken, and why no lock is ever
 * held during socket I/O.
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
  todo,
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

/**
 * GET: a copy of the value of `key` and its item's id, or null when absent. The bucket's lock
 * must be held from `find` until the value is copied, and not a moment longer.
 */
function get(key: Uint8Array): { value: Uint8Array; id: number } | null {
  return todo(`get(): lock ${locks.nameOf(table.bucketOf(key))}, find, copy: README.md §5`);
}

/**
 * SET: stores a copy of `value` under `key` (inserting the item if needed); the item's id.
 * `setValue` throws RangeError when the table's memory is full (the caller answers SERVER_ERROR):
 * then nothing may be stored, so remove an item you have just inserted before letting it go on.
 */
function set(key: Uint8Array, value: Uint8Array): number {
  const where = locks.nameOf(table.bucketOf(key));
  return todo(
    `set(): lock ${where}, find or insert, setValue (${value.length} bytes): README.md §5`,
  );
}

/** DELETE: removes `key`; the removed item's id, or null when absent. */
function remove(key: Uint8Array): number | null {
  return todo(`remove(): lock ${locks.nameOf(table.bucketOf(key))}, remove: README.md §5`);
}

/**
 * EXCH: swaps the values of two keys when both exist; their ids, or null. Two buckets to lock:
 * README.md §7 and §8 say in which order, and what to do when they are the same bucket.
 */
function exchange(k1: Uint8Array, k2: Uint8Array): [number, number] | null {
  const [b1, b2] = [table.bucketOf(k1), table.bucketOf(k2)];
  return todo(`exchange(): lock buckets ${b1} and ${b2}, find both, swapValues: README.md §7`);
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
    // Each reply leaves at once. By default Nagle's algorithm holds a small write back while an
    // earlier one is unacknowledged, and the client delays its ACK by up to 40 ms (README.md §4).
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
