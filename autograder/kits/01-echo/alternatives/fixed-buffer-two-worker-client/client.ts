/**
 * 01-echo: the echo client. It copies standard input to the server and the server's replies to
 * standard output, half-closes at the end of its input, and exits once the server closes.
 *
 *     deno run --allow-all client.ts --host 127.0.0.1 --port 7000 < in > out
 *
 * Design: the two directions run in two Workers, each with plain blocking calls, so neither
 * direction can ever hold up the other (README.md §8 explains why one thread that writes all of
 * its input before reading deadlocks):
 *
 * - the main thread connects, starts the Workers, and then only waits for their messages;
 * - the *sender* Worker copies stdin to the socket, then half-closes (`shutdown(SHUT_WR)`, §5);
 * - the *receiver* Worker copies the socket to stdout until the server closes (read returns 0).
 *
 * The receiver's end of file is the end of the program: exit 0. A `SysError` in either Worker
 * becomes one line on stderr and exit 1. Both Workers run this same file (only client.ts is
 * graded); they are told apart by their Worker name. An fd is a process-wide number, so the
 * Workers use the socket the main thread connected. Each Worker holds at most one buffer of
 * data, so memory stays bounded whatever the size of the input.
 *
 * @module
 */
import {
  addressFamily,
  close,
  connect,
  formatSockAddr,
  poll,
  POLLIN,
  read,
  SHUT_WR,
  shutdown,
  SOCK_STREAM,
  socket,
  SysError,
  writeAll,
} from "@course/shared";
import { parseArgs } from "node:util";

const STDIN = 0;
const STDOUT = 1;
const BUFFER_SIZE = 64 * 1024;

/** Worker names: each Worker runs this file and picks its job by its name. */
const SENDER = "echo-client-sender";
const RECEIVER = "echo-client-receiver";

/** What the main thread sends a Worker: the connected socket. */
interface StartMessage {
  sock: number;
}

/** What a Worker sends back: it finished its direction, or a system call failed. */
type ReportMessage =
  | { role: string; kind: "done" }
  | { role: string; kind: "error"; message: string };

/** The little of a Worker's global scope that this file uses. */
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<StartMessage>) => void) | null;
  postMessage(message: ReportMessage): void;
}

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
  // The family must match the address: AF_INET6 for "::1", AF_INET for "127.0.0.1" (§3).
  const sock = socket(addressFamily(target.host), SOCK_STREAM);
  try {
    connect(sock, target); // blocks for the handshake; ECONNREFUSED when nobody listens
    return sock;
  } catch (err) {
    close(sock); // do not leak the fd (§6)
    throw err;
  }
}

/** Tells the server we have nothing more to send; its replies can still arrive. */
function finishSending(sock: number): void {
  shutdown(sock, SHUT_WR); // our FIN: the server's read returns 0 after our last byte (§5)
}

/**
 * One `read` from `fd`, waiting for data. Our fds are blocking, but stdin is inherited and may
 * have been left non-blocking by whoever started us: then a read that finds nothing throws
 * EAGAIN, and we wait with `poll` until there is something (or end of file) and read again.
 */
function readWaiting(fd: number, buf: Uint8Array): number {
  while (true) {
    try {
      return read(fd, buf);
    } catch (err) {
      if (!(err instanceof SysError) || err.code !== "EAGAIN") throw err;
      poll([{ fd, events: POLLIN, revents: 0 }], -1);
    }
  }
}

/**
 * Copies `from` to `to` until `from` reaches end of file. One read moves whatever is there (a
 * short count is normal, §4), and `writeAll` then sends exactly those bytes, looping over short
 * writes. The bytes stay in a Uint8Array all the way: never decoded as text (§2).
 */
function copy(from: number, to: number): void {
  const buf = new Uint8Array(BUFFER_SIZE);
  while (true) {
    const n = readWaiting(from, buf);
    if (n === 0) return;
    // Blocking here is fine: the other direction runs in the other Worker and keeps draining.
    writeAll(to, buf.subarray(0, n));
  }
}

/** The sender Worker's job: all of stdin to the server, then the half-close. */
function sendInput(sock: number): void {
  copy(STDIN, sock);
  finishSending(sock);
}

/** The receiver Worker's job: the server's replies to stdout until the server closes. */
function receiveEcho(sock: number): void {
  copy(sock, STDOUT); // returns when read gives 0: the echo is complete
}

/** Runs in a Worker: waits for the socket, does its one direction, and reports back. */
function workerMain(scope: WorkerScope): void {
  const job = scope.name === SENDER ? sendInput : scope.name === RECEIVER ? receiveEcho : null;
  if (job === null) throw new Error(`echo client: unknown worker ${scope.name}`);
  scope.onmessage = (event) => {
    try {
      job(event.data.sock);
      scope.postMessage({ role: scope.name, kind: "done" });
    } catch (err) {
      // Only system call failures are expected; anything else is a bug and crashes loudly
      // (an uncaught error in a Worker also ends the main program with a trace).
      if (!(err instanceof SysError)) throw err;
      scope.postMessage({ role: scope.name, kind: "error", message: err.message });
    }
  };
}

/** Starts one Worker on this same file under `name` and hands it the socket. */
function startWorker(name: string, sock: number, onReport: (r: ReportMessage) => void): Worker {
  const worker = new Worker(import.meta.url, { type: "module", name });
  worker.onmessage = (event: MessageEvent<ReportMessage>) => onReport(event.data);
  worker.postMessage({ sock } satisfies StartMessage);
  return worker;
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
    console.error(`echo client: cannot connect to ${formatSockAddr(target)}: ${err.message}`);
    Deno.exit(1);
  }

  // The first report that ends the program wins; Deno.exit stops the other Worker too, even
  // when it is blocked in a system call (a read of stdin that will never end, say).
  let sender: Worker | undefined = undefined;
  const onReport = (report: ReportMessage): void => {
    if (report.kind === "error") {
      const what = report.role === SENDER ? "sending stdin to the server" : "copying the echo";
      console.error(`echo client: ${what} failed: ${report.message}`);
      close(sock);
      Deno.exit(1);
    }
    if (report.role === RECEIVER) {
      // The server closed: everything it will ever send is on stdout now (§5).
      close(sock);
      Deno.exit(0);
    }
    // The sender is done (stdin sent, half-closed): it has nothing left to do.
    sender?.terminate();
  };
  startWorker(RECEIVER, sock, onReport);
  sender = startWorker(SENDER, sock, onReport);
}

if (import.meta.main) {
  // import.meta.main is true in a Worker's own module as well: tell the two cases apart.
  if ("WorkerGlobalScope" in globalThis) workerMain(self as unknown as WorkerScope);
  else main();
}
