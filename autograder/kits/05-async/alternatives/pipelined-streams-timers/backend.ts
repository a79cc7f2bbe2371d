/**
 * 05-async starter, the backend side: a pool of at most N persistent TCP connections to a
 * WeensyDB server. Requests are pipelined: a connection carries several at once, its replies come
 * back in order, and one reader per connection hands each reply to the request waiting longest.
 * Every request carries a deadline (a time, in ms since the epoch). Each connection keeps ONE
 * timer, armed for the earliest deadline among its waiting requests, instead of one timer per
 * request. When it fires, the late requests fail with {@link BackendTimeout} and the connection
 * is closed, because a reply that still comes would be taken for the next request's.
 *
 * @module
 */

/** The backend failed: refused, reset, closed mid-reply, or sent garbage. HTTP 502. */
export class BackendError extends Error {
  override name = "BackendError";
}

/** The backend did not answer before the request's deadline. HTTP 504. */
export class BackendTimeout extends Error {
  override name = "BackendTimeout";
}

/** One WeensyDB reply. `value` is a GET hit; the rest are the one-line replies. */
export type Reply =
  | { kind: "value"; value: Uint8Array<ArrayBuffer> }
  | { kind: LineKind };

type LineKind = "end" | "stored" | "deleted" | "not_found" | "exchanged";

const LINES: Record<string, LineKind> = {
  END: "end",
  STORED: "stored",
  DELETED: "deleted",
  NOT_FOUND: "not_found",
  EXCHANGED: "exchanged",
};

/** A reply line longer than this is garbage: no WeensyDB reply line is. */
const MAX_LINE = 1024;

/** Bytes as 8-bit text: protocol lines are ASCII, keys may not be UTF-8. */
function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function indexOfCrlf(buf: Uint8Array): number {
  for (let i = 0; i + 1 < buf.length; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

/**
 * Parses one reply from the front of `buf`: the reply and how many bytes it used, or null when
 * more bytes are needed. Throws {@link BackendError} on anything that is not a reply.
 */
export function parseReply(buf: Uint8Array): { reply: Reply; used: number } | null {
  const eol = indexOfCrlf(buf);
  if (eol < 0) {
    if (buf.length > MAX_LINE) throw new BackendError("backend sent a line with no end");
    return null;
  }
  const line = latin1(buf.subarray(0, eol));
  const kind = LINES[line.split(" ")[0]];
  if (kind !== undefined) return { reply: { kind }, used: eol + 2 };
  const m = /^VALUE \S+ (\d+)(?: \S+)?$/.exec(line);
  if (m === null) throw new BackendError(`backend sent ${JSON.stringify(line.slice(0, 80))}`);
  const start = eol + 2, n = Number(m[1]);
  const end = start + n + 7; // value, CRLF, END CRLF
  if (buf.length < end) return null;
  if (latin1(buf.subarray(start + n, end)) !== "\r\nEND\r\n") {
    throw new BackendError("backend sent a VALUE without END");
  }
  return { reply: { kind: "value", value: buf.slice(start, start + n) }, used: end };
}

interface Waiter {
  deadline: number;
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** One persistent, pipelining connection to the backend. */
class Connection {
  #conn: Deno.TcpConn;
  /** Requests sent and not yet answered, oldest first: replies arrive in this order. */
  #waiting: Waiter[] = [];
  /**
   * The socket's WritableStream queues writes and runs them one after another, so two requests'
   * bytes never interleave even when a write is short: no chain of our own is needed.
   */
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The one timer of this connection, for the earliest deadline waiting; undefined when idle. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#writer = conn.writable.getWriter();
    this.#readLoop(); // never rejects: every error ends in #fail
  }

  get inFlight(): number {
    return this.#waiting.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `request` and resolves with its reply, or fails once `deadline` has passed. */
  call(request: Uint8Array, deadline: number): Promise<Reply> {
    if (this.#closed) return Promise.reject(new BackendError("backend connection closed"));
    if (Date.now() >= deadline) return Promise.reject(new BackendTimeout("backend timed out"));
    const { promise, resolve, reject } = Promise.withResolvers<Reply>();
    this.#waiting.push({ deadline, resolve, reject });
    this.#arm();
    // Not awaited: the reply settles the promise. A failed write fails the whole connection.
    this.#writer.write(request).catch((err) => {
      this.#fail(new BackendError(`backend write failed: ${err}`));
    });
    return promise;
  }

  /** Closes the socket and fails every request still waiting on it. */
  close(): void {
    this.#fail(new BackendError("backend connection closed"));
  }

  /** Points the timer at the earliest deadline still waiting (or stops it when none is). */
  #arm(): void {
    let first = Infinity;
    for (const w of this.#waiting) first = Math.min(first, w.deadline);
    if (first === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = first;
    this.#timer = first === Infinity
      ? undefined
      : setTimeout(() => this.#expire(), Math.max(0, first - Date.now()));
  }

  /** The timer fired: the late requests get 504, and the connection is dropped. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    const late = this.#waiting.filter((w) => w.deadline <= now);
    if (late.length === 0) return this.#arm(); // fired a little early: wait again
    this.#waiting = this.#waiting.filter((w) => w.deadline > now);
    for (const w of late) w.reject(new BackendTimeout("backend timed out"));
    // A late reply would be taken for the next request's: this connection is out of step, and
    // the requests pipelined behind the late one fail with 502.
    this.#fail(new BackendError("backend connection dropped after a timeout"));
  }

  async #readLoop(): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    try {
      for await (const chunk of this.#conn.readable) {
        buf = append(buf, chunk);
        for (let got = parseReply(buf); got !== null; got = parseReply(buf)) {
          buf = buf.subarray(got.used);
          const waiter = this.#waiting.shift();
          if (waiter === undefined) throw new BackendError("backend sent a reply nobody asked for");
          waiter.resolve(got.reply);
          this.#arm();
        }
      }
      throw new BackendError("backend closed the connection");
    } catch (err) {
      this.#fail(err instanceof BackendError ? err : new BackendError(`backend: ${err}`));
    }
  }

  #fail(err: BackendError): void {
    for (const waiter of this.#waiting.splice(0)) waiter.reject(err);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer's reset, or by the stream
    }
  }
}

function append(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Rejects with BackendTimeout at `deadline`; `cancel` stops the timer when no longer needed. */
function expiry(deadline: number): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BackendTimeout("backend timed out")),
      Math.max(0, deadline - Date.now()),
    );
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Where the backend is and how many connections may be open to it at once. */
export interface PoolOptions {
  hostname: string;
  port: number;
  size: number;
}

/**
 * At most `size` connections to the backend, opened on demand and kept. A request takes an idle
 * connection, else opens one while under the cap, else pipelines on the least busy one.
 * Only the main thread touches `#conns` and `#opening`, so they need no lock.
 */
export class Pool {
  #options: PoolOptions;
  #conns: Connection[] = [];
  /** Connections being opened: they count against the cap before they exist. */
  #opening = new Set<Promise<Connection>>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Sends one request and waits for its reply, until `deadline` (ms since the epoch) at most. */
  async call(request: Uint8Array, deadline: number): Promise<Reply> {
    // Opening a connection can hang too (a backend whose accept queue is full): race a timer.
    const timer = expiry(deadline);
    let conn: Connection;
    try {
      conn = await Promise.race([this.#pick(), timer.promise]);
    } finally {
      timer.cancel();
    }
    return await conn.call(request, deadline);
  }

  /** Closes every connection; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#conns.splice(0)) conn.close();
  }

  #pick(): Promise<Connection> {
    if (this.#closed) throw new BackendError("the server is shutting down");
    // Connections that failed are dropped: the next request opens a fresh one instead.
    this.#conns = this.#conns.filter((conn) => !conn.closed);
    const idle = this.#conns.find((conn) => conn.inFlight === 0);
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#conns.length + this.#opening.size < this.#options.size) return this.#open();
    if (this.#conns.length === 0) return this.#firstOpened();
    // All busy and at the cap: pipeline behind the connection with the fewest requests waiting.
    const least = this.#conns.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return Promise.resolve(least);
  }

  /** Every allowed connection is still being opened: wait for the first to open. */
  async #firstOpened(): Promise<Connection> {
    try {
      return await Promise.any(this.#opening);
    } catch {
      throw new BackendError("cannot connect to backend");
    }
  }

  #open(): Promise<Connection> {
    const opening = this.#connect();
    this.#opening.add(opening);
    opening.catch(() => {}).finally(() => this.#opening.delete(opening));
    return opening;
  }

  async #connect(): Promise<Connection> {
    const { hostname, port } = this.#options;
    let tcp: Deno.TcpConn;
    try {
      tcp = await Deno.connect({ hostname, port });
    } catch (err) {
      throw new BackendError(`cannot connect to backend: ${(err as Error).message}`);
    }
    tcp.setNoDelay(true);
    const conn = new Connection(tcp);
    if (this.#closed) conn.close();
    else this.#conns.push(conn);
    return conn;
  }
}
