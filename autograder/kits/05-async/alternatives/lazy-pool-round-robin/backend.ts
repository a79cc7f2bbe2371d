/**
 * 05-async starter, the backend side: a pool of at most N persistent TCP connections to a
 * WeensyDB server. Requests are pipelined: a connection carries several at once, its replies come
 * back in order, and one reader per connection hands each reply to the request waiting longest.
 * Every request is bounded by an AbortSignal; when it fires, the request fails with
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

/**
 * Settles as `work` does, unless `signal` aborts first: then rejects with {@link BackendTimeout}.
 * The abort listener is removed as soon as either happens, so a request that ends normally leaves
 * nothing behind on its signal. A late rejection of `work` is caught here (nobody else awaits it).
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new BackendTimeout("backend timed out"));
  }
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const onAbort = () => reject(new BackendTimeout("backend timed out"));
  signal.addEventListener("abort", onAbort, { once: true });
  work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  return promise;
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

  /**
   * Sends `request` and resolves with its reply; a timeout closes the connection.
   *
   * The waiter joins the FIFO in the same synchronous step in which its bytes join the write
   * chain, so the order of `#waiting` is the order of the requests on the wire, which is the order
   * of the replies (WeensyDB answers in order).
   */
  call(request: Uint8Array, signal: AbortSignal): Promise<Reply> {
    if (this.#closed) return Promise.reject(new BackendError("backend connection closed"));
    if (signal.aborted) return Promise.reject(new BackendTimeout("backend timed out"));
    const { promise, resolve, reject } = Promise.withResolvers<Reply>();
    const onAbort = () => {
      // Out of step from now on: the late reply would be taken for the next request's. Take
      // this waiter out first so that it fails with a timeout (504), then drop the connection:
      // the requests pipelined behind it fail with BackendError (502).
      const at = this.#waiting.indexOf(waiter);
      if (at >= 0) this.#waiting.splice(at, 1);
      reject(new BackendTimeout("backend timed out"));
      this.#fail(new BackendError("backend connection dropped after a timeout"));
    };
    const waiter: Waiter = {
      resolve: (reply) => {
        signal.removeEventListener("abort", onAbort);
        resolve(reply);
      },
      reject: (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.#waiting.push(waiter);
    // Chain the write behind the ones already queued; a failed write fails the connection (and
    // so this waiter), and the chain itself never rejects, so the next write still runs (and
    // finds the connection closed).
    this.#writing = this.#writing.then(async () => {
      if (this.#closed) return;
      try {
        await this.#writeAll(request);
      } catch (err) {
        this.#fail(new BackendError(`backend: write failed: ${(err as Error).message}`));
      }
    });
    return promise;
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
 * At most `size` connections to the backend, opened lazily and kept. A request takes an idle
 * connection, else opens one while under the cap, else pipelines on the next open connection in
 * round-robin order. Only the main thread touches `#conns`, `#opening` and `#next`, so they need
 * no lock.
 */
export class Pool {
  #options: PoolOptions;
  #conns: Connection[] = [];
  /** Connections being opened: they count against the cap before they exist. */
  #opening = new Set<Promise<Connection>>();
  /** Round-robin cursor over `#conns`, for when every place is taken and busy. */
  #next = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Sends one request and waits for its reply, for at most as long as `signal` allows. */
  async call(request: Uint8Array, signal: AbortSignal): Promise<Reply> {
    const conn = await raceAbort(this.#pick(), signal);
    return await conn.call(request, signal);
  }

  /** Closes every connection; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#conns.splice(0)) conn.close();
  }

  /** The connection for the next request (README.md §6, in that order). */
  #pick(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new BackendError("the server is shutting down"));
    // A connection that failed has closed its socket already; drop it to give its place back.
    this.#conns = this.#conns.filter((conn) => !conn.closed);
    // 1. One with nothing in flight.
    const idle = this.#conns.find((conn) => conn.inFlight === 0);
    if (idle !== undefined) return Promise.resolve(idle);
    // 2. Under the cap (counting the ones being opened): grow by one.
    if (this.#conns.length + this.#opening.size < this.#options.size) return this.#open();
    // 3. Every place is taken: pipeline on the next open one, round-robin.
    if (this.#conns.length > 0) {
      this.#next = (this.#next + 1) % this.#conns.length;
      return Promise.resolve(this.#conns[this.#next]);
    }
    // Every place is still being opened: wait for the first of them.
    return this.#firstOpened();
  }

  /** Every allowed connection is still being opened: wait for the first to open. */
  async #firstOpened(): Promise<Connection> {
    try {
      return await Promise.any(this.#opening);
    } catch {
      throw new BackendError("cannot connect to backend");
    }
  }

  /** Starts opening a connection; its place is held until it opens or fails. */
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
