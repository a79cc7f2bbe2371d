/**
 * 04-poll: WeensyDB served by one thread.
 *
 * Two choices set this server apart:
 *  - One interest table for both engines. The loop only writes down what each fd should be
 *    watched for (`want`) and which entries changed (`dirty`); just before each wait the engine
 *    catches up: `epoll` issues one epoll_ctl per changed fd (a connection whose interest flips
 *    and flips back within one batch costs nothing), `poll` rebuilds its array only if anything
 *    changed. So the engines differ in nothing but how they sync and wait. Only a removal goes
    to the kernel at once, as the fd is about to be closed.
 *  - Replies are queued as a list of chunks, not copied into one growing buffer: a 1 MiB GET
 *    reply is written straight from the array takeCommand built.
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
  type PollFd,
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
/** Most reports one epoll_wait hands back; the rest wait for the next call. */
const MAX_EVENTS = 1024;

/** What an fd is watched for: POLLIN and POLLOUT equal EPOLLIN and EPOLLOUT. */
type Interest = number;
type Ready = { fd: number; events: number }[];

/**
 * The interest table both engines share. `want` is what each fd should be watched for;
 * `dirty` holds the fds whose entry changed since the last wait (a removed fd is dirty and
 * absent from `want`).
 */
class Interests {
  want = new Map<number, Interest>();
  dirty = new Set<number>();

  set(fd: number, interest: Interest): void {
    if (this.want.get(fd) === interest) return;
    this.want.set(fd, interest);
    this.dirty.add(fd);
  }

  remove(fd: number): void {
    this.want.delete(fd);
    this.dirty.add(fd);
  }
}

/**
 * An engine brings the kernel up to date with the table, and waits (timeout -1). Only removal
 * is eager (`forget`, called just before close): the fd number may come back from accept() in
 * this very batch, and epoll must not still hold the old one when it does.
 */
interface Engine {
  sync(table: Interests): void;
  forget(fd: number): void;
  wait(): Ready;
}

/** poll(): the whole list goes to the kernel on every call; rebuilt only after a change. */
function pollEngine(): Engine {
  let fds: PollFd[] = [];
  return {
    sync(table) {
      if (table.dirty.size === 0) return;
      fds = [...table.want].map(([fd, events]) => ({ fd, events, revents: 0 }));
      table.dirty.clear();
    },
    forget() {}, // the closed fd leaves the array at the next sync (the table marked it dirty)
    wait() {
      poll(fds, -1); // sleeps in the kernel until something is ready: no busy polling
      const ready: Ready = [];
      for (const p of fds) if (p.revents !== 0) ready.push({ fd: p.fd, events: p.revents });
      return ready;
    },
  };
}

/** epoll, level-triggered: the list lives in the kernel; only changed fds cost a system call. */
function epollEngine(): Engine {
  const epfd = epollCreate1(EPOLL_CLOEXEC);
  const inKernel = new Map<number, Interest>(); // what epoll watches each fd for right now
  return {
    sync(table) {
      for (const fd of table.dirty) {
        const want = table.want.get(fd);
        const has = inKernel.get(fd);
        if (want === has || want === undefined) continue; // same as before, or forgotten
        epollCtl(epfd, has === undefined ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, want);
        inKernel.set(fd, want);
      }
      table.dirty.clear();
    },
    forget(fd) {
      if (inKernel.delete(fd)) epollCtl(epfd, EPOLL_CTL_DEL, fd, 0); // DEL before close
    },
    wait() {
      return epollWait(epfd, MAX_EVENTS, -1);
    },
  };
}

/** Replies waiting for the kernel: whole chunks, and how far into the first one it got. */
class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #head = 0; // index of the first unsent chunk: shift() would be O(n) per reply
  #sent = 0; // bytes of that chunk already written
  length = 0; // bytes still queued

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.length += bytes.length;
  }

  /** Writes until the queue is empty or the kernel says EAGAIN; other errors are thrown. */
  writeTo(fd: number): void {
    while (this.#head < this.#chunks.length) {
      const first = this.#chunks[this.#head];
      let n: number;
      try {
        n = write(fd, first.subarray(this.#sent));
      } catch (err) {
        if (err instanceof SysError && err.errno === EAGAIN) return; // full: wait for POLLOUT
        throw err;
      }
      this.#sent += n;
      this.length -= n;
      if (this.#sent === first.length) {
        this.#head++;
        this.#sent = 0;
      }
    }
    this.#chunks = []; // all sent: drop the references so the replies can be freed
    this.#head = 0;
  }
}

const scratch = new Uint8Array(READ_CHUNK); // one read buffer for all: 10,000 clients cost little

/** One client's state between turns of the loop. */
class Connection {
  /** Bytes read that do not yet make a whole command. */
  input = new ByteQueue();
  /** Replies the kernel has not taken yet. */
  output = new ChunkQueue();
  /** Body bytes of an over-limit SET still to throw away as they arrive. */
  skip = 0;
  /** End of file or QUIT: read no more, send what is queued, then close. */
  ending = false;

  constructor(readonly fd: number) {}

  /** One read (at most READ_CHUNK); end of file sets `ending`. */
  readOnce(): void {
    let n: number;
    try {
      n = read(this.fd, scratch);
    } catch (err) {
      if (err instanceof SysError && err.errno === EAGAIN) return; // readiness was a hint
      throw err;
    }
    if (n === 0) this.ending = true;
    const skipped = Math.min(this.skip, n); // an over-limit body is dropped, never stored
    this.skip -= skipped;
    this.input.append(scratch.subarray(skipped, n));
  }

  /** Runs whole commands from input until only part of one is left or output is full. */
  runCommands(store: Store): void {
    while (this.output.length < OUTPUT_LIMIT && this.input.length > 0) {
      const step = takeCommand(this.input.view(), store);
      if (step === null) return; // keep the partial command; the rest comes later
      this.input.consume(step.used);
      this.output.push(step.reply);
      if (step.skip > 0) {
        const now = Math.min(step.skip, this.input.length); // the part that already arrived
        this.input.consume(now);
        this.skip = step.skip - now;
      }
      if (step.close) {
        this.ending = true;
        this.input.consume(this.input.length); // nothing after QUIT runs
        return;
      }
    }
  }

  /**
   * One turn: read once if there is room, run, write. Commands held back by a full output run
   * as soon as a write brings it under the limit: no new bytes may come to trigger them.
   * Throws SysError when the client is gone.
   */
  turn(events: number, store: Store): void {
    const readable = (events & (POLLIN | POLLHUP | POLLERR)) !== 0; // HUP/ERR: read reports it
    if (readable && !this.ending && this.output.length < OUTPUT_LIMIT) this.readOnce();
    for (;;) {
      this.runCommands(store);
      const held = this.output.length >= OUTPUT_LIMIT;
      this.output.writeTo(this.fd);
      if (!held || this.output.length >= OUTPUT_LIMIT) return;
    }
  }

  get done(): boolean {
    return this.ending && this.output.length === 0;
  }

  /** Readable while there is room for more replies; writable while any wait. */
  get interest(): Interest {
    let want = 0;
    if (!this.ending && this.output.length < OUTPUT_LIMIT) want |= POLLIN;
    if (this.output.length > 0) want |= POLLOUT;
    return want;
  }
}

/** The event loop: the engine's wait is the only call that waits. */
function serve(listener: number, engine: Engine): never {
  const store = createStore();
  const conns = new Map<number, Connection>();
  const table = new Interests();
  table.set(listener, POLLIN);

  const drop = (conn: Connection) => {
    table.remove(conn.fd);
    engine.forget(conn.fd);
    conns.delete(conn.fd);
    close(conn.fd);
  };

  const acceptAll = () => {
    for (;;) {
      let fd: number;
      try {
        fd = accept(listener);
      } catch (err) {
        if (!(err instanceof SysError)) throw err;
        if (err.errno === ECONNABORTED) continue; // it left before we took it
        return; // EAGAIN: no one else waiting (EMFILE: the next report retries)
      }
      try {
        setNonBlocking(fd);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1); // replies leave in pieces: skip Nagle
      } catch (err) {
        if (!(err instanceof SysError)) throw err;
        close(fd);
        continue;
      }
      conns.set(fd, new Connection(fd));
      table.set(fd, POLLIN);
    }
  };

  for (;;) {
    engine.sync(table);
    for (const { fd, events } of engine.wait()) {
      if (fd === listener) {
        acceptAll();
        continue;
      }
      const conn = conns.get(fd);
      if (conn === undefined) continue; // closed earlier in this batch
      try {
        conn.turn(events, store);
      } catch (err) {
        if (!(err instanceof SysError)) throw err;
        drop(conn); // ECONNRESET, EPIPE: the client is gone, the server is not
        continue;
      }
      if (conn.done) drop(conn);
      else table.set(fd, conn.interest);
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
  serve(listener, engine);
}

if (import.meta.main) main();
