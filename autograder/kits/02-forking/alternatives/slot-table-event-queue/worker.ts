/**
 * 02-forking starter, step 2: a pre-forked worker. It inherited the listening socket from
 * the parent (the parent left close-on-exec off for it) and accepts on it itself, serving
 * connections one after another. After `--requests M` connections it exits, and the parent
 * starts a fresh worker in its place: a leak or a corrupted state lives at most M requests.
 *
 *     deno run --allow-all worker.ts --listen-fd 3 --root /srv/www --requests 100
 *
 * Exit status: 0 after serving M connections (a normal retirement, replaced at once), 1 when
 * the listener itself is unusable (the parent backs off before it tries again), 2 for a bad
 * command line.
 *
 * @module
 */
import { accept, readOptions, SysError } from "@course/shared";
import { serveConnection } from "./http.ts";

/** accept errors that concern one connection or one call, not the listener: try again. */
const TRANSIENT = new Set([
  "EINTR",
  "ECONNABORTED",
  "EPROTO",
  "EAGAIN",
  "EWOULDBLOCK",
  "ENETDOWN",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "ENONET",
  "EHOSTUNREACH",
  "EOPNOTSUPP",
  "ENETUNREACH",
]);

function main(): void {
  const options = readOptions(Deno.args, {
    "listen-fd": { kind: "int", min: 0, required: true },
    root: { kind: "string", required: true },
    requests: { kind: "int", min: 1, required: true },
  });
  if (typeof options === "string") {
    console.error(`worker: ${options} (usage: worker.ts --listen-fd N --root DIR --requests M)`);
    Deno.exit(2);
  }
  const { "listen-fd": listener, requests } = options;
  let root: string;
  try {
    root = Deno.realPathSync(options.root);
  } catch (err) {
    console.error(`worker: bad --root ${options.root}: ${(err as Error).message}`);
    Deno.exit(2);
  }
  // A plain blocking accept: this process has no children to reap, so nothing else needs
  // the JavaScript thread while it waits (§10). The kernel hands each new connection to
  // exactly one of the workers blocked here. SIGTERM has its default action in a worker, so
  // it ends the process even in the middle of accept or read.
  for (let served = 0; served < requests;) {
    let fd: number;
    try {
      fd = accept(listener);
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      if (TRANSIENT.has(err.code)) continue;
      // EBADF, ENOTSOCK, EINVAL, EMFILE, ...: not something a retry in this process fixes.
      // Exit with a failure; the parent restarts us after a back-off.
      console.error(`worker ${Deno.pid}: accept failed: ${err.message}`);
      Deno.exit(1);
    }
    served++; // counts connections taken, served well or dropped by the client
    serveConnection(fd, root);
  }
  Deno.exit(0); // retired after `requests` connections: the parent starts a fresh worker
}

if (import.meta.main) main();
