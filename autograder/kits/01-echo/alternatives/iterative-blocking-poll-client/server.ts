/**
 * 01-echo: an iterative echo server with blocking calls: one client at a time,
 * read then writeAll until end of file, then close. Grade with
 *
 *     deno task grade 01-echo
 *
 * Run it by hand with `deno run --allow-all server.ts --port 7000`.
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
  writeAll,
} from "@course/shared";
import { parseArgs } from "node:util";

/** Bytes moved per read; any size works, because read may return fewer anyway. */
const BUFFER_SIZE = 64 * 1024;

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
    // Before bind, so a restart does not hit EADDRINUSE from TIME_WAIT records.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 128);
    return fd;
  } catch (err) {
    close(fd); // do not leak the socket; main prints the error
    throw err;
  }
}

/** Echoes everything the client on `fd` sends until it half-closes. */
function echo(fd: number, buffer: Uint8Array): void {
  while (true) {
    const n = read(fd, buffer); // any n >= 1 is just what has arrived so far
    if (n === 0) return; // the client half-closed, and everything is echoed already
    writeAll(fd, buffer.subarray(0, n)); // write may take fewer bytes: writeAll loops
  }
}

/** Serves clients one after another, forever. */
function serve(listener: number): never {
  const buffer = new Uint8Array(BUFFER_SIZE);
  while (true) {
    let client: number;
    try {
      client = accept(listener);
    } catch (err) {
      // EMFILE or ECONNABORTED: one failed accept is no reason to stop serving.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: accept failed: ${err.message}`);
      continue;
    }
    try {
      echo(client, buffer);
    } catch (err) {
      // A client that resets is its own problem: end its session, keep serving.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: client dropped: ${err.message}`);
    } finally {
      close(client); // sends our FIN, and frees the fd on every path
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
