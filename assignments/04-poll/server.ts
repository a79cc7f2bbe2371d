// deno-lint-ignore-file no-unused-vars -- the imports and helpers the todo()s will need
/**
 * 04-poll starter: WeensyDB served by one thread. Fill in each `todo(...)`; README.md says how.
 * Every socket is non-blocking; the only place the program waits is `poll()` or `epoll_wait()`,
 * which say which sockets are ready. Each connection is a small state machine with an input
 * buffer (bytes read but not yet a whole command) and an output buffer (replies not yet taken by
 * the kernel).
 *
 *     deno run --allow-all server.ts --port 7000 [--engine poll|epoll]
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
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  epollCreate1,
  epollCtl,
  epollWait,
  IPPROTO_TCP,
  listen,
  optionsOrExit,
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
  TCP_NODELAY,
  todo,
  write,
} from "@course/shared";
import { ByteQueue, createStore, type Store, takeCommand } from "./protocol.ts";

/** Stop reading a client's requests while this many bytes of its replies wait to be sent. */
export const OUTPUT_LIMIT = 256 * 1024;
/** One read per ready connection per turn, at most this much: no client gets two turns in a row. */
const READ_CHUNK = 64 * 1024;

/** What a connection waits for. POLLIN and POLLOUT have the same values as EPOLLIN, EPOLLOUT. */
type Interest = number;

/**
 * A readiness engine: which fds to watch for what, and a wait for the next ready ones. `poll`
 * hands the kernel the whole list on every call; `epoll` keeps the list in the kernel.
 */
export interface Engine {
  watch(fd: number, interest: Interest): void;
  unwatch(fd: number): void;
  /** Blocks until some fds are ready; `events` uses the POLL* bits. */
  wait(): { fd: number; events: number }[];
}

/** poll(): an array of every watched fd, given to the kernel (and scanned) on every call. */
function pollEngine(): Engine {
  const fds: { fd: number; events: number; revents: number }[] = [];
  const slot = new Map<number, number>(); // fd -> its index in fds
  return {
    watch(fd, interest) {
      const at = slot.get(fd);
      if (at !== undefined) fds[at].events = interest;
      else slot.set(fd, fds.push({ fd, events: interest, revents: 0 }) - 1);
    },
    unwatch(fd) {
      const at = slot.get(fd);
      if (at === undefined) return;
      slot.delete(fd);
      const last = fds.pop()!; // the last entry fills the hole: O(1)
      if (at < fds.length) {
        fds[at] = last;
        slot.set(last.fd, at);
      }
    },
    wait() {
      // Call poll() on fds (wait as long as it takes), then report the entries it marked.
      return todo("pollEngine's wait(): README.md §3 The loop");
    },
  };
}

/** epoll: the interest list lives in the kernel; a wait returns only the ready fds. */
function epollEngine(): Engine {
  // epollCreate1 once; watch() adds or changes a watch with epollCtl, unwatch() removes it;
  // wait() is epollWait. Keep what each fd is watched for, so a watch that changes nothing
  // makes no system call.
  return todo("epollEngine(): README.md §7 poll() against epoll");
}

/** One client's state between turns of the loop. */
interface Connection {
  fd: number;
  /** Bytes read that do not yet make a whole command. */
  input: ByteQueue;
  /** Replies the kernel has not taken yet. */
  output: ByteQueue;
  /** Body bytes of an over-limit SET still to throw away as they arrive. */
  skip: number;
  /** The client sent end of file (or QUIT): read no more, send what is queued, then close. */
  ending: boolean;
}

/** The whole server: the listener, the connections, the store, and the engine. */
interface Server {
  listener: number;
  engine: Engine;
  connections: Map<number, Connection>;
  store: Store;
}

const scratch = new Uint8Array(READ_CHUNK); // one read buffer for all: 10,000 clients cost little

/** Accepts every waiting connection, until EAGAIN says there are no more. */
function acceptAll(server: Server): void {
  // accept() until EAGAIN; make each new fd non-blocking (and TCP_NODELAY), give it a
  // Connection, and watch it for POLLIN.
  todo("acceptAll(): README.md §3 The loop");
}

/** One read (at most READ_CHUNK) into the input buffer; sets `ending` at end of file. */
function readSome(conn: Connection): void {
  let n: number;
  try {
    n = read(conn.fd, scratch);
  } catch (err) {
    if (err instanceof SysError && err.errno === EAGAIN) return; // readiness was stale
    throw err;
  }
  if (n === 0) conn.ending = true;
  let bytes = scratch.subarray(0, n);
  const skipped = Math.min(conn.skip, bytes.length); // an over-limit body is never stored
  conn.skip -= skipped;
  bytes = bytes.subarray(skipped);
  conn.input.append(bytes);
}

/**
 * Runs the complete commands in the input buffer, queueing their replies, until the buffer holds
 * only part of a command or the output passes OUTPUT_LIMIT (backpressure: the rest waits).
 */
function runCommands(conn: Connection, store: Store): void {
  // takeCommand() on conn.input.view() until it returns null; consume what each used, queue its
  // reply, honour its skip and close. Stop early once conn.output.length reaches OUTPUT_LIMIT.
  todo("runCommands(): README.md §4 A connection is a state machine");
}

/** Writes queued replies until the kernel takes no more (EAGAIN) or none are left. */
function flush(conn: Connection): void {
  // write() from conn.output until it is empty or the kernel says EAGAIN.
  todo("flush(): README.md §4 A connection is a state machine");
}

/**
 * What to wait for next: readable while the queued replies are under the limit, writable while
 * any are queued. Commands held back by the limit stay in `input`; they run when output drains.
 */
function interest(conn: Connection): Interest {
  return todo("interest(): README.md §5 Backpressure");
}

/** One turn for a ready connection: read once, run commands, write, then watch or close. */
function serveReady(server: Server, conn: Connection, events: number): void {
  // One read (readSome) if readable and below the limit, run commands, flush, and run again if
  // the output drained. Close on a SysError, or once ending with nothing left to send;
  // otherwise watch the fd for interest(conn).
  todo("serveReady(): README.md §4 A connection is a state machine");
}

function closeConnection(server: Server, conn: Connection): void {
  server.engine.unwatch(conn.fd);
  server.connections.delete(conn.fd);
  close(conn.fd);
}

/** The event loop: the only call that waits is the engine's. */
function serve(server: Server): never {
  server.engine.watch(server.listener, POLLIN);
  for (;;) {
    for (const { fd, events } of server.engine.wait()) {
      if (fd === server.listener) {
        acceptAll(server);
        continue;
      }
      const conn = server.connections.get(fd);
      if (conn !== undefined) serveReady(server, conn, events);
    }
  }
}

/** socket, setsockopt, bind, listen: a non-blocking listening socket on 127.0.0.1:port. */
function openListener(port: number): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 4096);
    setNonBlocking(fd);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

function main(): void {
  const options = optionsOrExit("weensydb", "server.ts --port P [--engine poll|epoll]", Deno.args, {
    port: { kind: "port", required: true },
    engine: { kind: "choice", choices: ["poll", "epoll"], default: "poll" },
  });
  let listener: number;
  try {
    listener = openListener(options.port);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`weensydb: cannot listen on port ${options.port}: ${err.message}`);
    Deno.exit(1);
  }
  const engine = options.engine === "poll" ? pollEngine() : epollEngine();
  console.error(`weensydb: listening on 127.0.0.1:${options.port} (${options.engine})`);
  serve({ listener, engine, connections: new Map(), store: createStore() });
}

if (import.meta.main) main();
