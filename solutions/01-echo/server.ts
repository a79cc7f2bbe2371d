/**
 * 01-echo reference server: an iterative echo server.
 *
 * It serves one client at a time: accept a connection, copy every byte the
 * client sends back to it, and when the client half-closes (read returns 0)
 * close the connection and accept the next one.
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
  readOptions,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  writeAll,
} from "@course/shared";

/** Bytes moved per read; any size works, because read may return fewer anyway. */
const BUFFER_SIZE = 64 * 1024;

/** Reads `--port P` from the command line; returns an error line instead of throwing. */
function parsePort(args: string[]): number | string {
  const options = readOptions(args, { port: { kind: "port", required: true } });
  return typeof options === "string" ? options : options.port;
}

/** Creates the listening socket: the first four calls of every TCP server. */
function openListener(port: number): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    // Without SO_REUSEADDR a restarted server could not bind while connections
    // of its previous run linger in TIME_WAIT.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 128); // the kernel now completes handshakes and queues them for accept
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** Echoes everything the client on `fd` sends until it half-closes. */
function echo(fd: number, buffer: Uint8Array): void {
  while (true) {
    // read returns as soon as *some* bytes are there: often fewer than asked.
    const n = read(fd, buffer);
    if (n === 0) return; // end of file: the client will send nothing more
    // write may also move fewer bytes than asked; writeAll loops until all are sent.
    writeAll(fd, buffer.subarray(0, n));
  }
}

/** Serves clients one after another, forever. */
function serve(listener: number): never {
  const buffer = new Uint8Array(BUFFER_SIZE);
  while (true) {
    const client = accept(listener);
    try {
      echo(client, buffer);
    } catch (err) {
      // A client that vanishes (ECONNRESET, EPIPE) ends its own session, not the server.
      if (!(err instanceof SysError)) throw err;
      console.error(`echo server: client dropped: ${err.message}`);
    } finally {
      close(client); // closing sends the client its end of file and frees the fd
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
