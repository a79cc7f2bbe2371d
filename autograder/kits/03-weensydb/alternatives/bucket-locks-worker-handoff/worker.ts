/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * 03-weensydb, one Worker (a thread) per connection being served: reads commands from its client
 * with blocking reads, runs them on the shared table, and writes the replies. Many Workers run
 * at once, on several cores, all touching one table.
 *
 * A Worker serves one session at a time. When its client leaves it closes the fd, says "done",
 * and waits for the main thread's answer: the fd of a connection that has been waiting for a
 * place (the Worker serves it next, so the place passes on without a new isolate's 35 ms start),
 * or `null`, and then the Worker ends itself with `self.close()`. See `connectionPool` in
 * server.ts for the other half.
 *
 * LOCK RULES (README.md §5 to §8)
 * ===============================
 * The data: `table`, a hash table of `table.buckets` (1,024) buckets in shared memory, and
 * `locks`, one mutex per bucket, made by server.ts.
 *
 *  R1 (what guards what). Must hold mutex b (`locks`, index b) when finding, inserting,
 *     removing, or reading or writing the value of any item of bucket b (b = table.bucketOf(key)).
 *     An item number from `find` means something only while b is held: it is never kept, or
 *     used, after b is released. Each command locks its own key's bucket, never the whole table.
 *  R2 (order). A thread holds at most two bucket mutexes at once (EXCH only), and when it holds
 *     two it took the LOWER bucket number first. Every thread agrees on this one order, so no
 *     cycle "A waits for B while B waits for A" can form: no deadlock. See `holdPair`.
 *  R3 (no re-locking). Course mutexes are not recursive: when both keys of EXCH fall in one
 *     bucket (or are the same key) that bucket is locked once.
 *  R4 (no I/O under a lock). No mutex is held during socket I/O. A request (the SET body
 *     included) is read whole before any lock is taken; the reply's bytes are copied out
 *     (`table.value` copies) before the lock is released; replies are written after. A client
 *     that stalls, or never reads, blocks only its own Worker, never a bucket.
 *  R5 (scope). Every lock is taken with `using` (or `hold`), so it is released when the block
 *     ends, on every path, an exception (e.g. RangeError: the arena is full) included.
 *
 * The Worker's own state (`table`/`locks` views, the reader, the reply queue) is per thread
 * and needs no lock.
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

/**
 * What a Worker tells the main thread when a session ends: "done" (the fd is closed, and this
 * Worker can take another connection) or "failed" (a bug ended the session; the Worker ends
 * itself and must not be given another).
 */
export type SessionEnd = "done" | "failed";

/** Longest key, in bytes. */
export const MAX_KEY = 250;
/** Largest value, in bytes (1 MiB). */
export const MAX_VALUE = 1024 * 1024;
/** Longest command line, in bytes, without its CRLF. */
const MAX_LINE = 1024;
/** Queued reply bytes past which the queue is written out even if more commands are buffered. */
const FLUSH_AT = 64 * 1024;

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

// ---------------------------------------------------------------------------------------------
// The four table operations. Each takes its bucket lock(s) (R1), does only memory work while
// holding them, copies out what the reply needs, and releases them at the end of the function
// (R5), before its caller queues or writes the reply (R4).

/** GET: a copy of the value of `key` and its item's id, or null when absent. */
function get(key: Uint8Array): { value: Uint8Array; id: number } | null {
  using _bucket = locks.hold(table.bucketOf(key));
  const item = table.find(key);
  return item === null ? null : { value: table.value(item), id: table.idOf(item) };
}

/**
 * SET: stores a copy of `value` under `key` (inserting the item if needed); the item's id.
 * Throws RangeError when the table's memory is full, and then nothing is stored: the key keeps
 * its old value, or, if it was new, the item just inserted is removed again before the lock is
 * released, so no other thread ever sees it.
 */
function set(key: Uint8Array, value: Uint8Array): number {
  using _bucket = locks.hold(table.bucketOf(key));
  const old = table.find(key);
  const item = old ?? table.insert(key); // insert may throw RangeError too: nothing added
  try {
    table.setValue(item, value); // RangeError when the arena is full; the old value stays
  } catch (err) {
    if (old === null) table.remove(key);
    throw err;
  }
  return table.idOf(item);
}

/** DELETE: removes `key`; the removed item's id, or null when absent. */
function remove(key: Uint8Array): number | null {
  using _bucket = locks.hold(table.bucketOf(key));
  return table.remove(key);
}

/**
 * Locks buckets `a` and `b` for one EXCH, following R2 and R3: the lower number first, and a
 * bucket shared by both keys only once. Releasing is the reverse (higher first), by `using`.
 */
function holdPair(a: number, b: number): Disposable {
  const [low, high] = a <= b ? [a, b] : [b, a];
  const first = locks.hold(low);
  try {
    const second = high === low ? null : locks.hold(high);
    return {
      [Symbol.dispose]: () => {
        second?.[Symbol.dispose]();
        first[Symbol.dispose]();
      },
    };
  } catch (err) {
    first[Symbol.dispose](); // e.g. a RangeError from a bad index: never leak the first lock
    throw err;
  }
}

/** EXCH: swaps the values of two keys when both exist; their ids, or null (nothing changes). */
function exchange(k1: Uint8Array, k2: Uint8Array): [number, number] | null {
  using _buckets = holdPair(table.bucketOf(k1), table.bucketOf(k2));
  const [i1, i2] = [table.find(k1), table.find(k2)];
  if (i1 === null || i2 === null) return null;
  table.swapValues(i1, i2); // i1 === i2 (EXCH k k): swaps a value with itself, no change
  return [table.idOf(i1), table.idOf(i2)];
}

// ---------------------------------------------------------------------------------------------
// Replies. A pipelining client sends many commands in one write; writing each small reply with
// its own system call (and its own TCP segment, with TCP_NODELAY) is slow. So replies are queued
// and written with one writeAll when the Worker is about to read something that may block (no
// more bytes buffered), or when the queue is large. Never called with a lock held (R4).

class Replies {
  #fd: number;
  #parts: Uint8Array[] = [];
  #bytes = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Queues the bytes of one reply; writes the queue out if it has grown large. */
  add(...parts: Uint8Array[]): void {
    for (const p of parts) {
      this.#parts.push(p);
      this.#bytes += p.length;
    }
    if (this.#bytes >= FLUSH_AT) this.flush();
  }

  /** Writes every queued reply, in order, with one writeAll. Throws SysError. */
  flush(): void {
    if (this.#bytes === 0) return;
    const parts = this.#parts;
    const all = parts.length === 1 ? parts[0] : concat(...parts);
    this.#parts = [];
    this.#bytes = 0;
    writeAll(this.#fd, all);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/**
 * A reading session: the connection's LineReader and its reply queue. `needBytes(n)` is called
 * before each read of `n` bytes: when fewer are buffered, the read may block on the client,
 * who may be waiting for the replies queued so far, so they are written first.
 */
class Session {
  readonly reader: LineReader;
  readonly out: Replies;

  constructor(fd: number) {
    // The reader also writes the queue out before any read of its own (half a line buffered).
    this.reader = new LineReader(fd, { maxLine: MAX_LINE, beforeRead: () => this.out.flush() });
    this.out = new Replies(fd);
  }

  needBytes(n: number): void {
    if (this.reader.buffered() < n) this.out.flush();
  }
}

/** Reads and drops `n` bytes: an over-limit value's body, so the next command is in sync. */
function discard(s: Session, n: number): boolean {
  for (let left = n; left > 0;) {
    const chunk = Math.min(left, 64 * 1024);
    s.needBytes(chunk);
    const got = s.reader.readBytes(chunk).length;
    if (got < chunk) return false;
    left -= got;
  }
  return true;
}

/** Runs one SET whose header is `[key, nbytes]`; false when the client left mid-body. */
function handleSet(s: Session, key: string, count: string): boolean {
  const n = /^\d{1,10}$/.test(count) ? Number(count) : -1;
  if (n < 0) {
    s.out.add(line("ERROR"));
    return true;
  }
  if (n > MAX_VALUE || !keyOk(key)) {
    if (!discard(s, n)) return false;
    s.out.add(line("ERROR"));
    return true;
  }
  s.needBytes(n);
  const value = s.reader.readBytes(n); // the whole body, before any lock is taken (R4)
  if (value.length < n) return false;
  let reply: string;
  try {
    reply = `STORED #${set(latin1(key), value)}`;
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    reply = "SERVER_ERROR out of memory"; // the arena is full; nothing was stored
  }
  s.out.add(line(reply));
  return true;
}

/** Runs one command line; false when the connection should close. */
function handleLine(s: Session, text: string): boolean {
  const [command, ...args] = text.trim().split(/ +/);
  if (command.startsWith("Q")) return false;
  if (command === "GET" && args.length === 1 && keyOk(args[0])) {
    const found = get(latin1(args[0]));
    if (found === null) s.out.add(line("END"));
    else {
      const header = line(`VALUE ${args[0]} ${found.value.length} #${found.id}`);
      s.out.add(header, found.value, line(""), line("END"));
    }
  } else if (command === "SET" && args.length === 2) {
    return handleSet(s, args[0], args[1]);
  } else if (command === "DELETE" && args.length === 1 && keyOk(args[0])) {
    const id = remove(latin1(args[0]));
    s.out.add(line(id === null ? "NOT_FOUND" : `DELETED #${id}`));
  } else if (command === "EXCH" && args.length === 2 && args.every(keyOk)) {
    const ids = exchange(latin1(args[0]), latin1(args[1]));
    s.out.add(line(ids === null ? "NOT_FOUND" : `EXCHANGED #${ids[0]} #${ids[1]}`));
  } else {
    s.out.add(line("ERROR"));
  }
  return true;
}

/**
 * Serves one client until it quits or leaves. Throws only on a bug: I/O errors (the client
 * vanished) and an over-long line (RangeError) end the session quietly.
 */
function serveClient(fd: number): void {
  try {
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1); // small replies go out at once (README §4)
  } catch (err) {
    if (!(err instanceof SysError)) throw err; // the client may already be gone: reads will say
  }
  const s = new Session(fd);
  try {
    try {
      for (let bytes; (s.needBytes(1), bytes = s.reader.readLine()) !== null;) {
        const text = String.fromCharCode(...bytes);
        if (text.trim() === "") continue; // blank lines are ignored
        if (!handleLine(s, text)) break;
      }
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // A line longer than MAX_LINE: we cannot find the next command, so the session ends
      // (after the replies to the commands before it).
    }
    s.out.flush(); // replies to what came before QUIT, end-of-file, or the over-long line
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    // The client vanished (ECONNRESET, EPIPE): nobody to answer.
  }
}

/** One session on `fd`; the fd is closed whatever happens. False when a bug ended it. */
function session(fd: number): boolean {
  try {
    serveClient(fd);
    return true;
  } catch (err) {
    console.error(`weensydb: the session on fd ${fd} failed:`, err);
    return false;
  } finally {
    close(fd);
  }
}

// The main thread sends a Job (serve this connection) or null (no connection waits: end).
self.onmessage = (e: MessageEvent<Job | null>) => {
  if (e.data === null) {
    self.close(); // the thread ends: its place is free
    return;
  }
  table ??= Table.from(e.data.table);
  locks ??= MutexGroup.from(e.data.locks);
  const ok = session(e.data.fd);
  self.postMessage((ok ? "done" : "failed") satisfies SessionEnd);
  if (!ok) self.close(); // a Worker that met a bug is not trusted with another client
};
