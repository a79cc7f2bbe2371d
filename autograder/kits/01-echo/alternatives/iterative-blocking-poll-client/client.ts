/**
 * 01-echo: the echo client. It copies standard input to the server
 * and the server's replies to standard output, one poll loop over both;
 * README.md §8 explains why it never blocks on one direction.
 *
 *     deno run --allow-all client.ts --host 127.0.0.1 --port 7000 < in > out
 *
 * @module
 */
import {
  addressFamily,
  close,
  connect,
  poll,
  POLLERR,
  POLLHUP,
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
const BUFFER_SIZE = 64 * 1024;

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

/** Opens a connection to the server: socket, then connect. */
function openConnection(target: { host: string; port: number }): number {
  // The family must match the address: AF_INET6 for "::1", AF_INET otherwise.
  const fd = socket(addressFamily(target.host), SOCK_STREAM);
  try {
    connect(fd, target);
    return fd;
  } catch (err) {
    close(fd); // a failed connect must not leak the socket
    throw err;
  }
}

/** Sends what it can of `unsent` and returns the bytes still to send. */
function sendSome(sock: number, unsent: Uint8Array): Uint8Array {
  // One write only: looping here could block while the server waits for us to read.
  try {
    const n = write(sock, unsent);
    return unsent.subarray(n);
  } catch (err) {
    // poll said writable but the room is gone again: try on the next turn.
    if (err instanceof SysError && err.code === "EAGAIN") return unsent;
    throw err;
  }
}

/** Tells the server we have nothing more to send; its replies can still arrive. */
function finishSending(sock: number): void {
  // Only our sending direction: the echoes still on their way must reach us.
  shutdown(sock, SHUT_WR);
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
