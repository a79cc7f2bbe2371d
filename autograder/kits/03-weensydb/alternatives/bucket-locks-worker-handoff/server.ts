/**
 * 03-weensydb server, main thread: accepts connections and gives each one a Worker (a thread),
 * at most `--max-threads` at a time; the connections over the cap wait in a queue here and
 * get the next Worker that becomes free (README.md §9). The database is a hash table in shared
 * memory that every Worker sees; worker.ts serves one client at a time and does all the locking.
 *
 *     deno run --allow-all server.ts --port 7000 [--max-threads 32]
 *
 * @module
 */
import {
  accept,
  AF_INET,
  bind,
  close,
  EAGAIN,
  listen,
  MutexGroup,
  optionsOrExit,
  setNonBlocking,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  Table,
  waitReadable,
} from "@course/shared";
import type { Job, SessionEnd } from "./worker.ts";

/** Each Worker is a V8 isolate: about 9 MB and 35 ms to start. 32 of them fit anywhere. */
const DEFAULT_MAX_THREADS = 32;

/** socket, setsockopt, bind, listen: a listening socket on 127.0.0.1:port. */
function openListener(port: number): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 1024);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * A first-in, first-out queue of accepted fds waiting for a Worker. Taking from the front is
 * O(1) (an index moves), so 1,000 waiting connections cost nothing to drain.
 */
class FdQueue {
  #items: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(fd: number): void {
    this.#items.push(fd);
  }

  /** The oldest waiting fd, or undefined. */
  shift(): number | undefined {
    if (this.#head === this.#items.length) return undefined;
    const fd = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head); // drop the taken front now and then
      this.#head = 0;
    }
    return fd;
  }
}

/**
 * Hands each connection to a Worker, at most `maxThreads` Workers at once (README.md §9).
 *
 * A connection that arrives while all places are taken waits in `waiting` (not refused). A place
 * is handed on in one of two ways:
 * - a Worker whose client has left says "done" (its fd is closed, it holds no lock): if someone
 *   is waiting, the same Worker is given the next fd at once (no 35 ms isolate start, no moment
 *   with one thread too many); otherwise it is told to end (null) and its place is free.
 * - a Worker that failed (it says "failed" and ends itself, or its isolate died: `onerror`)
 *   frees its place, and a new Worker is started for the next waiting fd.
 *
 * So a place is free exactly when its Worker is let go, however the session ended, and every
 * Worker alive (but for ones told to end a moment ago) is serving one open connection.
 *
 * Only the main thread touches `running` and `waiting` (Workers only send messages, handled on
 * this thread's event loop), so they need no lock.
 */
function connectionPool(maxThreads: number, shared: Omit<Job, "fd">): (fd: number) => void {
  let running = 0; // Workers started and not yet let go, 0..maxThreads
  const waiting = new FdQueue(); // non-empty only while running === maxThreads

  const serve = (worker: Worker, fd: number) => worker.postMessage({ ...shared, fd } satisfies Job);

  /** A place has been freed: the oldest waiting connection (if any) gets a new Worker. */
  const placeFreed = () => {
    running--;
    const next = waiting.shift();
    if (next !== undefined) start(next);
  };

  const start = (fd: number) => {
    running++;
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    let gone = false; // let go: its place has been freed (once)
    const letGo = () => {
      if (gone) return;
      gone = true;
      placeFreed();
    };
    worker.onmessage = (e: MessageEvent<SessionEnd>) => {
      if (gone) return;
      if (e.data === "done") {
        const next = waiting.shift();
        if (next !== undefined) return serve(worker, next); // the place passes straight on
        worker.postMessage(null); // nobody waits: the Worker ends itself
      } // "failed": the Worker has already ended itself
      letGo();
    };
    worker.onerror = (e) => {
      e.preventDefault(); // one connection's crash must not end the server
      console.error(`weensydb: a Worker failed: ${e.message}`);
      worker.terminate();
      letGo();
    };
    serve(worker, fd);
  };

  return (fd) => (running < maxThreads ? start(fd) : waiting.push(fd));
}

/** Accepts forever. The event loop stays free while waiting, so Workers' messages arrive. */
async function serve(listener: number, handOff: (fd: number) => void): Promise<never> {
  setNonBlocking(listener);
  while (true) {
    await waitReadable(listener, -1);
    try {
      handOff(accept(listener));
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      if (err.errno !== EAGAIN) console.error(`weensydb: accept: ${err.message}`);
    }
  }
}

async function main(): Promise<void> {
  const options = optionsOrExit("weensydb", "server.ts --port P [--max-threads N]", Deno.args, {
    port: { kind: "port", required: true },
    "max-threads": { kind: "int", min: 1, default: DEFAULT_MAX_THREADS },
  });
  let listener: number;
  try {
    listener = openListener(options.port);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`weensydb: cannot listen on port ${options.port}: ${err.message}`);
    Deno.exit(1);
  }
  const table = Table.create();
  // One mutex per bucket: lock b guards bucket b of the table (see worker.ts).
  const locks = MutexGroup.create(table.buckets, { label: "bucket" });
  const handOff = connectionPool(options["max-threads"], {
    table: table.buffers,
    locks: locks.buffer,
  });
  console.error(`weensydb: listening on 127.0.0.1:${options.port}`);
  await serve(listener, handOff);
}

if (import.meta.main) await main();
