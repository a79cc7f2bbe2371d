/**
 * 04-poll: WeensyDB served by one thread.
 *
 *     deno run --allow-all server.ts --port 7000 [--engine poll|epoll]
 *
 * Design, in three parts:
 *
 * 1. **A reactor over handlers.** The engine (poll or epoll, both level-triggered) does not hand
 *    back bare fds for the loop to look up: it keeps the *handler object* registered for each fd
 *    (the listener or a `Session`) and returns `{ handler, events }` pairs. Each handler remembers
 *    the interest the engine currently holds for it (`armed`), so a re-arm that changes nothing
 *    costs nothing. The poll engine keeps its `struct pollfd` array in C's layout for the whole
 *    life of the server and edits it in place, so a wait is the bare poll(2) plus a scan that
 *    stops once it has found as many ready entries as poll(2) counted.
 *
 * 2. **A session is an explicit state machine.** `Phase.Open` (reading and running commands),
 *    `Phase.PeerDone` (the client sent end of file: run what is already read, send, close),
 *    `Phase.Closing` (QUIT or a line too long: run nothing more, send what is queued, close) and
 *    `Phase.Closed`. Whether it is throttled (§5) is not a phase of its own: it is read off the
 *    output ring ("full"), and combines with Open and PeerDone alike.
 *
 * 3. **Output is a fixed-size ring (OUTPUT_LIMIT bytes) lent from a shared pool.** Replies are
 *    copied into the ring; the part of a reply that does not fit waits as a single "spill" (a view
 *    of the reply, no copy), and the session runs no more commands and reads nothing until writes
 *    have moved the spill into the ring and made room. So "output holds OUTPUT_LIMIT or more" is
 *    exactly "the ring is full", and a session never holds more than the ring plus one reply. An
 *    empty ring gives its buffer back to the pool, so an idle session holds no buffer at all.
 *    Input stays a `ByteQueue`: `takeCommand` needs the front of it as one contiguous view, and
 *    the protocol's own limits bound it (§4).
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
  EINTR,
  EMFILE,
  ENFILE,
  ENOBUFS,
  ENOMEM,
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
import { ByteQueue, createStore, type Store, takeCommand } from "./protocol.ts";

/** Stop reading a client's requests while this many bytes of its replies wait to be sent. */
export const OUTPUT_LIMIT = 256 * 1024;
/** One read per ready connection per turn, at most this much: no client gets two turns in a row. */
const READ_CHUNK = 64 * 1024;
/** At most this many ring buffers wait unused in the pool (the rest go to the garbage collector). */
const POOL_KEEP = 8;
/** At most this many readiness reports per epoll_wait(); the rest come on the next call. */
const EPOLL_BATCH = 1024;

/** What a handler waits for: POLLIN and POLLOUT bits (EPOLLIN and EPOLLOUT have the same values). */
type Interest = number;

/** Something registered with an engine: an fd, what to do when it is ready, and its watch. */
interface Handler {
  readonly fd: number;
  /** The interest the engine holds for this fd now (kept by the engine, read by no one else). */
  armed: Interest;
  /** One turn: the fd is ready with these POLL* bits (POLLHUP and POLLERR may come unasked). */
  ready(events: number): void;
}

/** One readiness report. */
interface Ready {
  handler: Handler;
  events: number;
}

/**
 * A level-triggered readiness engine over handlers. `add` starts watching, `arm` changes the watch
 * (a no-op when it is already that), `remove` stops watching (call it before closing the fd), and
 * `wait` blocks until some are ready.
 */
export interface Engine {
  add(handler: Handler, interest: Interest): void;
  arm(handler: Handler, interest: Interest): void;
  remove(handler: Handler): void;
  wait(): Ready[];
}

// ---------------------------------------------------------------------------------------------
// The poll engine
// ---------------------------------------------------------------------------------------------

/**
 * poll(2) itself, on an array already in C's layout. (The course library's `poll` takes an array
 * of JS records and converts it to C's layout and back on every call; at 10,000 fds that copy
 * costs as much as the system call, see README.md §7, so this engine keeps the C array for good.)
 */
const sys = Deno.dlopen("libc.so.6", {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
}).symbols;

function lastErrno(): number {
  const p = sys.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** sizeof(struct pollfd): int fd; short events; short revents. */
const POLLFD = 8;

/**
 * poll(): every watched fd is one `struct pollfd` in `#table`, slots 0..count-1, in the order
 * they were added (a removed slot is filled by the last one). The kernel reads and fills the
 * table in place; `#slotOf` finds a handler's slot, `#handlers` a slot's handler.
 */
class PollEngine implements Engine {
  #table = new Uint8Array(1024 * POLLFD);
  #view = new DataView(this.#table.buffer);
  #handlers: Handler[] = [];
  #slotOf = new Map<Handler, number>();

  add(handler: Handler, interest: Interest): void {
    const slot = this.#handlers.length;
    if ((slot + 1) * POLLFD > this.#table.length) {
      const bigger = new Uint8Array(this.#table.length * 2);
      bigger.set(this.#table);
      this.#table = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#handlers.push(handler);
    this.#slotOf.set(handler, slot);
    this.#view.setInt32(slot * POLLFD, handler.fd, true);
    this.#view.setInt16(slot * POLLFD + 4, interest, true);
    this.#view.setInt16(slot * POLLFD + 6, 0, true);
    handler.armed = interest;
  }

  arm(handler: Handler, interest: Interest): void {
    if (handler.armed === interest) return;
    const slot = this.#slotOf.get(handler);
    if (slot === undefined) return;
    this.#view.setInt16(slot * POLLFD + 4, interest, true);
    handler.armed = interest;
  }

  remove(handler: Handler): void {
    const slot = this.#slotOf.get(handler);
    if (slot === undefined) return;
    this.#slotOf.delete(handler);
    const last = this.#handlers.pop()!;
    const lastSlot = this.#handlers.length;
    if (slot !== lastSlot) {
      // The last entry fills the hole: O(1), and the table stays dense for the kernel.
      this.#handlers[slot] = last;
      this.#slotOf.set(last, slot);
      this.#table.copyWithin(slot * POLLFD, lastSlot * POLLFD, (lastSlot + 1) * POLLFD);
    }
  }

  wait(): Ready[] {
    const count = this.#handlers.length;
    let n: number;
    while ((n = sys.poll(this.#table, BigInt(count), -1)) === -1) {
      const e = lastErrno();
      if (e !== EINTR) throw new SysError("poll", e, `${count} fds`);
    }
    // Copy out the reports before anyone acts on them: a turn may remove (and so move) entries.
    const ready: Ready[] = [];
    for (let slot = 0; slot < count && ready.length < n; slot++) {
      const events = this.#view.getUint16(slot * POLLFD + 6, true);
      if (events !== 0) ready.push({ handler: this.#handlers[slot], events });
    }
    return ready;
  }
}

// ---------------------------------------------------------------------------------------------
// The epoll engine
// ---------------------------------------------------------------------------------------------

/**
 * epoll: the interest list lives in the kernel. `add` is EPOLL_CTL_ADD, `arm` an EPOLL_CTL_MOD
 * only when the interest really changes, `remove` EPOLL_CTL_DEL. Level-triggered (no EPOLLET):
 * an fd is reported for as long as it is ready, so a session that read only part of what waits
 * gets another turn on the next wait, exactly as with poll.
 */
class EpollEngine implements Engine {
  #epfd = epollCreate1(EPOLL_CLOEXEC);
  #byFd = new Map<number, Handler>();

  add(handler: Handler, interest: Interest): void {
    epollCtl(this.#epfd, EPOLL_CTL_ADD, handler.fd, interest);
    this.#byFd.set(handler.fd, handler);
    handler.armed = interest;
  }

  arm(handler: Handler, interest: Interest): void {
    if (handler.armed === interest || this.#byFd.get(handler.fd) !== handler) return;
    epollCtl(this.#epfd, EPOLL_CTL_MOD, handler.fd, interest);
    handler.armed = interest;
  }

  remove(handler: Handler): void {
    if (this.#byFd.get(handler.fd) !== handler) return;
    this.#byFd.delete(handler.fd);
    epollCtl(this.#epfd, EPOLL_CTL_DEL, handler.fd);
  }

  wait(): Ready[] {
    const ready: Ready[] = [];
    for (const { fd, events } of epollWait(this.#epfd, EPOLL_BATCH, -1)) {
      const handler = this.#byFd.get(fd);
      if (handler !== undefined) ready.push({ handler, events });
    }
    return ready;
  }
}

// ---------------------------------------------------------------------------------------------
// Output: a fixed-size ring per session, buffers lent from a pool
// ---------------------------------------------------------------------------------------------

/** Ring buffers of OUTPUT_LIMIT bytes, lent to sessions while they have output queued. */
const pool = {
  free: [] as Uint8Array[],
  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(OUTPUT_LIMIT);
  },
  give(buf: Uint8Array): void {
    if (this.free.length < POOL_KEEP) this.free.push(buf);
  },
};

/**
 * A session's queued replies: a ring of exactly OUTPUT_LIMIT bytes, plus at most one reply (or
 * the tail of one) that did not fit, the spill. `full` is the backpressure signal: it holds
 * exactly when the queued bytes reach OUTPUT_LIMIT.
 */
class OutputRing {
  #buf: Uint8Array | null = null; // null while empty: an idle session holds no buffer
  #head = 0; // where the oldest unsent byte is
  #size = 0; // bytes in the ring
  #spill: Uint8Array | null = null; // what comes after the ring's bytes, not yet copied in

  /** Bytes queued in all. */
  get length(): number {
    return this.#size + (this.#spill?.length ?? 0);
  }

  /** Queued bytes have reached OUTPUT_LIMIT: run no commands and read nothing until it drains. */
  get full(): boolean {
    return this.#size === OUTPUT_LIMIT || this.#spill !== null;
  }

  /** Queues a reply: what fits goes into the ring, the rest (a view, not a copy) into the spill. */
  push(reply: Uint8Array): void {
    if (reply.length === 0) return;
    if (this.#spill !== null) {
      // Callers stop at `full`, so this does not happen; queue it anyway rather than lose it.
      const joined = new Uint8Array(this.#spill.length + reply.length);
      joined.set(this.#spill);
      joined.set(reply, this.#spill.length);
      this.#spill = joined;
      return;
    }
    const copied = this.#fill(reply);
    if (copied < reply.length) this.#spill = reply.subarray(copied);
  }

  /**
   * Writes until nothing is queued (returns true) or the kernel takes no more (EAGAIN: returns
   * false). Any other SysError (EPIPE, ECONNRESET: the client is gone) is thrown.
   */
  writeTo(fd: number): boolean {
    while (this.#size > 0) {
      const buf = this.#buf!;
      const end = Math.min(this.#head + this.#size, OUTPUT_LIMIT); // one contiguous piece
      let n: number;
      try {
        n = write(fd, buf.subarray(this.#head, end));
      } catch (err) {
        if (err instanceof SysError && err.errno === EAGAIN) return false;
        throw err;
      }
      this.#head = (this.#head + n) % OUTPUT_LIMIT;
      this.#size -= n;
      if (this.#spill !== null) this.#refill();
    }
    this.release();
    return true;
  }

  /** Gives the buffer back to the pool and forgets anything queued (empty, or closing). */
  release(): void {
    if (this.#buf !== null) pool.give(this.#buf);
    [this.#buf, this.#head, this.#size, this.#spill] = [null, 0, 0, null];
  }

  /** Copies as much of `bytes` as fits behind the ring's bytes (in up to two pieces). */
  #fill(bytes: Uint8Array): number {
    this.#buf ??= pool.take();
    let copied = 0;
    while (copied < bytes.length && this.#size < OUTPUT_LIMIT) {
      const tail = (this.#head + this.#size) % OUTPUT_LIMIT;
      const room = tail < this.#head
        ? this.#head - tail // wrapped: from the tail up to the head
        : OUTPUT_LIMIT - tail; // from the tail to the end of the buffer
      const take = Math.min(room, bytes.length - copied);
      this.#buf.set(bytes.subarray(copied, copied + take), tail);
      this.#size += take;
      copied += take;
    }
    return copied;
  }

  /** Moves what now fits of the spill into the ring. */
  #refill(): void {
    const spill = this.#spill!;
    const copied = this.#fill(spill);
    this.#spill = copied < spill.length ? spill.subarray(copied) : null;
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/** Where a session is in its life. */
const Phase = {
  /** Reading requests and running them. */
  Open: "open",
  /** The client sent end of file: read no more; run what was read, send it all, then close. */
  PeerDone: "peer-done",
  /** QUIT, or a line too long: run no more; send what is queued, then close. */
  Closing: "closing",
  /** The fd is closed (or about to be): nothing more happens. */
  Closed: "closed",
} as const;
type Phase = typeof Phase[keyof typeof Phase];

const scratch = new Uint8Array(READ_CHUNK); // one read buffer for all: 10,000 clients cost little

/** What a session needs from the server around it. */
interface Host {
  store: Store;
  engine: Engine;
  /** Called once, after the session has left the engine and closed its fd. */
  closed(session: Session): void;
}

/** One client: its buffers, its phase, and one turn of work whenever its fd is ready. */
class Session implements Handler {
  armed: Interest = 0;
  phase: Phase = Phase.Open;
  /** Bytes read that do not yet make a whole command. */
  readonly input = new ByteQueue();
  /** Replies the kernel has not taken yet. */
  readonly output = new OutputRing();
  /** Body bytes of an over-limit SET still to throw away as they arrive. */
  skip = 0;

  constructor(readonly fd: number, readonly host: Host) {}

  /**
   * One turn (README.md §4): read once if open and not throttled, run the complete commands,
   * write; repeat run-and-write while writing freed room for commands the limit held back. Then
   * close, or watch for what comes next.
   */
  ready(events: number): void {
    if (this.phase === Phase.Closed) return;
    try {
      if (
        this.phase === Phase.Open && !this.output.full && (events & (POLLIN | POLLHUP | POLLERR))
      ) {
        this.#readOnce();
      }
      for (;;) {
        const heldBack = this.#runCommands();
        this.output.writeTo(this.fd);
        if (!heldBack || this.output.full) break; // nothing held back, or still no room
      }
    } catch (err) {
      if (!(err instanceof SysError)) throw err; // a bug: let it show
      this.#close(); // ECONNRESET, EPIPE...: the client is gone
      return;
    }
    if (this.phase !== Phase.Open && this.output.length === 0) this.#close();
    else this.host.engine.arm(this, this.interest());
  }

  /**
   * What to wait for next (README.md §5): readable while open and under the limit, writable
   * while anything is queued. A throttled session is watched for POLLOUT only: its requests wait
   * in the kernel, and TCP's flow control slows the client down.
   */
  interest(): Interest {
    let want = 0;
    if (this.phase === Phase.Open && !this.output.full) want |= POLLIN;
    if (this.output.length > 0) want |= POLLOUT;
    return want;
  }

  /** One read, at most READ_CHUNK, into `input`; end of file moves to PeerDone. */
  #readOnce(): void {
    let n: number;
    try {
      n = read(this.fd, scratch);
    } catch (err) {
      if (err instanceof SysError && err.errno === EAGAIN) return; // readiness was only a hint
      throw err;
    }
    if (n === 0) {
      this.phase = Phase.PeerDone;
      return;
    }
    const skipped = Math.min(this.skip, n); // an over-limit SET body is thrown away, not kept
    this.skip -= skipped;
    if (skipped < n) this.input.append(scratch.subarray(skipped, n));
  }

  /**
   * Runs complete commands from the front of `input`, queueing their replies, until only part of
   * a command is left or the output is full. Returns true when it stopped because of the limit
   * with commands possibly still waiting in `input` (they run once writes make room).
   */
  #runCommands(): boolean {
    while (this.phase === Phase.Open || this.phase === Phase.PeerDone) {
      if (this.input.length === 0) return false;
      if (this.output.full) return true;
      const step = takeCommand(this.input.view(), this.host.store);
      if (step === null) return false; // part of a command: keep it for a later turn
      this.input.consume(step.used);
      this.output.push(step.reply);
      if (step.skip > 0) {
        // An over-limit SET: drop the body bytes already here, the rest as they arrive.
        const here = Math.min(step.skip, this.input.length);
        this.input.consume(here);
        this.skip = step.skip - here;
      }
      if (step.close) {
        this.phase = Phase.Closing;
        this.input.consume(this.input.length); // nothing after QUIT is run
      }
    }
    return false;
  }

  #close(): void {
    this.phase = Phase.Closed;
    this.output.release();
    this.host.engine.remove(this);
    close(this.fd);
    this.host.closed(this);
  }
}

// ---------------------------------------------------------------------------------------------
// The listener and the loop
// ---------------------------------------------------------------------------------------------

/** The listening socket's handler: accepts every waiting connection, until EAGAIN. */
class Acceptor implements Handler, Host {
  armed: Interest = 0;
  readonly store = createStore();
  readonly sessions = new Set<Session>();
  /** Out of fds: the listener is not watched until a session closes and frees one. */
  #paused = false;

  constructor(readonly fd: number, readonly engine: Engine) {}

  ready(_events: number): void {
    for (;;) {
      let fd: number;
      try {
        fd = accept(this.fd);
      } catch (err) {
        if (!(err instanceof SysError)) throw err;
        if (err.errno === EAGAIN) return; // no one else is waiting
        if (err.errno === ECONNABORTED) continue; // gone before we got to it
        if ([EMFILE, ENFILE, ENOBUFS, ENOMEM].includes(err.errno)) {
          // Level-triggered: the listener would be reported ready on every wait, a busy loop.
          // Stop watching it until a session closes.
          console.error(`weensydb: ${err.message}; accepting again when a client leaves`);
          this.#paused = true;
          this.engine.arm(this, 0);
          return;
        }
        console.error(`weensydb: ${err.message}`);
        return;
      }
      this.#welcome(fd);
    }
  }

  /** A new connection: non-blocking, no Nagle delay, a Session watched for POLLIN. */
  #welcome(fd: number): void {
    try {
      setNonBlocking(fd);
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      close(fd); // it went wrong before it began: the client is gone
      return;
    }
    const session = new Session(fd, this);
    this.sessions.add(session);
    this.engine.add(session, POLLIN);
  }

  closed(session: Session): void {
    this.sessions.delete(session);
    if (this.#paused) {
      this.#paused = false;
      this.engine.arm(this, POLLIN);
    }
  }
}

/** The event loop: the only call that waits is the engine's. */
function serve(engine: Engine, acceptor: Acceptor): never {
  engine.add(acceptor, POLLIN);
  for (;;) {
    for (const { handler, events } of engine.wait()) handler.ready(events);
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
  const engine = options.engine === "poll" ? new PollEngine() : new EpollEngine();
  console.error(`weensydb: listening on 127.0.0.1:${options.port} (${options.engine})`);
  serve(engine, new Acceptor(listener, engine));
}

if (import.meta.main) main();
