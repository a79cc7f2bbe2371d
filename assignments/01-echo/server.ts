/**
 * 01-echo starter: an iterative echo server. Fill in each `todo(...)`;
 * README.md walks through every call. Grade yourself with
 *
 *     deno task grade 01-echo
 *
 * Run it by hand with `deno run --allow-all server.ts --port 7000`.
 *
 * @module
 */
import { readOptions, SysError, todo } from "@course/shared";

/** Bytes moved per read; any size works, because read may return fewer anyway. */
const BUFFER_SIZE = 64 * 1024;

/** Reads `--port P` from the command line; returns an error line instead of throwing. */
function parsePort(args: string[]): number | string {
  const options = readOptions(args, { port: { kind: "port", required: true } });
  return typeof options === "string" ? options : options.port;
}

/** Creates the listening socket: the first four calls of every TCP server. */
function openListener(port: number): number {
  // socket(AF_INET, SOCK_STREAM), then setsockopt SO_REUSEADDR, bind to
  // { host: "127.0.0.1", port }, listen. If a call throws, close the socket
  // before passing the error on.
  return todo(`openListener(${port}): README.md §3 The socket calls`);
}

/** Echoes everything the client on `fd` sends until it half-closes. */
function echo(fd: number, buffer: Uint8Array): void {
  // Loop: read into the buffer; 0 bytes means the client half-closed (§5);
  // otherwise send back exactly the bytes read, all of them (§4).
  todo(`echo(${fd}, ${buffer.length}-byte buffer): README.md §4 Short counts`);
}

/** Serves clients one after another, forever. */
function serve(listener: number): never {
  const buffer = new Uint8Array(BUFFER_SIZE);
  while (true) {
    const client: number = todo(`accept a client on fd ${listener}: README.md §3`);
    // Echo to the client, then always close it (§6), even when echo throws a
    // SysError because the client vanished (§7).
    echo(client, buffer);
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
