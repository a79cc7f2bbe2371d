/**
 * 01-echo reference client: copies standard input to the server and the
 * server's replies to standard output.
 *
 * It watches two sources at once, stdin and the socket, so it never blocks
 * on one while the other has data: sending a large input without reading the
 * echoes would fill both sides' buffers and stall forever. At the end of
 * stdin it half-closes the socket (shutdown SHUT_WR) and keeps reading until
 * the server closes.
 *
 *     deno run --allow-all client.ts --host 127.0.0.1 --port 7000 < in > out
 *
 * @module
 */
import {
  addressFamily,
  AF_INET,
  AF_INET6,
  close,
  connect,
  poll,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  read,
  readOptions,
  setNonBlocking,
  SHUT_WR,
  shutdown,
  SOCK_STREAM,
  socket,
  SysError,
  write,
  writeAll,
} from "@course/shared";

const STDIN = 0;
const STDOUT = 1;
const BUFFER_SIZE = 64 * 1024;

/** Reads `--host H --port P`; returns an error line instead of throwing. */
function parseTarget(args: string[]): { host: string; port: number } | string {
  const options = readOptions(args, {
    host: { kind: "string", default: "127.0.0.1" },
    port: { kind: "port", required: true },
  });
  if (typeof options === "string") return options;
  try {
    addressFamily(options.host); // an IP address or localhost: a name gets one line, not a trace
  } catch (err) {
    return (err as Error).message;
  }
  return options;
}

/** Opens a connection to the server: socket, then connect. */
function openConnection(target: { host: string; port: number }): number {
  const fd = socket(target.host.includes(":") ? AF_INET6 : AF_INET, SOCK_STREAM);
  try {
    connect(fd, target); // blocks for the TCP handshake
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** Sends what it can of `unsent` and returns the bytes still to send. */
function sendSome(sock: number, unsent: Uint8Array): Uint8Array {
  const n = write(sock, unsent); // a non-blocking write sends what fits now: keep the rest
  return unsent.subarray(n);
}

/** Tells the server we have nothing more to send; its replies can still arrive. */
function finishSending(sock: number): void {
  shutdown(sock, SHUT_WR); // a half-close: the server reads end of file, we can still read
}

/** Pumps stdin to `sock` and `sock` to stdout until the server closes. */
function pump(sock: number): void {
  setNonBlocking(sock); // a write sends what fits now and returns: we never block on it
  const fromStdin = new Uint8Array(BUFFER_SIZE);
  const fromServer = new Uint8Array(BUFFER_SIZE);
  let unsent: Uint8Array = fromStdin.subarray(0, 0); // read from stdin, not yet written to the socket
  let stdinOpen = true;
  while (true) {
    const server = { fd: sock, events: POLLIN | (unsent.length > 0 ? POLLOUT : 0), revents: 0 };
    // Read more stdin only once the last chunk is sent: this bounds our memory.
    const input = { fd: STDIN, events: POLLIN, revents: 0 };
    const watchInput = stdinOpen && unsent.length === 0;
    poll(watchInput ? [server, input] : [server], -1);

    if (server.revents & (POLLIN | POLLHUP | POLLERR)) {
      const n = read(sock, fromServer);
      if (n === 0) return; // the server closed: everything it will send has arrived
      writeAll(STDOUT, fromServer.subarray(0, n));
    }
    if (server.revents & POLLOUT) unsent = sendSome(sock, unsent);
    if (watchInput && input.revents & (POLLIN | POLLHUP | POLLERR)) {
      const n = read(STDIN, fromStdin);
      if (n === 0) {
        stdinOpen = false;
        finishSending(sock);
      } else {
        unsent = fromStdin.subarray(0, n);
      }
    }
  }
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
  try {
    pump(sock);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`echo client: connection lost: ${err.message}`);
    Deno.exit(1);
  } finally {
    close(sock);
  }
}

if (import.meta.main) main();
