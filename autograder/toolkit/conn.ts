/**
 * A probe's TCP connection: every wait has a deadline, and everything it does (connect, send,
 * receive, half-close, end of file, reset, close, errors) is recorded on its lane of the probe's
 * trace, whatever protocol runs over it. Probes get one from `ctx.dial(port)`; protocol clients
 * (the WeensyDB client, HTTP) are built on it, so their connections show in the HTML report.
 *
 * A `Conn` reads through a buffer of its own: bytes that arrive after a deadline passed are kept
 * for the next call, never lost, and a read left pending at a deadline is taken up again.
 *
 * @module
 */

import {
  getpeername,
  getsockname,
  setLinger,
  setsockopt,
  SO_RCVBUF,
  SOL_SOCKET,
} from "@course/shared";
import type { LaneLog, TraceRecorder } from "../observe/trace.ts";
import { concat } from "./bytes.ts";

/** What a read collected: the bytes, and why it stopped. */
export interface Received {
  /** The bytes read. */
  bytes: Uint8Array;
  /** The peer closed its side (read returned end of file). */
  eof: boolean;
  /** The deadline passed first. */
  timedOut: boolean;
  /** The connection failed (reset, ...): the error's message. */
  error?: string;
}

/** Options for {@link dial}. */
export interface DialOptions {
  /** "127.0.0.1" (the default), "::1", or another loopback address. */
  host?: string;
  /** Turn Nagle's algorithm off, so small writes leave at once (default true). */
  noDelay?: boolean;
  /** SO_RCVBUF for this end, in bytes, set before any data arrives: a small one makes a
   * server's writes meet a full buffer (backpressure) after a few KiB, not megabytes. */
  receiveBuffer?: number;
}

const encoder = new TextEncoder();
const READ_CHUNK = 256 * 1024;

/** Connects to `host:port` (default 127.0.0.1); traced on `trace` when given. */
export async function dial(
  port: number,
  options: DialOptions = {},
  trace?: TraceRecorder,
): Promise<Conn> {
  const hostname = options.host ?? "127.0.0.1";
  let raw: Deno.TcpConn;
  try {
    raw = await Deno.connect({ hostname, port });
  } catch (err) {
    const lane = trace?.connection(`to ${hostname} port ${port}`);
    lane?.add("error", undefined, (err as Error).message);
    throw err;
  }
  const conn = new Conn(raw, trace);
  if (options.noDelay ?? true) raw.setNoDelay(true);
  if (options.receiveBuffer !== undefined) conn.setReceiveBuffer(options.receiveBuffer);
  return conn;
}

/** A traced, deadline-bounded TCP connection made by {@link dial} (`ctx.dial` in a probe). */
export class Conn implements Disposable {
  /** The underlying Deno connection (reads and writes on it are not traced). */
  readonly raw: Deno.TcpConn;
  /** This end's port. */
  readonly localPort: number;
  /** The server's port. */
  readonly remotePort: number;
  readonly #lane: LaneLog | undefined;
  #buf: Uint8Array = new Uint8Array(0);
  #pending: Promise<Uint8Array | null> | null = null;
  #eof = false;
  #error: string | undefined;
  #closed = false;
  #resetFd: number | undefined;

  /** Wraps `raw`, recording on a new lane of `trace` when given. */
  constructor(raw: Deno.TcpConn, trace?: TraceRecorder) {
    this.raw = raw;
    this.localPort = raw.localAddr.port;
    this.remotePort = raw.remoteAddr.port;
    this.#lane = trace?.connection(`port ${this.localPort} → ${this.remotePort}`);
    this.#lane?.add("connect");
  }

  /** This end's address (as Deno.Conn has it). */
  get localAddr(): Deno.NetAddr {
    return this.raw.localAddr;
  }

  /** The server's address. */
  get remoteAddr(): Deno.NetAddr {
    return this.raw.remoteAddr;
  }

  /** Records an event on this connection's lane (a probe's own note: "timeout", say). */
  note(kind: "timeout" | "error", detail?: string): void {
    this.#lane?.add(kind, undefined, detail);
  }

  /** Writes all of `bytes`, looping on short writes. Throws when the connection fails. */
  async send(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    // Traced when it starts: a write that never completes (a server that stopped reading) shows.
    this.#lane?.add("send", data.length);
    try {
      for (let at = 0; at < data.length;) at += await this.raw.write(data.subarray(at));
    } catch (err) {
      this.#lane?.add("error", undefined, (err as Error).message);
      throw err;
    }
  }

  /** One write (a short count is possible), traced; for code written against Deno.Conn. */
  async write(bytes: Uint8Array): Promise<number> {
    this.#lane?.add("send", bytes.length);
    try {
      return await this.raw.write(bytes);
    } catch (err) {
      this.#lane?.add("error", undefined, (err as Error).message);
      throw err;
    }
  }

  /**
   * One read into `buffer`, as Deno.Conn's (null at end of file; throws on a reset), buffered
   * bytes first. Has no deadline: use the other reads for that.
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#buf.length === 0) {
      const more = await this.#fill(Infinity);
      if (more === "eof") return null;
      if (more === "error") throw new Error(this.#error);
    }
    const n = Math.min(buffer.length, this.#buf.length);
    buffer.set(this.#buf.subarray(0, n));
    this.#buf = this.#buf.subarray(n);
    return n;
  }

  /**
   * What is buffered, or else the next read's bytes, waiting at most `ms`: the building block
   * of a protocol client. Empty bytes with `timedOut`, `eof` or `error` say why none came.
   */
  async readSome(options: { ms: number }): Promise<Received> {
    if (this.#buf.length === 0) {
      const more = await this.#fill(Date.now() + options.ms);
      if (more === "timeout") return { bytes: new Uint8Array(0), eof: false, timedOut: true };
      if (more === "eof") return { bytes: new Uint8Array(0), eof: true, timedOut: false };
      if (more === "error") {
        return { bytes: new Uint8Array(0), eof: false, timedOut: false, error: this.#error };
      }
    }
    return { bytes: this.#take(this.#buf.length), eof: false, timedOut: false };
  }

  /** Reads until end of file, until `limit` bytes arrived, or until `ms` passed. */
  receive(options: { ms: number; limit?: number }): Promise<Received> {
    const limit = options.limit ?? Infinity;
    return this.#collect(options.ms, () => this.#buf.length >= limit ? limit : -1);
  }

  /** Reads exactly `n` bytes; fewer only at end of file, an error, or after `ms`. */
  readExactly(n: number, options: { ms: number }): Promise<Received> {
    return this.#collect(options.ms, () => this.#buf.length >= n ? n : -1);
  }

  /**
   * Reads through the first occurrence of `delimiter` (included), or until end of file, an
   * error, `limit` bytes without one (default 1 MiB), or `ms`.
   */
  readUntil(
    delimiter: Uint8Array | string,
    options: { ms: number; limit?: number },
  ): Promise<Received & { found: boolean }> {
    const d = typeof delimiter === "string" ? encoder.encode(delimiter) : delimiter;
    const limit = options.limit ?? 1 << 20;
    let found = false;
    let scanned = 0;
    return this.#collect(options.ms, () => {
      const at = indexOf(this.#buf, d, Math.max(0, scanned - d.length + 1));
      scanned = this.#buf.length;
      if (at >= 0) {
        found = true;
        return at + d.length;
      }
      return this.#buf.length >= limit ? limit : -1;
    }).then((r) => ({ ...r, found }));
  }

  /** The next line without its LF (or CRLF); null at end of file, on error or after `ms`. */
  async readLine(options: { ms: number }): Promise<string | null> {
    const got = await this.readUntil("\n", options);
    if (!got.found) return null;
    const end = got.bytes.length - (got.bytes.at(-2) === 13 ? 2 : 1);
    return new TextDecoder("latin1").decode(got.bytes.subarray(0, end));
  }

  /**
   * Sends `bytes` while reading replies, half-closes after the last byte, and collects
   * everything until the server closes or `ms` passes; then closes the connection.
   */
  async exchange(bytes: Uint8Array, options: { ms: number }): Promise<Received> {
    const sending = this.send(bytes).then(() => this.closeWrite());
    sending.catch(() => {}); // a server that stops reading leaves this pending; closing ends it
    try {
      return await this.receive({ ms: options.ms });
    } finally {
      this.close();
    }
  }

  /** Half-closes: the server reads end of file, and can still send. */
  async closeWrite(): Promise<void> {
    this.#lane?.add("half-close");
    await this.raw.closeWrite();
  }

  /**
   * Ends the connection with a reset (RST) and no end of file first: the server's next read or
   * write on it fails with ECONNRESET or EPIPE, whatever it was doing. (Deno's own close shuts
   * the write side down first, which sends an orderly end of file; so the reset is made on this
   * process's descriptor of the socket: SO_LINGER 0, then connect() to AF_UNSPEC, which makes
   * Linux abort the connection.)
   */
  reset(): void {
    this.armReset();
    const fd = this.#resetFd!;
    if (abortConnection(fd) !== 0) throw new Error(`could not reset the connection on fd ${fd}`);
    this.#lane?.add("error", undefined, "reset sent (RST)");
    this.close();
  }

  /**
   * Finds the descriptor and sets SO_LINGER 0 now, so that a later {@link reset} leaves at once:
   * call it before the exchange a reset is to interrupt.
   */
  armReset(): void {
    if (this.#resetFd !== undefined) return;
    const fd = this.#fd();
    if (fd === null) throw new Error(`no descriptor found for port ${this.localPort}`);
    setLinger(fd, 0);
    this.#resetFd = fd;
  }

  /** Sets SO_RCVBUF on this end (the kernel doubles it, and has a floor of its own). */
  setReceiveBuffer(bytes: number): void {
    const fd = this.#fd();
    if (fd === null) throw new Error(`no descriptor found for port ${this.localPort}`);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
  }

  /** Turns Nagle's algorithm off (true) or on. */
  setNoDelay(noDelay = true): void {
    this.raw.setNoDelay(noDelay);
  }

  /** Closes the connection; a pending read ends. Closing twice does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lane?.add("close");
    try {
      this.raw.close();
    } catch {
      // already closed by Deno (a failed write, say)
    }
  }

  /** `using conn = await ctx.dial(port)` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Reads until `enough()` returns how many buffered bytes to take (>= 0), or end of file, an
   * error, or `ms` passes: then takes what is buffered.
   */
  async #collect(ms: number, enough: () => number): Promise<Received> {
    const deadline = Date.now() + ms;
    for (;;) {
      const take = enough();
      if (take >= 0) return { bytes: this.#take(take), eof: false, timedOut: false };
      const more = await this.#fill(deadline);
      if (more === "ok") continue;
      const bytes = this.#take(this.#buf.length);
      if (more === "timeout") {
        this.#lane?.add("timeout");
        return { bytes, eof: false, timedOut: true };
      }
      if (more === "eof") return { bytes, eof: true, timedOut: false };
      return { bytes, eof: false, timedOut: false, error: this.#error };
    }
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Appends one read's bytes to the buffer, waiting until `deadline` (ms since the epoch). */
  async #fill(deadline: number): Promise<"ok" | "timeout" | "eof" | "error"> {
    if (this.#eof) return "eof";
    if (this.#error !== undefined) return "error";
    if (this.#pending === null) {
      const chunk = new Uint8Array(READ_CHUNK);
      this.#pending = this.raw.read(chunk).then(
        (n) => n === null ? null : chunk.slice(0, n),
        (err) => {
          this.#error = (err as Error).message;
          return null;
        },
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = deadline === Infinity ? new Promise<never>(() => {}) : new Promise<"timeout">(
      (resolve) => timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now())),
    );
    const got = await Promise.race([this.#pending, expired]);
    clearTimeout(timer);
    if (got === "timeout") return "timeout";
    this.#pending = null;
    if (got === null) {
      if (this.#error !== undefined) {
        this.#lane?.add("error", undefined, this.#error);
        return "error";
      }
      this.#eof = true;
      this.#lane?.add("eof");
      return "eof";
    }
    this.#lane?.add("receive", got.length);
    this.#buf = this.#buf.length === 0 ? got : concat([this.#buf, got]);
    return "ok";
  }

  /** This process's descriptor of the socket (see {@link socketFd}). */
  #fd(): number | null {
    return socketFd(this.localPort, this.remotePort);
  }
}

/** The process's connected sockets by "local port:peer port", as the last scan found them. */
const socketFds = new Map<string, number>();

/** "local port:peer port" of a connected socket; throws when `fd` is not one. */
function portsOf(fd: number): string {
  return `${getsockname(fd).port}:${getpeername(fd).port}`;
}

/**
 * This process's descriptor of the connection from `localPort` to `remotePort`: among the sockets
 * in /proc/self/fd, the one whose ports match (getsockname, getpeername). Quick whatever the
 * machine's other sockets (/proc/net/tcp can list tens of thousands in TIME-WAIT), and quick when
 * a probe resets many of its thousand connections: one scan records every socket, and a later
 * look-up only checks that the descriptor it recorded still has those ports.
 */
function socketFd(localPort: number, remotePort: number): number | null {
  const key = `${localPort}:${remotePort}`;
  const known = socketFds.get(key);
  if (known !== undefined) {
    try {
      if (portsOf(known) === key) return known;
    } catch {
      // closed since the scan
    }
  }
  socketFds.clear();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (!Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith("socket:")) continue;
      socketFds.set(portsOf(Number(e.name)), Number(e.name));
    } catch {
      // closed while we looked, or not connected
    }
  }
  return socketFds.get(key) ?? null;
}

/** connect(fd, {AF_UNSPEC}): Linux aborts a TCP connection so (tcp_disconnect), with a RST. */
function abortConnection(fd: number): number {
  // Opened and closed each time: nothing stays loaded (tests check for leaked libraries).
  const libc = Deno.dlopen("libc.so.6", {
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  });
  try {
    return libc.symbols.connect(fd, new Uint8Array(16), 16); // family 0: AF_UNSPEC
  } finally {
    libc.close();
  }
}

/** The offset of `needle` in `haystack` at or after `from`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  if (needle.length === 0) return from;
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
