/**
 * 02-forking reference server: a static file server with a process per connection.
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

/** The running children. Only the main thread touches it (JavaScript has no other). */
const children = new Set<Deno.ChildProcess>();
let stopping = false;

const USAGE = "server.ts --port P --root DIR [--max-children N] [--prefork N [--requests M]]";

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
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  children.add(child);
  // Awaiting the status is what reaps the child (waitpid): until then an exited child is a
  // zombie. It resolves only while the event loop runs, so the loop must never block for long.
  child.status.then(() => children.delete(child));
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

/** Process per connection: accept, hand the fd to a new child, close our copy, repeat. */
async function serveForking(listener: number, options: Options): Promise<void> {
  // Non-blocking, so that a connection gone between poll and accept gives EAGAIN, not a hang.
  setNonBlocking(listener);
  while (!stopping) {
    if (children.size >= options.maxChildren) {
      // Backpressure: stop accepting; new connections wait in the kernel's backlog.
      await Promise.race([...children].map((c) => c.status));
      continue;
    }
    // Wait off the main thread: a blocking accept() here would freeze the event loop, and
    // with it the reaping of every child that exits meanwhile.
    if (!(await waitReadable(listener, 1000)) || stopping) continue;
    const fd = tryAccept(listener);
    if (fd === null) continue;
    try {
      spawn(CHILD, ["--fd", String(fd), "--root", options.root]);
    } catch (err) {
      console.error(`server: cannot start a child: ${(err as Error).message}`);
    } finally {
      close(fd); // the child has its own copy; ours would keep the connection open forever
    }
  }
}

/** Pre-forked pool: N workers accept themselves; each one that retires is replaced. */
function runPool(listener: number, options: Options): void {
  const args = ["--listen-fd", String(listener), "--root", options.root];
  const start = () => {
    const born = Date.now();
    const worker = spawn(WORKER, [...args, "--requests", String(options.requests)]);
    worker.status.then((status) => {
      if (stopping) return;
      // A worker that dies at once would be restarted in a tight loop: slow down instead.
      const failedFast = !status.success && Date.now() - born < 1000;
      setTimeout(start, failedFast ? 1000 : 0);
    });
  };
  for (let i = 0; i < options.prefork; i++) start();
}

/** SIGTERM: stop the children (SIGTERM, then SIGKILL after 2 s), reap them, then exit. */
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const all = [...children];
  for (const c of all) c.kill("SIGTERM");
  const timer = setTimeout(() => all.forEach((c) => c.kill("SIGKILL")), 2000);
  await Promise.allSettled(all.map((c) => c.status));
  clearTimeout(timer);
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
