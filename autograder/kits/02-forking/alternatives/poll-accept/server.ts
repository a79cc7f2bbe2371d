/**
 * 02-forking server: a static file server with a process per connection.
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
import { parseArgs } from "node:util";

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

/** The running children. Only the main thread touches it (JavaScript has no other). */
const children = new Set<Deno.ChildProcess>();
let stopping = false; // set by shutdown(), read by runPool's replacements

const USAGE = "server.ts --port P --root DIR [--max-children N] [--prefork N [--requests M]]";

/** Reads the command line; returns an error line instead of throwing. */
function parseOptions(args: string[]): Options | string {
  const spec = { type: "string" } as const;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { port: spec, root: spec, "max-children": spec, prefork: spec, requests: spec },
    }));
  } catch (err) {
    return (err as Error).message.split("\n")[0]; // parseArgs may explain over several lines
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `bad --port ${values.port}`;
  if (values.root === undefined) return "missing --root";
  const counts = {
    maxChildren: Number(values["max-children"] ?? 64),
    prefork: Number(values.prefork ?? 0),
    requests: Number(values.requests ?? 100),
  };
  for (const [name, n] of Object.entries(counts)) {
    const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (!Number.isInteger(n) || n < (name === "prefork" ? 0 : 1)) return `bad --${flag}`;
  }
  return { port, root: values.root, ...counts };
}

/** socket, SO_REUSEADDR, bind, listen; `inheritable` leaves close-on-exec off for the pool. */
function openListener(port: number, inheritable: boolean): number {
  const fd = socket(AF_INET, SOCK_STREAM);
  try {
    // Every fd without close-on-exec is inherited by every child. A per-connection child has
    // no business holding the listening socket: it would keep the port open after we exit.
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

/** Starts `deno run <script> ...args`; the child shares our stdout and stderr. */
function spawn(script: string, args: string[]): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-lock", script, ...args],
    stdin: "null",
  }).spawn();
  children.add(child);
  // The runtime reaps the child (waitpid) and resolves status. A child that crashed or was
  // killed is news, not an error: a throw here would be an unhandled rejection and end us (§7).
  child.status.then((status) => {
    children.delete(child);
    if (!status.success && !stopping) {
      console.error(`server: child ${child.pid} failed (${status.signal ?? status.code})`);
    }
  }, () => children.delete(child));
  return child;
}

/** Accepts one waiting connection, or returns null when there was none after all. */
function tryAccept(listener: number): number | null {
  try {
    return accept(listener);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    if (err.code !== "EAGAIN") console.error(`server: accept failed: ${err.message}`);
    return null;
  }
}

/** Resolves when any running child has exited. */
function anyExit(): Promise<unknown> {
  return Promise.race([...children].map((c) => c.status));
}

/** Process per connection: accept, hand the fd to a new child, close our copy, repeat. */
async function serveForking(listener: number, options: Options): Promise<void> {
  // Non-blocking, so a connection that vanishes between poll and accept gives EAGAIN
  // instead of freezing the event loop (and with it all reaping) in accept.
  setNonBlocking(listener);
  while (!stopping) {
    if (children.size >= options.maxChildren) {
      await anyExit(); // back-pressure: new clients wait in the listen backlog meanwhile
      continue;
    }
    // The poll runs on a helper thread: exited children are reaped while we wait here.
    if (!(await waitReadable(listener, 1000)) || stopping) continue;
    const fd = tryAccept(listener);
    if (fd === null) continue;
    try {
      spawn(CHILD, ["--fd", String(fd), "--root", options.root]);
    } catch (err) {
      console.error(`server: cannot start a child: ${(err as Error).message}`);
    } finally {
      // The child has its own copy now. Ours would keep the connection open after the child
      // is done, and our fd table would grow by one per client.
      close(fd);
    }
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** One place in the pool: keeps a worker running in it until we stop. */
async function runSlot(listener: number, options: Options): Promise<void> {
  const args = ["--listen-fd", String(listener), "--root", options.root];
  args.push("--requests", String(options.requests));
  let pause = 100;
  while (!stopping) {
    let status: Deno.CommandStatus;
    try {
      status = await spawn(WORKER, args).status;
    } catch (err) {
      console.error(`server: cannot start a worker: ${(err as Error).message}`);
      status = { success: false, code: 1, signal: null };
    }
    if (status.success) {
      pause = 100; // retired after --requests connections: replace it at once
    } else if (!stopping) {
      // A worker that fails may fail again straight away: wait longer each time rather
      // than restart a broken worker in a tight loop.
      await sleep(pause);
      pause = Math.min(pause * 2, 5000);
    }
  }
}

/** Pre-forked pool: N workers accept themselves; each one that retires is replaced. */
function runPool(listener: number, options: Options): void {
  for (let i = 0; i < options.prefork; i++) void runSlot(listener, options);
}

/** SIGTERM: stop the children (SIGTERM, then SIGKILL after 2 s), reap them, then exit. */
async function shutdown(): Promise<void> {
  if (stopping) return; // a second SIGTERM: the first one is already at work
  stopping = true;
  signalAll("SIGTERM");
  const force = setTimeout(() => signalAll("SIGKILL"), 2000);
  // Await every status, so that none is left a zombie; loop in case one started meanwhile.
  while (children.size > 0) await Promise.all([...children].map((c) => c.status));
  clearTimeout(force);
  Deno.exit(0);
}

function signalAll(signal: Deno.Signal): void {
  for (const child of children) {
    try {
      child.kill(signal);
    } catch {
      // it exited already, and is about to be reaped
    }
  }
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
    listener = openListener(options.port, options.prefork > 0);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`server: cannot listen on port ${options.port}: ${err.message}`);
    Deno.exit(1);
  }
  Deno.addSignalListener("SIGTERM", () => void shutdown());
  const model = options.prefork > 0 ? `a pool of ${options.prefork}` : "a process per connection";
  console.error(`server: listening on 127.0.0.1:${options.port}, ${model}`);
  if (options.prefork > 0) runPool(listener, options);
  else serveForking(listener, options);
}

if (import.meta.main) main();
