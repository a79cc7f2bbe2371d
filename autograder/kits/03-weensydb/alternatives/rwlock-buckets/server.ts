/**
 * 03-weensydb starter server, main thread: accepts connections and gives each one its own
 * Worker (a thread). A cap of `--max-threads` at a time is yours to add (README.md §9). The
 * database is a hash table in shared memory that every Worker sees; worker.ts serves one client
 * and does all the locking.
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
import { parseArgs } from "node:util";
import type { Job } from "./worker.ts";

/** Each Worker is a V8 isolate: about 9 MB and 35 ms to start. 32 of them fit anywhere. */
const DEFAULT_MAX_THREADS = 32;

interface Options {
  port: number;
  maxThreads: number;
}

/** Reads `--port P [--max-threads N]`; returns an error line instead of throwing. */
function parseOptions(args: string[]): Options | string {
  try {
    const { values } = parseArgs({
      args,
      options: { port: { type: "string" }, "max-threads": { type: "string" } },
    });
    const port = Number(values.port);
    const maxThreads = Number(values["max-threads"] ?? DEFAULT_MAX_THREADS);
    if (values.port === undefined) return "missing --port";
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `bad --port ${values.port}: expected a number from 1 to 65535`;
    }
    if (!Number.isInteger(maxThreads) || maxThreads < 1) {
      return `bad --max-threads ${values["max-threads"]}: expected a positive number`;
    }
    return { port, maxThreads };
  } catch (err) {
    return (err as Error).message;
  }
}

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
 * Hands each connection to a new Worker, at most `maxThreads` at once. Connections over the cap
 * wait in `waiting` (oldest first) and get the next Worker slot that frees up. Only the main
 * thread touches `running` and `waiting`, so they need no lock.
 */
function connectionPool(maxThreads: number, shared: Omit<Job, "fd">): (fd: number) => void {
  let running = 0;
  const waiting: number[] = [];
  const start = (fd: number) => {
    running++;
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    let done = false;
    const finished = () => {
      if (done) return; // "done" and an error may both arrive: free the slot once
      done = true;
      running--;
      const next = waiting.shift();
      if (next !== undefined) start(next);
    };
    worker.onmessage = finished; // the Worker says "done", then closes itself
    worker.onerror = (e) => {
      e.preventDefault(); // one connection's crash must not end the server
      console.error(`weensydb: the Worker for fd ${fd} failed: ${e.message}`);
      finished();
    };
    worker.postMessage({ ...shared, fd } satisfies Job);
  };
  return (fd) => {
    if (running < maxThreads) start(fd);
    else waiting.push(fd); // not refused: it waits its turn
  };
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
  const options = parseOptions(Deno.args);
  if (typeof options === "string") {
    console.error(`weensydb: ${options} (usage: server.ts --port P [--max-threads N])`);
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
  const table = Table.create();
  // One mutex per bucket: lock b guards bucket b of the table (see worker.ts).
  const locks = MutexGroup.create(table.buckets, { label: "bucket" });
  // With it, a count of readers per bucket: together they make one reader-writer lock per
  // bucket (see worker.ts).
  const readers = new SharedArrayBuffer(table.buckets * 4);
  const handOff = connectionPool(options.maxThreads, {
    table: table.buffers,
    locks: locks.buffer,
    readers,
  });
  console.error(`weensydb: listening on 127.0.0.1:${options.port}`);
  await serve(listener, handOff);
}

if (import.meta.main) await main();
