/**
 * 01-echo: an iterative echo server.
 *
 * Design: one thread, blocking sockets, one client at a time (README.md §1). The echo loop uses
 * a deliberately small, fixed buffer that is allocated once and reused for every client, and it
 * handles short counts with its own loop around `write` instead of `writeAll` (§4), so the code
 * shows exactly where a short count is dealt with.
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
  listen,
  read,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  write,
} from "@course/shared";
import { parseArgs } from "node:util";

/**
 * Bytes moved per read. Small on purpose: any size is correct, because `read` may return fewer
 * bytes anyway and we echo each chunk as soon as it arrives; a small buffer only costs more
 * system calls for big transfers.
 */
const BUFFER_SIZE = 4 * 1024;

/** Length of the kernel's queue of completed connections that `accept` has not taken yet. */
const BACKLOG = 128;

/** How long to pause after `accept` fails, so that a persistent error (EMFILE) cannot spin. */
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

/** Creates the listening socket: the first four calls of every TCP server. */
function openListener(port: number): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    // Before bind: lets a restarted server take the port while old connections of the
    // previous run still sit in TIME_WAIT (§3).
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port }); // EADDRINUSE shows up here
    listen(fd, BACKLOG);
    return fd;
  } catch (err) {
    // Do not leak the socket (§6); main prints the error line and exits (§7).
    close(fd);
    throw err;
  }
}

/**
 * Sends all of `chunk` on `fd`. One `write` may take only part of it (a short count, §4), so we
 * keep writing the part that is left until nothing is. On a blocking socket each `write` waits
 * for room and then takes at least one byte, so every turn makes progress.
 */
function sendAll(fd: number, chunk: Uint8Array): void {
  let sent = 0;
  while (sent < chunk.length) {
    sent += write(fd, chunk.subarray(sent));
  }
}

/** Echoes everything the client on `fd` sends until it half-closes. */
function echo(fd: number, buffer: Uint8Array): void {
  while (true) {
    // Returns as soon as at least one byte is there: we never wait for a full buffer.
    const n = read(fd, buffer);
    if (n === 0) return; // end of file: the client half-closed (§5) and everything is echoed
    // Send back exactly the n bytes we got, as bytes (never decoded as text, §2), before we
    // read again: so when read returns 0 nothing is left over.
    sendAll(fd, buffer.subarray(0, n));
  }
}

/** Sleeps the (only) thread for `ms` milliseconds without busy-waiting. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Serves clients one after another, forever. */
function serve(listener: number): never {
  // One buffer for the life of the server: the server is iterative, so one client uses it at a time.
  const buffer = new Uint8Array(BUFFER_SIZE);
  while (true) {
    let client: number;
    try {
      client = accept(listener);
    } catch (err) {
      // A failed accept (EMFILE, ECONNABORTED, ...) is not the end of the server: report it,
      // give the cause a moment to go away, and try again.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: ${err.message}`);
      pause(ACCEPT_RETRY_MS);
      continue;
    }
    try {
      echo(client, buffer);
    } catch (err) {
      // A client that resets (ECONNRESET, EPIPE) ends its own session, not the server (§7).
      // Anything other than a SysError is a bug: let it crash loudly.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: client on fd ${client} dropped: ${err.message}`);
    } finally {
      // Every path closes the client's fd (§6): this also sends our FIN after the echo (§5).
      close(client);
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
