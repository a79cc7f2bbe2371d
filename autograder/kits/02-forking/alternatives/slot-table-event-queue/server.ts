/**
 * 02-forking server: a static file server with a process per connection, or a pre-forked pool.
 *
 * The parent only accepts: for each connection it starts a child process (child.ts) that
 * inherits the connected socket and serves it, then closes its own copy and goes back to
 * accept. Every child that exits is reaped, at most --max-children run at once, and SIGTERM
 * ends the children with the parent. With --prefork N it runs a pool of N long-lived workers
 * (worker.ts) instead, which accept on the inherited listening socket themselves.
 *
 *     deno run --allow-all server.ts --port 8080 --root ./www [--max-children 64]
 *     deno run --allow-all server.ts --port 8080 --root ./www --prefork 4 [--requests 100]
 *
 * Design. The parent is one loop over one queue of events. Nothing else changes state: the
 * listener's readiness, a child's exit, SIGTERM, and timers are all turned into events and
 * pushed onto the queue by tiny callbacks that do nothing but push. The loop takes them one
 * at a time and updates a fixed-size table of slots, one slot per child that may run:
 *
 * - a process per connection: `--max-children` slots. A free slot is what allows an accept;
 *   the listener is watched only while one is free, so back-pressure is simply "no free slot,
 *   no watch" (§8). A slot is freed by its child's exit event, however the child ended.
 * - a pool: `--prefork` slots, each always holding a worker or waiting to restart one. A slot
 *   whose workers keep failing soon after starting restarts with an exponential back-off (§10).
 *
 * Because every exit is awaited through `status` while the loop itself only ever awaits the
 * queue (never a blocking call), the runtime reaps each child as soon as it exits (§6).
 *
 * @module
 */
import {
  accept,
  AF_INET,
  bind,
  close,
  F_SETFD,
  fcntl,
  FD_CLOEXEC,
  listen,
  readOptions,
  setNonBlocking,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  waitReadable,
} from "@course/shared";
import { fileURLToPath } from "node:url";

/** The command line, checked. */
interface Options {
  port: number;
  root: string;
  maxChildren: number;
  /** Workers in the pool, or 0 for a process per connection. */
  prefork: number;
  /** Connections a pool worker serves before it retires. */
  requests: number;
}

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

const USAGE = "server.ts --port P --root DIR [--max-children N] [--prefork N [--requests M]]";

/** How long the loop waits for the listener before it looks again (ms). */
const WATCH_MS = 1000;
/** After SIGTERM, how long children get to exit before they are sent SIGKILL (ms). */
const KILL_GRACE_MS = 2000;
/** A pool worker that fails sooner than this after its start counts as a quick failure. */
const QUICK_FAILURE_MS = 2000;
/** Back-off after the first quick failure of a slot; doubled for each further one. */
const BACKOFF_FIRST_MS = 250;
/** The longest a slot ever waits before it restarts its worker. */
const BACKOFF_MAX_MS = 8000;

// ---------------------------------------------------------------------------------------------
// Events and the queue that carries them to the loop

/** Everything the loop reacts to. */
type Event =
  | { kind: "readable" } // the listener has a connection waiting (or an error pending)
  | { kind: "idle" } // the watch on the listener timed out: look again
  | { kind: "exit"; slot: number; pid: number; status: Deno.CommandStatus | null }
  | { kind: "restart"; slot: number } // a pool slot's back-off has run out
  | { kind: "sigterm" }
  | { kind: "grace-over" }; // KILL_GRACE_MS after SIGTERM: kill what still runs

/**
 * A first-in first-out queue of events with one consumer. `push` never blocks and never
 * throws, so it is safe in any callback; `next` resolves with the oldest event.
 */
class EventQueue {
  #items: Event[] = [];
  #waiting: ((event: Event) => void) | null = null;

  push(event: Event): void {
    const wake = this.#waiting;
    if (wake !== null) {
      this.#waiting = null;
      wake(event);
    } else {
      this.#items.push(event);
    }
  }

  next(): Promise<Event> {
    const event = this.#items.shift();
    if (event !== undefined) return Promise.resolve(event);
    return new Promise((resolve) => this.#waiting = resolve);
  }
}

// ---------------------------------------------------------------------------------------------
// The slot table

/** One place for a child. The table never grows: its length is the most children we allow. */
type Slot =
  | { state: "free" }
  | { state: "running"; child: Deno.ChildProcess; startedAt: number }
  | { state: "backoff"; timer: ReturnType<typeof setTimeout> }; // pool only: a worker will be started when it fires

/** The parent's whole state. Only the loop touches it. */
interface Parent {
  options: Options;
  listener: number;
  queue: EventQueue;
  slots: Slot[];
  /** Pool only: quick failures in a row of each slot's workers, for the back-off. */
  failures: number[];
  /** True while a waitReadable on the listener is outstanding (at most one at a time). */
  watching: boolean;
  /** Set by SIGTERM: accept nothing more, start nothing more. */
  stopping: boolean;
}

function freeSlot(parent: Parent): number {
  return parent.slots.findIndex((s) => s.state === "free");
}

function running(parent: Parent): number {
  return parent.slots.filter((s) => s.state === "running").length;
}

// ---------------------------------------------------------------------------------------------
// Starting children

/** Reads the command line; returns an error line instead of throwing. */
function parseOptions(args: string[]): Options | string {
  const o = readOptions(args, {
    port: { kind: "port", required: true },
    root: { kind: "string", required: true },
    "max-children": { kind: "int", min: 1, default: 64 },
    prefork: { kind: "int", min: 0, default: 0 },
    requests: { kind: "int", min: 1, default: 100 },
  });
  if (typeof o === "string") return o;
  const { port, root, prefork, requests } = o;
  return { port, root, maxChildren: o["max-children"], prefork, requests };
}

/** socket, SO_REUSEADDR, bind, listen; `inheritable` leaves close-on-exec off for the pool. */
function openListener(port: number, inheritable: boolean): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    // Every fd without close-on-exec is inherited by every child. A per-connection child has
    // no business holding the listening socket: it would keep the port open after we exit
    // (§5). Set it before anything could be spawned. Only the pool's workers need it.
    if (!inheritable) fcntl(fd, F_SETFD, FD_CLOEXEC);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 128);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * Starts `deno run <script> ...args` into slot `slot` and arranges for its exit to arrive as
 * an event. The child shares our stdout and stderr and inherits every fd of ours that lacks
 * close-on-exec. Returns false (and logs) if the process could not be started.
 */
function startChild(parent: Parent, slot: number, script: string, args: string[]): boolean {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-lock", script, ...args],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (err) {
    // EAGAIN (too many processes), ENOMEM, EMFILE: news, not a reason for the parent to die.
    console.error(`server: cannot start ${script}: ${(err as Error).message}`);
    return false;
  }
  parent.slots[slot] = { state: "running", child, startedAt: Date.now() };
  const pid = child.pid;
  // The only callback on a child: turn its exit into an event. A failed child (crash,
  // SIGKILL) resolves like any other; it is never thrown (§7).
  child.status.then(
    (status) => parent.queue.push({ kind: "exit", slot, pid, status }),
    () => parent.queue.push({ kind: "exit", slot, pid, status: null }),
  );
  return true;
}

// ---------------------------------------------------------------------------------------------
// A process per connection

/**
 * Watches the listener, unless a watch is already out, we are stopping, or every slot is
 * taken. This one condition is the back-pressure of §8: with no free slot nobody accepts, and
 * new clients wait in the kernel's listen backlog.
 */
function watchListener(parent: Parent): void {
  if (parent.watching || parent.stopping || parent.options.prefork > 0) return;
  if (freeSlot(parent) === -1) return;
  parent.watching = true;
  // poll runs on a helper thread; the event loop (and the reaping of children) keeps going.
  waitReadable(parent.listener, WATCH_MS).then(
    (ready) => parent.queue.push({ kind: ready ? "readable" : "idle" }),
    () => parent.queue.push({ kind: "idle" }),
  );
}

/**
 * Accepts connections while there are some waiting and a slot is free; each goes to a new
 * child. Exactly one accepted connection is open in the parent at any time, and it is closed
 * right after its child started: so no child inherits another child's connection, and the
 * parent's fd count does not grow (§5).
 */
function acceptIntoSlots(parent: Parent): void {
  for (let slot = freeSlot(parent); slot !== -1 && !parent.stopping; slot = freeSlot(parent)) {
    let fd: number;
    try {
      fd = accept(parent.listener); // non-blocking: EAGAIN when the queue is empty
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      if (err.code !== "EAGAIN") console.error(`server: accept failed: ${err.message}`);
      return;
    }
    try {
      startChild(parent, slot, CHILD, ["--fd", String(fd), "--root", parent.options.root]);
      // If the child did not start, closing is all we can do: the client sees end of file.
    } finally {
      close(fd); // the child holds its own copy now (§5)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The pre-forked pool

/** Starts a worker in `slot`; if it cannot even be started, back off as after a failure. */
function startWorker(parent: Parent, slot: number): void {
  const { listener, options } = parent;
  const args = [
    "--listen-fd",
    String(listener),
    "--root",
    options.root,
    "--requests",
    String(options.requests),
  ];
  if (!startChild(parent, slot, WORKER, args)) scheduleRestart(parent, slot, true);
}

/**
 * The pool's restart policy for `slot`, whose worker has just gone. A worker that retired
 * normally (exit 0 after its M connections), or that failed after a healthy while, is
 * replaced at once. One that failed within QUICK_FAILURE_MS of its start is probably broken
 * (bad root, unusable listener, a crash on start): each such failure in a row doubles the wait
 * before the next start, from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS, so a broken worker is
 * not restarted in a tight loop. The back-off is per slot: one bad slot does not slow others.
 */
function scheduleRestart(parent: Parent, slot: number, quickFailure: boolean): void {
  parent.failures[slot] = quickFailure ? parent.failures[slot] + 1 : 0;
  const k = parent.failures[slot];
  if (k === 0) {
    startWorker(parent, slot);
    return;
  }
  const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (k - 1), BACKOFF_MAX_MS);
  console.error(`server: pool slot ${slot} failed ${k} time(s) in a row; restart in ${delay} ms`);
  const timer = setTimeout(() => parent.queue.push({ kind: "restart", slot }), delay);
  parent.slots[slot] = { state: "backoff", timer };
}

// ---------------------------------------------------------------------------------------------
// Shutting down

/** SIGTERM: stop accepting, stop restarting, SIGTERM every child, SIGKILL stragglers later. */
function beginShutdown(parent: Parent): void {
  if (parent.stopping) return; // a second SIGTERM changes nothing
  parent.stopping = true;
  console.error(`server: SIGTERM, stopping ${running(parent)} children`);
  try {
    close(parent.listener); // the port closes now (in the pool, once the workers are gone too)
  } catch {
    // already closed: nothing to do
  }
  parent.slots.forEach((s, i) => {
    if (s.state === "backoff") {
      clearTimeout(s.timer);
      parent.slots[i] = { state: "free" };
    } else if (s.state === "running") {
      signal(s.child, "SIGTERM");
    }
  });
  setTimeout(() => parent.queue.push({ kind: "grace-over" }), KILL_GRACE_MS);
}

/** Sends `sig` to a child that may have exited meanwhile (then there is nothing to do). */
function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // it exited already; its exit event is on its way
  }
}

// ---------------------------------------------------------------------------------------------
// The loop

/** Handles one event; returns false when the parent is done (stopping and no child left). */
function handle(parent: Parent, event: Event): boolean {
  switch (event.kind) {
    case "readable":
      parent.watching = false;
      if (!parent.stopping) acceptIntoSlots(parent);
      break;
    case "idle":
      parent.watching = false;
      break;
    case "exit": {
      const s = parent.slots[event.slot];
      // The child has been reaped (its status resolved): its place is free, however it ended.
      if (s.state !== "running" || s.child.pid !== event.pid) break; // cannot happen; be safe
      parent.slots[event.slot] = { state: "free" };
      const st = event.status;
      if (st === null || !st.success) {
        const how = st === null ? "lost" : st.signal ? `killed by ${st.signal}` : `exit ${st.code}`;
        console.error(`server: child ${event.pid} ended badly (${how})`); // news, not an error
      }
      if (parent.options.prefork > 0 && !parent.stopping) {
        const quick = Date.now() - s.startedAt < QUICK_FAILURE_MS;
        scheduleRestart(parent, event.slot, (st === null || !st.success) && quick);
      }
      break;
    }
    case "restart":
      if (parent.slots[event.slot].state === "backoff" && !parent.stopping) {
        parent.slots[event.slot] = { state: "free" };
        startWorker(parent, event.slot);
      }
      break;
    case "sigterm":
      beginShutdown(parent);
      break;
    case "grace-over":
      for (const s of parent.slots) if (s.state === "running") signal(s.child, "SIGKILL");
      break;
  }
  if (parent.stopping) return running(parent) > 0; // wait until every child is reaped
  watchListener(parent); // re-arm the watch if a slot is free and none is out
  return true;
}

async function run(parent: Parent): Promise<void> {
  if (parent.options.prefork > 0) {
    for (let i = 0; i < parent.slots.length; i++) startWorker(parent, i);
  } else {
    // A connection may vanish between poll and accept: then accept says EAGAIN, not a hang.
    setNonBlocking(parent.listener, true);
    watchListener(parent);
  }
  while (handle(parent, await parent.queue.next()));
  console.error("server: every child reaped, exiting");
  Deno.exit(0);
}

function main(): void {
  const options = parseOptions(Deno.args);
  if (typeof options === "string") {
    console.error(`server: ${options} (usage: ${USAGE})`);
    Deno.exit(2);
  }
  try {
    options.root = Deno.realPathSync(options.root);
    if (!Deno.statSync(options.root).isDirectory) throw new Error("not a directory");
  } catch (err) {
    console.error(`server: bad --root ${options.root}: ${(err as Error).message}`);
    Deno.exit(2);
  }
  let listener: number;
  try {
    // In the pool, the workers share the listener: close-on-exec stays off, and the listener
    // stays blocking (O_NONBLOCK belongs to the shared open file, so the workers would see it).
    listener = openListener(options.port, options.prefork > 0);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`server: cannot listen on port ${options.port}: ${err.message}`);
    Deno.exit(1);
  }
  const size = options.prefork > 0 ? options.prefork : options.maxChildren;
  const parent: Parent = {
    options,
    listener,
    queue: new EventQueue(),
    slots: Array.from({ length: size }, (): Slot => ({ state: "free" })),
    failures: new Array(size).fill(0),
    watching: false,
    stopping: false,
  };
  Deno.addSignalListener("SIGTERM", () => parent.queue.push({ kind: "sigterm" }));
  const model = options.prefork > 0 ? `a pool of ${options.prefork}` : "a process per connection";
  console.error(`server: listening on 127.0.0.1:${options.port}, ${model}`);
  run(parent);
}

if (import.meta.main) main();
