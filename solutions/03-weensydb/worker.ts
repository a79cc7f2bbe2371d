/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * 03-weensydb reference, one Worker per connection: reads commands from its client with blocking
 * reads, runs them on the shared table, and writes the replies. Many Workers run at once, on
 * several cores, all touching one table: this file is where the locking lives.
 *
 * Lock rules (stated once):
 *  - Bucket b of the table is guarded by mutex b of `locks`: must hold it when finding,
 *    inserting, removing, or reading or writing the value of any item of bucket b.
 *  - Lock order: when holding two buckets, take the lower bucket number first. Two keys in one
 *    bucket take its lock once.
 *  - Never hold a lock during socket I/O: a slow client would stall every other client of the
 *    bucket. Read the whole request first, lock, copy, unlock, then write the reply.
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

/** GET: the value copied out under the bucket lock, or null. */
function get(key: Uint8Array): { value: Uint8Array; id: number } | null {
  using _held = locks.hold(table.bucketOf(key));
  const item = table.find(key);
  return item === null ? null : { value: table.value(item), id: table.idOf(item) };
}

/** SET: stores a copy of `value` (already read from the client: no I/O under the lock). */
function set(key: Uint8Array, value: Uint8Array): number {
  using _held = locks.hold(table.bucketOf(key));
  const old = table.find(key);
  const item = old ?? table.insert(key);
  try {
    table.setValue(item, value); // RangeError when the arena is full
  } catch (err) {
    if (old === null) table.remove(key); // nothing was stored: a new key must not stay, empty
    throw err;
  }
  return table.idOf(item);
}

/** DELETE: the removed item's id, or null. */
function remove(key: Uint8Array): number | null {
  using _held = locks.hold(table.bucketOf(key));
  return table.remove(key);
}

/** EXCH: swaps two values; both buckets locked in bucket order, a shared bucket once. */
function exchange(k1: Uint8Array, k2: Uint8Array): [number, number] | null {
  const [b1, b2] = [table.bucketOf(k1), table.bucketOf(k2)];
  const order = b1 === b2 ? [b1] : [Math.min(b1, b2), Math.max(b1, b2)];
  for (const b of order) locks.lock(b);
  try {
    const [i1, i2] = [table.find(k1), table.find(k2)];
    if (i1 === null || i2 === null) return null;
    table.swapValues(i1, i2);
    return [table.idOf(i1), table.idOf(i2)];
  } finally {
    for (const b of order.reverse()) locks.unlock(b);
  }
}

/**
 * Replies not yet written. The replies to a pipelined burst of commands leave in one write, just
 * before the reader must read from the socket again (its `beforeRead`): one system call and one
 * TCP segment instead of one each, and never a reply held back while the client, waiting for it,
 * has sent only part of its next command.
 */
let pending: Uint8Array[] = [];
let pendingBytes = 0;

/** Queues a reply; it leaves at the next `flush`, or now if the queue has grown large. */
function send(fd: number, reply: Uint8Array): void {
  pending.push(reply);
  pendingBytes += reply.length;
  if (pendingBytes >= 64 * 1024) flush(fd);
}

/** Writes every queued reply, in order, with one `writeAll`. */
function flush(fd: number): void {
  if (pending.length === 0) return;
  const batch = pending.length === 1 ? pending[0] : concat(...pending);
  [pending, pendingBytes] = [[], 0];
  writeAll(fd, batch);
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
    send(fd, line("ERROR"));
    return true;
  }
  if (n > MAX_VALUE || !keyOk(key)) {
    if (!discard(reader, n)) return false;
    send(fd, line("ERROR"));
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
  send(fd, line(reply));
  return true;
}

/** Runs one command line; false when the connection should close. */
function handleLine(fd: number, reader: LineReader, text: string): boolean {
  const [command, ...args] = text.trim().split(/ +/);
  if (command.startsWith("Q")) return false;
  if (command === "GET" && args.length === 1 && keyOk(args[0])) {
    const found = get(latin1(args[0]));
    const header = found && line(`VALUE ${args[0]} ${found.value.length} #${found.id}`);
    send(fd, found ? concat(header!, found.value, line(""), line("END")) : line("END"));
  } else if (command === "SET" && args.length === 2) {
    return handleSet(fd, reader, args[0], args[1]);
  } else if (command === "DELETE" && args.length === 1 && keyOk(args[0])) {
    const id = remove(latin1(args[0]));
    send(fd, line(id === null ? "NOT_FOUND" : `DELETED #${id}`));
  } else if (command === "EXCH" && args.length === 2 && args.every(keyOk)) {
    const ids = exchange(latin1(args[0]), latin1(args[1]));
    send(fd, line(ids === null ? "NOT_FOUND" : `EXCHANGED #${ids[0]} #${ids[1]}`));
  } else {
    send(fd, line("ERROR"));
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
  // Before a read that may block, the queued replies go out.
  const reader = new LineReader(fd, { maxLine: MAX_LINE, beforeRead: () => flush(fd) });
  try {
    // Each write leaves at once. By default Nagle's algorithm holds a small write back while an
    // earlier one is unacknowledged, and the client delays its ACK by up to 40 ms.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    try {
      for (let bytes; (bytes = reader.readLine()) !== null;) {
        const text = String.fromCharCode(...bytes);
        if (text.trim() === "") continue; // blank lines are ignored
        if (!handleLine(fd, reader, text)) return;
      }
    } finally {
      flush(fd); // the replies before QUIT, end of file or a too-long line still go out
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
