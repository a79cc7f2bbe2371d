/**
 * 02-forking server, acceptor-thread design: a static file server with a process per
 * connection.
 *
 * The main thread never calls accept. A helper thread (a Worker running this same module)
 * does a plain blocking accept, one connection each time the main thread asks for one, and
 * posts the fd back. The main thread is event-driven: a new connection starts a child, a
 * child's exit asks for the next connection. Its event loop never blocks, so children are
 * reaped as they exit. With --prefork N it runs a pool of N long-lived workers (worker.ts)
 * instead, which accept on the inherited listening socket themselves.
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
  listen,
  setNonBlocking,
  setsockopt,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
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

/** The name of the acceptor thread; the same module runs there, and must know where it is. */
const ACCEPTOR = "acceptor";

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
  // Every fd without close-on-exec is inherited by every child. A per-connection child has
  // no business holding the listening socket: it would keep the port open after we exit. So
  // create it close-on-exec from the start (no window where a spawn could inherit it).
  const fd = socket(AF_INET, inheritable ? SOCK_STREAM : SOCK_STREAM | SOCK_CLOEXEC);
  try {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host: "127.0.0.1", port });
    listen(fd, 128);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** Starts `deno run <script> ...args`; calls `onExit` once it has been reaped. */
function spawn(script: string, args: string[], onExit: (s: Deno.CommandStatus) => void): void {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-lock", script, ...args],
    stdin: "null",
  }).spawn();
  children.add(child);
  // A child that crashed or was killed is news, not an error: log it and go on. A throw
  // here would be an unhandled rejection, which ends the parent and every later client (§7).
  child.status.then((status) => {
    children.delete(child);
    if (!status.success && !stopping) {
      console.error(`server: ${script} ${child.pid} failed (${status.signal ?? status.code})`);
    }
    onExit(status);
  }).catch((err) => console.error(`server: ${(err as Error).message}`));
}

/**
 * Process per connection, event-driven. At most one request is out to the acceptor thread,
 * and the next one is made only after the child for the last connection has been started.
 * So accept and spawn never run at the same time: a child started while the thread accepts
 * could otherwise inherit another client's fd (it has no close-on-exec either).
 */
function serveForking(listener: number, options: Options): void {
  const acceptor = new Worker(import.meta.url, { type: "module", name: ACCEPTOR });
  let asked = false;

  // Ask for the next connection, unless one is asked for already or we are at the limit
  // (§8): then the clients wait in the listen backlog until a child's exit asks again.
  const askForOne = () => {
    if (stopping || asked || children.size >= options.maxChildren) return;
    asked = true;
    acceptor.postMessage(listener);
  };

  acceptor.onmessage = (event: MessageEvent<number | string>) => {
    asked = false;
    const fd = event.data;
    if (typeof fd === "string") {
      console.error(`server: accept failed: ${fd}`);
      setTimeout(askForOne, 100); // e.g. EMFILE: let some children finish first
      return;
    }
    try {
      if (!stopping) spawn(CHILD, ["--fd", String(fd), "--root", options.root], askForOne);
    } catch (err) {
      console.error(`server: cannot start a child: ${(err as Error).message}`);
    } finally {
      // The child has its own copy now. Ours would keep the connection open after the child
      // is done, and our fd table would grow by one per client (§5).
      close(fd);
    }
    askForOne();
  };
  acceptor.onerror = (event) => {
    console.error(`server: acceptor thread died: ${event.message}`);
    Deno.exit(1);
  };
  askForOne();
}

/**
 * The acceptor thread: each message from the main thread asks for one connection. It blocks
 * in accept, which freezes only this thread; the main thread's event loop goes on reaping.
 */
function acceptorThread(): void {
  // This module is type-checked as a main program; in the thread, `self` is a worker scope.
  const scope = self as unknown as {
    onmessage: (event: MessageEvent<number>) => void;
    postMessage: (data: number | string) => void;
  };
  scope.onmessage = (event: MessageEvent<number>) => {
    for (;;) {
      try {
        scope.postMessage(accept(event.data));
        return;
      } catch (err) {
        if (!(err instanceof SysError)) throw err;
        if (err.code === "ECONNABORTED") continue; // the client left before we took it
        scope.postMessage(err.message);
        return;
      }
    }
  };
}

/** Restarts in the last second; more than the pool's size means workers keep dying. */
const restarts: number[] = [];

/** Starts one pool worker, and replaces it when it exits, unless we are stopping. */
function startWorker(listener: number, options: Options): void {
  if (stopping) return; // a restart timer that fired after SIGTERM
  const args = ["--listen-fd", String(listener), "--root", options.root];
  args.push("--requests", String(options.requests));
  const replace = () => {
    if (stopping) return;
    const now = Date.now();
    while (restarts.length > 0 && restarts[0] < now - 1000) restarts.shift();
    restarts.push(now);
    // Retiring workers come back at once; a broken worker that dies as soon as it starts
    // must not be restarted in a tight loop, so over budget we wait a second.
    const wait = restarts.length > 2 * options.prefork ? 1000 : 0;
    setTimeout(() => startWorker(listener, options), wait);
  };
  try {
    spawn(WORKER, args, replace);
  } catch (err) {
    console.error(`server: cannot start a worker: ${(err as Error).message}`);
    setTimeout(replace, 1000);
  }
}

/** Pre-forked pool: N workers accept themselves; each one that retires is replaced. */
function runPool(listener: number, options: Options): void {
  // The workers wait with poll and then accept; on a non-blocking listener the ones that
  // lose the race get EAGAIN instead of hanging in accept (worker.ts).
  setNonBlocking(listener);
  for (let i = 0; i < options.prefork; i++) startWorker(listener, options);
}

/** SIGTERM: stop the children (SIGTERM, then SIGKILL after 2 s), reap them, then exit. */
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const all = [...children];
  for (const child of all) kill(child, "SIGTERM");
  const force = setTimeout(() => all.forEach((child) => kill(child, "SIGKILL")), 2000);
  // Awaiting every status means each one was reaped: no zombie outlives us.
  await Promise.allSettled(all.map((child) => child.status));
  clearTimeout(force);
  Deno.exit(0);
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // gone already: its status resolves anyway
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

if (import.meta.main) {
  if ((globalThis as { name?: string }).name === ACCEPTOR) acceptorThread();
  else main();
}
