/**
 * 04-poll: WeensyDB served by one thread, with an eager engine (each watch change goes straight
 * to the kernel) and ByteQueue buffers, as README.md lays out.
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
  write,
} from "@course/shared";
import { parseArgs } from "node:util";
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
      poll(fds, -1); // -1: sleep in the kernel until something is ready, never busy-poll
      const ready: { fd: number; events: number }[] = [];
      for (const p of fds) if (p.revents !== 0) ready.push({ fd: p.fd, events: p.revents });
      return ready;
    },
  };
}

/** epoll: the interest list lives in the kernel; a wait returns only the ready fds. */
function epollEngine(): Engine {
  const epfd = epollCreate1(EPOLL_CLOEXEC);
  const watched = new Map<number, Interest>(); // fd -> what the kernel watches it for
  return {
    watch(fd, interest) {
      const now = watched.get(fd);
      if (now === interest) return; // nothing changes: spare the system call
      epollCtl(epfd, now === undefined ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, interest);
      watched.set(fd, interest);
    },
    unwatch(fd) {
      if (!watched.delete(fd)) return;
      epollCtl(epfd, EPOLL_CTL_DEL, fd, 0);
    },
    wait() {
      // Level-triggered (no EPOLLET): an fd with work left is reported again, like poll.
      return epollWait(epfd, 1024, -1);
    },
  };
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
  for (;;) {
    let fd: number;
    try {
      fd = accept(server.listener);
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      if (err.errno === ECONNABORTED) continue; // that client left before we took it
      return; // EAGAIN: no more waiting (or EMFILE: try again on the next report)
    }
    try {
      setNonBlocking(fd);
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1); // replies leave in pieces: no Nagle delay
      server.engine.watch(fd, POLLIN);
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      close(fd); // it died already; the server goes on
      continue;
    }
    server.connections.set(fd, {
      fd,
      input: new ByteQueue(),
      output: new ByteQueue(),
      skip: 0,
      ending: false,
    });
  }
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
  while (conn.output.length < OUTPUT_LIMIT && conn.input.length > 0) {
    const step = takeCommand(conn.input.view(), store);
    if (step === null) return; // only part of a command: keep it for a later turn
    conn.input.consume(step.used);
    conn.output.append(step.reply);
    if (step.skip > 0) {
      // Part of the skipped body may already be in input; the rest is dropped by readSome.
      const now = Math.min(step.skip, conn.input.length);
      conn.input.consume(now);
      conn.skip = step.skip - now;
    }
    if (step.close) {
      conn.ending = true;
      conn.input.consume(conn.input.length); // nothing after QUIT runs
      return;
    }
  }
}

/** Writes queued replies until the kernel takes no more (EAGAIN) or none are left. */
function flush(conn: Connection): void {
  while (conn.output.length > 0) {
    let n: number;
    try {
      n = write(conn.fd, conn.output.view());
    } catch (err) {
      if (err instanceof SysError && err.errno === EAGAIN) return; // full: wait for POLLOUT
      throw err;
    }
    conn.output.consume(n);
  }
}

/**
 * What to wait for next: readable while the queued replies are under the limit, writable while
 * any are queued. Commands held back by the limit stay in `input`; they run when output drains.
 */
function interest(conn: Connection): Interest {
  let want = 0;
  if (!conn.ending && conn.output.length < OUTPUT_LIMIT) want |= POLLIN;
  if (conn.output.length > 0) want |= POLLOUT;
  return want;
}

/** One turn for a ready connection: read once, run commands, write, then watch or close. */
function serveReady(server: Server, conn: Connection, events: number): void {
  try {
    // POLLHUP/POLLERR count as readable: the read then reports the end or the error.
    const readable = (events & (POLLIN | POLLHUP | POLLERR)) !== 0;
    if (readable && !conn.ending && conn.output.length < OUTPUT_LIMIT) readSome(conn);
    // Run, write, and run again while writing brought a full output back under the limit:
    // commands held back there get no other turn if no more bytes ever arrive.
    for (;;) {
      runCommands(conn, server.store);
      const held = conn.output.length >= OUTPUT_LIMIT;
      flush(conn);
      if (!held || conn.output.length >= OUTPUT_LIMIT) break;
    }
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    closeConnection(server, conn); // ECONNRESET, EPIPE: the client is gone
    return;
  }
  if (conn.ending && conn.output.length === 0) closeConnection(server, conn);
  else server.engine.watch(conn.fd, interest(conn));
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

/** Reads `--port P [--engine poll|epoll]`; returns an error line instead of throwing. */
function parseOptions(args: string[]): { port: number; engine: "poll" | "epoll" } | string {
  try {
    const { values } = parseArgs({
      args,
      options: { port: { type: "string" }, engine: { type: "string", default: "poll" } },
    });
    const port = Number(values.port);
    if (values.port === undefined) return "missing --port";
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `bad --port ${values.port}: expected a number from 1 to 65535`;
    }
    if (values.engine !== "poll" && values.engine !== "epoll") {
      return `bad --engine ${values.engine}: expected poll or epoll`;
    }
    return { port, engine: values.engine };
  } catch (err) {
    return (err as Error).message;
  }
}

function main(): void {
  const options = parseOptions(Deno.args);
  if (typeof options === "string") {
    console.error(`weensydb: ${options} (usage: server.ts --port P [--engine poll|epoll])`);
    Deno.exit(2);
  }
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
