import { EAGAIN, POLLIN, POLLOUT } from "./constants.ts";
import { poll } from "./poll.ts";
import { read, write } from "./socket.ts";
import { SysError } from "./sys_error.ts";

// Robust I/O in the spirit of CS:APP's RIO package: the thin calls in socket.ts may move fewer
// bytes than asked; these helpers loop until the job is done. On a non-blocking fd they wait
// with poll instead of spinning when the kernel says EAGAIN.

/** Run one read or write; on EAGAIN wait until the fd is ready for `events`, then try again. */
function untilReady(fd: number, events: number, call: () => number): number {
  for (;;) {
    try {
      return call();
    } catch (err) {
      if (!(err instanceof SysError && err.errno === EAGAIN)) throw err;
      poll([{ fd, events, revents: 0 }], -1);
    }
  }
}

/**
 * Read exactly `n` bytes from `fd`, looping over short reads. Returns fewer than `n` bytes only
 * when end-of-file comes first (an empty array if it comes at once). Works on blocking and
 * non-blocking fds alike; on a non-blocking one it waits with `poll`. Throws SysError.
 */
export function readN(fd: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const got = fillFrom(fd, out);
  return got === n ? out : out.subarray(0, got);
}

/** Fill `out` from `fd` until it is full or EOF; return the number of bytes read. */
function fillFrom(fd: number, out: Uint8Array): number {
  let got = 0;
  while (got < out.length) {
    const r = untilReady(fd, POLLIN, () => read(fd, out.subarray(got)));
    if (r === 0) break;
    got += r;
  }
  return got;
}

/**
 * Read from `fd` until end-of-file and return everything as one array, such as the rest of a
 * request after the peer's `shutdown(fd, SHUT_WR)`. Throws SysError.
 */
export function readToEnd(fd: number): Uint8Array {
  let buf = new Uint8Array(64 * 1024);
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const r = untilReady(fd, POLLIN, () => read(fd, buf.subarray(len)));
    if (r === 0) return buf.slice(0, len);
    len += r;
  }
}

/**
 * Write all of `buf` to `fd`, looping over short writes; on a non-blocking fd it waits with
 * `poll` for room whenever the kernel says EAGAIN. Returns only when every byte has been handed
 * to the kernel. Throws SysError (EPIPE or ECONNRESET when the peer has gone away).
 */
export function writeAll(fd: number, buf: Uint8Array): void {
  let sent = 0;
  while (sent < buf.length) {
    sent += untilReady(fd, POLLOUT, () => write(fd, buf.subarray(sent)));
  }
}

/** Options for `LineReader`. */
export interface LineReaderOptions {
  /** Longest line accepted, in bytes, not counting its "\n" or "\r\n". Default 8192. */
  maxLine?: number;
  /**
   * Called just before the reader reads from the fd: when what it has buffered is not enough,
   * so the read may block until the peer sends more. A server that queues replies writes them
   * out here: the client may be waiting for them before it sends the rest.
   */
  beforeRead?: () => void;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * A buffered reader for line-oriented protocols over one fd. `readLine` returns the next line
 * without its "\n" (and without a "\r" just before it), or null at end-of-file; a final line
 * with no "\n" is returned as is. `readBytes` reads an exact byte count through the same buffer,
 * for a body after a header. Bytes this reader has buffered are gone from the fd, so once you
 * use a LineReader on an fd, do all reading through it. It does not own the fd: close the fd
 * yourself.
 */
export class LineReader {
  #fd: number;
  #maxLine: number;
  #buf: Uint8Array;
  #start = 0; // buffered bytes are #buf[#start, #end)
  #end = 0;
  #eof = false;
  #beforeRead: () => void;

  /** Read lines from `fd`; lines longer than `maxLine` (default 8192) bytes are refused. */
  constructor(fd: number, { maxLine = 8192, beforeRead = () => {} }: LineReaderOptions = {}) {
    this.#fd = fd;
    this.#maxLine = maxLine;
    this.#beforeRead = beforeRead;
    this.#buf = new Uint8Array(Math.max(maxLine + 2, 4096)); // line, "\r", "\n"
  }

  /**
   * The next line without its "\n" (or "\r\n"), or null at end-of-file. Throws RangeError when
   * a line is longer than `maxLine` bytes (the reader is unusable afterwards), SysError when a
   * read fails.
   */
  readLine(): Uint8Array | null {
    for (let scanned = 0;;) { // bytes after #start already searched for "\n"
      const nl = this.#buf.subarray(this.#start + scanned, this.#end).indexOf(NEWLINE);
      if (nl !== -1) return this.#take(this.#start + scanned + nl, 1);
      scanned = this.#end - this.#start;
      // One byte of slack: the line so far may end in the "\r" of a "\r\n".
      if (scanned > this.#maxLine + 1) throw this.#tooLong();
      if (this.#eof || !this.#fill()) return scanned === 0 ? null : this.#take(this.#end, 0);
    }
  }

  /**
   * Read exactly `n` bytes, first from the buffer and then from the fd; fewer only at
   * end-of-file. Throws SysError when a read fails.
   */
  readBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const have = Math.min(n, this.#end - this.#start);
    out.set(this.#buf.subarray(this.#start, this.#start + have));
    this.#start += have;
    const more = have < n && !this.#eof;
    if (more) this.#beforeRead();
    const got = have + (more ? fillFrom(this.#fd, out.subarray(have)) : 0);
    if (got < n) this.#eof = true;
    return got === n ? out : out.subarray(0, got);
  }

  /** How many bytes are buffered: already read from the fd but not yet returned. */
  buffered(): number {
    return this.#end - this.#start;
  }

  /** Return #buf[#start, lineEnd) minus a final "\r"; skip `skip` more bytes (the "\n"). */
  #take(lineEnd: number, skip: number): Uint8Array {
    const end = lineEnd > this.#start && this.#buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (end - this.#start > this.#maxLine) throw this.#tooLong();
    const line = this.#buf.slice(this.#start, end);
    this.#start = lineEnd + skip;
    return line;
  }

  #tooLong(): RangeError {
    return new RangeError(`Cannot read line: longer than maxLine (${this.#maxLine} bytes)`);
  }

  /** Read more bytes into the buffer, compacting it first; false at end-of-file. */
  #fill(): boolean {
    this.#beforeRead();
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const space = this.#buf.subarray(this.#end);
    const r = untilReady(this.#fd, POLLIN, () => read(this.#fd, space));
    if (r === 0) this.#eof = true;
    this.#end += r;
    return r > 0;
  }
}
