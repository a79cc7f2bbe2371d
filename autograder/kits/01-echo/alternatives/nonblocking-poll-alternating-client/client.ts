/**
 * 01-echo: the echo client. It copies standard input to the server and the server's replies to
 * standard output, then half-closes and prints the rest until the server closes.
 *
 *     deno run --allow-all client.ts --host 127.0.0.1 --port 7000 < in > out
 *
 * Design: one thread that alternates between the two directions in bounded steps, instead of
 * one `poll` over stdin and the socket.
 *
 * 1. Read one chunk of stdin (at most `CHUNK_SIZE` bytes) with an ordinary blocking `read`.
 * 2. Push that chunk into the non-blocking socket. Each `write` sends what fits right now (§8);
 *    after each one, drain the socket with a few non-blocking `read`s and copy the echoes to
 *    stdout. Only when neither direction could move does the client sleep, in a `poll` on the
 *    socket alone, until it can send or receive again.
 * 3. Drain again, then go back to 1. At the end of stdin, half-close (§5), switch the socket
 *    back to blocking mode (only one direction is left) and read until the server closes.
 *
 * Why this cannot deadlock (§8): the client never blocks on the socket in one direction while
 * the other has work. It blocks on stdin only after it has sent all it read and taken everything
 * the server had sent so far, so at most one chunk of echo is in flight, which the kernel's
 * buffers hold without the server ever having to stop reading.
 *
 * When stdin is a terminal, step 3 also waits briefly for the echo of what was just sent, so a
 * typed line comes back before the client waits for the next one. It waits only briefly: the
 * server may hold bytes back until the half-close (§2), so the echo is not guaranteed to come.
 *
 * @module
 */
import {
  addressFamily,
  close,
  connect,
  EAGAIN,
  poll,
  POLLIN,
  POLLOUT,
  read,
  setNonBlocking,
  SHUT_WR,
  shutdown,
  SOCK_STREAM,
  socket,
  SysError,
  write,
  writeAll,
} from "@course/shared";
import { parseArgs } from "node:util";

const STDIN = 0;
const STDOUT = 1;

/** Largest piece of stdin read at once: bounds what the client holds and what is in flight. */
const CHUNK_SIZE = 64 * 1024;
/** Size of the buffer for the server's replies. */
const REPLY_SIZE = 64 * 1024;
/** Non-blocking reads of the socket between two writes: a bound, so sending keeps its turn. */
const DRAIN_READS = 8;
/** How long, reading from a terminal, to wait for the echo of a line before reading the next. */
const ECHO_GRACE_MS = 200;

/** Reads `--host H --port P`; returns an error line instead of throwing. */
function parseTarget(args: string[]): { host: string; port: number } | string {
  try {
    const options = { host: { type: "string" as const }, port: { type: "string" as const } };
    const { values } = parseArgs({ args, options });
    const port = Number(values.port);
    if (values.port === undefined) return "missing --port";
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `bad --port ${values.port}: expected a number from 1 to 65535`;
    }
    const host = values.host ?? "127.0.0.1";
    addressFamily(host); // an IP address or localhost: a name gets one clear line, not a trace
    return { host, port };
  } catch (err) {
    return (err as Error).message;
  }
}

/** True for the SysError a non-blocking call throws when it would have had to wait. */
function wouldBlock(err: unknown): boolean {
  return err instanceof SysError && err.errno === EAGAIN;
}

/**
 * Opens a connection to the server: socket, then connect (§3). The socket's family follows the
 * host: AF_INET6 for an IPv6 address such as ::1, AF_INET otherwise. If connect throws, the
 * socket is closed before the error goes on.
 */
function openConnection(target: { host: string; port: number }): number {
  const fd = socket(addressFamily(target.host), SOCK_STREAM);
  try {
    connect(fd, target); // blocking: one round trip, or ECONNREFUSED
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * Sends what it can of `unsent` with one `write` on the non-blocking socket and returns the bytes
 * still to send. When the send buffer is full (EAGAIN) nothing was sent: all of it comes back.
 */
function sendSome(sock: number, unsent: Uint8Array): Uint8Array {
  try {
    return unsent.subarray(write(sock, unsent));
  } catch (err) {
    if (wouldBlock(err)) return unsent;
    throw err;
  }
}

/** Tells the server we have nothing more to send; its replies can still arrive (§5). */
function finishSending(sock: number): void {
  shutdown(sock, SHUT_WR);
}

/** The state of one transfer: the socket, a buffer for replies, and what has moved so far. */
interface Transfer {
  sock: number;
  reply: Uint8Array;
  /** Bytes handed to the kernel for the server. */
  sent: number;
  /** Bytes of echo copied to stdout. */
  received: number;
  /** The server closed the connection: the echo is complete (§2). */
  serverClosed: boolean;
}

/**
 * Reads the socket without waiting, at most `maxReads` times, copying each piece to stdout.
 * Stops early when nothing is there (EAGAIN) or the server has closed. Returns the number of
 * bytes received.
 */
function drain(t: Transfer, maxReads: number): number {
  let got = 0;
  for (let i = 0; i < maxReads && !t.serverClosed; i++) {
    let n: number;
    try {
      n = read(t.sock, t.reply);
    } catch (err) {
      if (wouldBlock(err)) break; // nothing more for now
      throw err;
    }
    if (n === 0) {
      t.serverClosed = true;
    } else {
      writeAll(STDOUT, t.reply.subarray(0, n));
      got += n;
      t.received += n;
    }
  }
  return got;
}

/**
 * Sends all of `chunk`, draining the socket between writes so the server's echoes never back up
 * (§8). Sleeps in `poll` only when a turn moved no byte in either direction, and then wakes as
 * soon as the socket can take more or has something to read. Returns early if the server closes.
 */
function sendChunk(t: Transfer, chunk: Uint8Array): void {
  let unsent = chunk;
  while (unsent.length > 0 && !t.serverClosed) {
    const before = unsent.length;
    unsent = sendSome(t.sock, unsent);
    t.sent += before - unsent.length;
    const got = drain(t, DRAIN_READS);
    if (unsent.length === before && got === 0 && !t.serverClosed) {
      // Stuck both ways: wait on the socket alone. POLLERR and POLLHUP wake us too, and the
      // next write or read then reports them.
      poll([{ fd: t.sock, events: POLLIN | POLLOUT, revents: 0 }], -1);
    }
  }
}

/**
 * Waits up to `ms` for the echo of everything sent so far, copying it to stdout as it comes.
 * Used only with a terminal on stdin, so a typed line comes back before the next one is read.
 */
function awaitEchoes(t: Transfer, ms: number): void {
  const deadline = Date.now() + ms;
  while (t.received < t.sent && !t.serverClosed) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    if (poll([{ fd: t.sock, events: POLLIN, revents: 0 }], left) === 0) return; // timed out
    drain(t, DRAIN_READS);
  }
}

/**
 * Reads one chunk of stdin, blocking until some bytes or the end are there; 0 means end of
 * input. Stdin is normally blocking; if whoever started us handed over a non-blocking one, wait
 * for it with `poll` rather than fail with EAGAIN.
 */
function readInput(buf: Uint8Array): number {
  for (;;) {
    try {
      return read(STDIN, buf);
    } catch (err) {
      if (!wouldBlock(err)) throw err;
      poll([{ fd: STDIN, events: POLLIN, revents: 0 }], -1);
    }
  }
}

/** Pumps stdin to `sock` and `sock` to stdout until the server closes. */
function pump(sock: number): void {
  setNonBlocking(sock); // a write sends what fits now and returns: we never block on it
  const t: Transfer = {
    sock,
    reply: new Uint8Array(REPLY_SIZE),
    sent: 0,
    received: 0,
    serverClosed: false,
  };
  const fromStdin = new Uint8Array(CHUNK_SIZE);
  const typing = Deno.stdin.isTerminal();

  // Both directions: alternate bounded steps of input and echo.
  while (!t.serverClosed) {
    const n = readInput(fromStdin);
    if (n === 0) break; // end of input
    sendChunk(t, fromStdin.subarray(0, n));
    drain(t, DRAIN_READS);
    if (typing) awaitEchoes(t, ECHO_GRACE_MS);
  }
  if (t.serverClosed) return; // the server ended the session: its output is complete

  // One direction left: half-close, then the rest of the echo until the server's close. With
  // nothing else to do, a plain blocking read is the simplest way to wait for it.
  finishSending(sock);
  setNonBlocking(sock, false);
  while (!t.serverClosed) drain(t, Number.POSITIVE_INFINITY);
}

function main(): void {
  const target = parseTarget(Deno.args);
  if (typeof target === "string") {
    console.error(`echo client: ${target} (usage: client.ts --host H --port P)`);
    Deno.exit(2);
  }
  let sock: number;
  try {
    sock = openConnection(target);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`echo client: cannot connect to ${target.host}:${target.port}: ${err.message}`);
    Deno.exit(1);
  }
  let failed = false;
  try {
    pump(sock);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`echo client: transfer failed: ${err.message}`);
    failed = true;
  } finally {
    close(sock);
  }
  if (failed) Deno.exit(1);
}

if (import.meta.main) main();
