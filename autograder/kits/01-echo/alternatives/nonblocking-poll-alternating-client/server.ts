/**
 * 01-echo: an iterative echo server, built on non-blocking sockets and `poll`.
 *
 * It still serves exactly one client at a time, from `accept` to `close` (README.md §1), but it
 * never sits inside a blocking `read`, `write` or `accept`. Every socket is non-blocking, and the
 * server sleeps in `poll` until the one socket it cares about is ready:
 *
 * - between clients, the listening socket, for a connection to accept;
 * - during a session, the client's socket, for reading while the buffer has room and for writing
 *   while it holds bytes not yet echoed.
 *
 * The session keeps a FIFO buffer with two offsets (see `Pending`): bytes are read in at the tail
 * and written out from the head, so a short write just moves the head a little and the rest is
 * sent on a later turn. Bytes are written back as soon as they arrive; reading ahead while a
 * write waits for room only lets the buffer absorb a burst, it never delays an echo.
 *
 *     deno run --allow-all server.ts --port 7000
 *
 * @module
 */
import {
  accept,
  AF_INET,
  bind,
  close,
  EAGAIN,
  ECONNABORTED,
  listen,
  poll,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  read,
  setNonBlocking,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  write,
} from "@course/shared";
import { parseArgs } from "node:util";

/** Size of the per-session FIFO: how far reading may run ahead of a write that waits for room. */
const BUFFER_SIZE = 256 * 1024;

/** Length of the queue of connections the kernel completes before we `accept` them (§3). */
const BACKLOG = 128;

/** How long to pause after an `accept` failure such as EMFILE, so we do not spin on it. */
const ACCEPT_RETRY_MS = 100;

/** Reads `--port P` from the command line; returns an error line instead of throwing. */
function parsePort(args: string[]): number | string {
  try {
    const { values } = parseArgs({ args, options: { port: { type: "string" } } });
    const port = Number(values.port);
    if (values.port === undefined) return "missing --port";
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `bad --port ${values.port}: expected a number from 1 to 65535`;
    }
    return port;
  } catch (err) {
    return (err as Error).message;
  }
}

/** True for the SysError that a non-blocking call throws when it would have had to wait. */
function wouldBlock(err: unknown): boolean {
  return err instanceof SysError && err.code === "EAGAIN";
}

/**
 * Creates the listening socket: socket, SO_REUSEADDR, bind, listen (§3). The socket is made
 * non-blocking, because `serve` waits for connections with `poll`, not inside `accept`. If any
 * call throws, the socket is closed before the error goes on to `main`.
 */
function openListener(port: number): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1); // before bind, or a restart meets TIME_WAIT
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, BACKLOG);
    setNonBlocking(fd);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * The bytes read from the client and not yet written back, kept in place in one buffer:
 * `buf[head..tail)`. Reads append at `tail`, writes consume from `head`. When the buffer empties
 * both offsets go back to 0; when the tail reaches the end, the live bytes slide to the front.
 */
class Pending {
  private head = 0;
  private tail = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** How many bytes wait to be echoed. */
  get size(): number {
    return this.tail - this.head;
  }

  /** Whether there is room to read more. */
  get hasRoom(): boolean {
    return this.size < this.buf.length;
  }

  /** The free space after the live bytes, compacting first if the tail is at the end. */
  space(): Uint8Array {
    if (this.tail === this.buf.length && this.head > 0) {
      this.buf.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return this.buf.subarray(this.tail);
  }

  /** Record that `n` bytes were read into `space()`. */
  filled(n: number): void {
    this.tail += n;
  }

  /** The bytes to echo next, oldest first. */
  data(): Uint8Array {
    return this.buf.subarray(this.head, this.tail);
  }

  /** Record that the kernel took `n` bytes of `data()`. */
  consumed(n: number): void {
    this.head += n;
    if (this.head === this.tail) this.head = this.tail = 0;
  }
}

/**
 * Echoes everything the client on `fd` sends until it half-closes and every byte is back.
 *
 * One turn: poll the client's socket for what we can use (POLLIN while the buffer has room and
 * the client may still send, POLLOUT while bytes wait), then do one `read` and/or one `write`.
 * Each moves what it can (a short count is normal, §4) and the offsets remember the rest. When
 * `read` returns 0 the client has half-closed (§5): we stop reading, finish writing, and return,
 * so the caller's `close` sends our FIN. A reset shows up as a SysError from `read` or `write`.
 */
function echo(fd: number, buffer: Uint8Array): void {
  const pending = new Pending(buffer);
  let clientDone = false; // read returned 0: the client sends nothing more

  while (!clientDone || pending.size > 0) {
    const wantRead = !clientDone && pending.hasRoom;
    const wantWrite = pending.size > 0;
    const entry = { fd, events: (wantRead ? POLLIN : 0) | (wantWrite ? POLLOUT : 0), revents: 0 };
    poll([entry], -1);
    // POLLERR and POLLHUP are reported even when not asked for: let the next read or write run,
    // so it throws the error (or reads the end) instead of this loop spinning on them.
    const trouble = entry.revents & (POLLERR | POLLHUP);

    if (wantRead && (entry.revents & POLLIN || trouble)) {
      try {
        const n = read(fd, pending.space());
        if (n === 0) clientDone = true;
        else pending.filled(n);
      } catch (err) {
        if (!wouldBlock(err)) throw err; // readiness was stale: poll again
      }
    }

    // Echo at once what we have, even one byte: never wait for a full buffer (§4).
    if (pending.size > 0 && (entry.revents & POLLOUT || trouble)) {
      try {
        pending.consumed(write(fd, pending.data()));
      } catch (err) {
        if (!wouldBlock(err)) throw err; // no room after all: poll again
      }
    }
  }
}

/**
 * Waits for a connection and accepts it. The listener is non-blocking, so `accept` never waits:
 * `poll` does. Returns null when there was nothing to take after all, or when accepting failed
 * for a reason that concerns one connection or passes (EMFILE, ECONNABORTED): the caller tries
 * again.
 */
function acceptNext(listener: number): number | null {
  poll([{ fd: listener, events: POLLIN, revents: 0 }], -1);
  try {
    return accept(listener);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    if (err.errno === EAGAIN || err.errno === ECONNABORTED) return null; // the client left
    console.error(`echo server: ${err.message}`);
    poll([], ACCEPT_RETRY_MS); // EMFILE and the like: pause, then retry rather than spin
    return null;
  }
}

/** Serves clients one after another, forever: accept, echo, close (§3). */
function serve(listener: number): never {
  const buffer = new Uint8Array(BUFFER_SIZE);
  while (true) {
    const client = acceptNext(listener);
    if (client === null) continue;
    try {
      // accept does not pass O_NONBLOCK on to the new fd (on Linux): set it ourselves.
      setNonBlocking(client);
      echo(client, buffer);
    } catch (err) {
      // One client's failure (ECONNRESET, EPIPE, ...) ends only its session (§7). Anything
      // else is a bug in this file: let it crash loudly, after the finally below.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: client fd ${client} dropped: ${err.message}`);
    } finally {
      close(client); // on every path, or the fd leaks (§6)
    }
  }
}

function main(): void {
  const port = parsePort(Deno.args);
  if (typeof port === "string") {
    console.error(`echo server: ${port} (usage: server.ts --port P)`);
    Deno.exit(2);
  }
  let listener: number;
  try {
    listener = openListener(port);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`echo server: cannot listen on port ${port}: ${err.message}`);
    Deno.exit(1);
  }
  console.error(`echo server: listening on 127.0.0.1:${port}`);
  serve(listener);
}

if (import.meta.main) main();
