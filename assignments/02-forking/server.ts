/**
 * 02-forking starter server: a static file server with a process per connection.
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
  listen,
  readOptions,
  setsockopt,
  SO_REUSEADDR,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SysError,
  todo,
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
let stopping = false; // set by shutdown(), read by runPool's replacements

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
    if (!inheritable) todo("close-on-exec on the listener: README.md §5");
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
  // new Deno.Command(Deno.execPath(), { args: ["run", "--allow-all", "--no-lock", script,
  // ...args] }).spawn(); add it to `children`; delete it when its status resolves (§6).
  return todo(`spawn ${script} ${args.join(" ")}: README.md §4 and §6`);
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
  while (!stopping) {
    // §8: with options.maxChildren children running, wait for one to exit before accepting.
    // §6: this accept blocks the whole JavaScript thread, so no exited child is ever reaped
    // while it waits: wait for the listener with waitReadable first (and make it non-blocking).
    const fd = tryAccept(listener);
    if (fd === null) continue;
    // §4, §5: start a child on fd (spawn CHILD with --fd and --root), then close your copy.
    spawn(CHILD, ["--fd", String(fd), "--root", options.root]);
    await Promise.resolve();
    todo(`close the parent's copy of fd ${fd} (max ${options.maxChildren}): README.md §5`);
  }
}

/** Pre-forked pool: N workers accept themselves; each one that retires is replaced. */
function runPool(listener: number, options: Options): void {
  // Start options.prefork workers (WORKER, with --listen-fd, --root, --requests); when one
  // exits, start another unless we are stopping.
  todo(
    `a pool of ${options.prefork} on fd ${listener} with ${WORKER}: README.md §10 (stopping: ${stopping})`,
  );
}

/** SIGTERM: stop the children (SIGTERM, then SIGKILL after 2 s), reap them, then exit. */
async function shutdown(): Promise<void> {
  // Set `stopping`, SIGTERM every child, SIGKILL the stragglers after 2 s, await them all,
  // then Deno.exit(0).
  stopping = true;
  await Promise.resolve();
  todo(`shutdown with ${children.size} children: README.md §9 Shutting down: SIGTERM`);
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
