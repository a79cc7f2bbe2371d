/**
 * 05-async, another correct design of the backend side: a pool of at most N persistent TCP
 * connections, each carrying ONE request at a time (no pipelining). A request that finds every
 * connection busy waits in a queue and gets the next connection released. Every request is
 * bounded by an AbortSignal, its wait in the queue included; when it fires, the request fails with
 * {@link BackendTimeout} and its connection is closed, because a reply that still comes would be
 * taken for the next request's.
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
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** One persistent, pipelining connection to the backend. */
class Connection {
  #conn: Deno.TcpConn;
  /** Requests sent and not yet answered, oldest first: replies arrive in this order. */
  #waiting: Waiter[] = [];
  /** Writes are chained so two requests' bytes never interleave on the socket. */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#readLoop(); // never rejects: every error ends in #fail
  }

  get inFlight(): number {
    return this.#waiting.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `request` and resolves with its reply; a timeout closes the connection. */
  call(request: Uint8Array, signal: AbortSignal): Promise<Reply> {
    if (this.#closed) return Promise.reject(new BackendError("backend connection closed"));
    const { promise, resolve, reject } = Promise.withResolvers<Reply>();
    this.#waiting.push({ resolve, reject });
    this.#writing = this.#writing.then(() => this.#writeAll(request)).catch((err) => {
      this.#fail(new BackendError(`cannot send to backend: ${err.message}`));
    });
    const onAbort = () => {
      reject(new BackendTimeout("backend timed out"));
      this.#fail(new BackendError("backend connection dropped after a timeout"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return promise.finally(() => signal.removeEventListener("abort", onAbort));
  }

  /** Closes the socket and fails every request still waiting on it. */
  close(): void {
    this.#fail(new BackendError("backend connection closed"));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }

  async #readLoop(): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    try {
      const chunk = new Uint8Array(64 * 1024);
      while (true) {
        const n = await this.#conn.read(chunk);
        if (n === null) throw new BackendError("backend closed the connection");
        buf = append(buf, chunk.subarray(0, n));
        for (let got = parseReply(buf); got !== null; got = parseReply(buf)) {
          buf = buf.subarray(got.used);
          const waiter = this.#waiting.shift();
          if (waiter === undefined) throw new BackendError("backend sent a reply nobody asked for");
          waiter.resolve(got.reply);
        }
      }
    } catch (err) {
      this.#fail(err instanceof BackendError ? err : new BackendError(`backend: ${err}`));
    }
  }

  #fail(err: BackendError): void {
    for (const waiter of this.#waiting.splice(0)) waiter.reject(err);
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer's reset
    }
  }
}

function append(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Where the backend is and how many connections may be open to it at once. */
export interface PoolOptions {
  hostname: string;
  port: number;
  size: number;
}

/**
 * At most `size` connections to the backend, opened on demand and kept; each carries one request
 * at a time. Only the main thread touches `#idle`, `#queue` and `#count`, so they need no lock.
 */
export class Pool {
  #options: PoolOptions;
  /** Open connections nobody is using. */
  #idle: Connection[] = [];
  /** Requests waiting for a connection, oldest first. */
  #queue: ((conn: Connection | null) => void)[] = [];
  /** Connections open or being opened: never more than `size`. */
  #count = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Sends one request and waits for its reply, for at most as long as `signal` allows. */
  async call(request: Uint8Array, signal: AbortSignal): Promise<Reply> {
    const conn = await this.#acquire(signal);
    try {
      return await conn.call(request, signal);
    } finally {
      this.#release(conn);
    }
  }

  /** Closes every connection; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.close();
    for (const wake of this.#queue.splice(0)) wake(null);
  }

  async #acquire(signal: AbortSignal): Promise<Connection> {
    if (this.#closed) throw new BackendError("the server is shutting down");
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#count < this.#options.size) return await this.#open();
    const { promise, resolve } = Promise.withResolvers<Connection | null>();
    this.#queue.push(resolve);
    const giveUp = () => {
      this.#queue = this.#queue.filter((w) => w !== resolve);
      resolve(null);
    };
    signal.addEventListener("abort", giveUp, { once: true });
    const conn = await promise;
    signal.removeEventListener("abort", giveUp);
    if (conn !== null) return conn;
    if (signal.aborted) throw new BackendTimeout("backend timed out");
    throw new BackendError(
      this.#closed ? "the server is shutting down" : "cannot connect to backend",
    );
  }

  /** Hands `conn` to the oldest waiter, or keeps it idle; a dead one frees its place. */
  #release(conn: Connection): void {
    if (conn.closed) {
      this.#count--;
      // Someone waits: open a replacement and hand it on as a released one, so that it goes to
      // whoever waits first when it opens (the waiter now may have timed out by then).
      if (this.#queue.length > 0) {
        this.#open().then((fresh) => this.#release(fresh), () => this.#queue.shift()?.(null));
      }
      return;
    }
    const wake = this.#queue.shift();
    if (wake !== undefined) wake(conn);
    else if (this.#closed) conn.close();
    else this.#idle.push(conn);
  }

  async #open(): Promise<Connection> {
    this.#count++;
    const { hostname, port } = this.#options;
    try {
      const tcp = await Deno.connect({ hostname, port });
      tcp.setNoDelay(true);
      return new Connection(tcp);
    } catch (err) {
      this.#count--;
      // The backend refused: those waiting for a connection would be refused too, so they fail
      // now (502) instead of waiting for a place that no connection will give back.
      for (const wake of this.#queue.splice(0)) wake(null);
      throw new BackendError(`cannot connect to backend: ${(err as Error).message}`);
    }
  }
}
