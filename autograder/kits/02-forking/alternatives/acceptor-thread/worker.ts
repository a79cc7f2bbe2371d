/**
 * 02-forking, step 2: a pre-forked worker. It inherited the listening socket from
 * the parent (the parent left close-on-exec off for it) and accepts on it itself, serving
 * connections one after another. After `--requests M` connections it exits, and the parent
 * starts a fresh worker in its place: a leak or a corrupted state lives at most M requests.
 *
 * It waits for a connection with waitReadable, not in accept, so that its event loop runs
 * between connections: SIGTERM then ends it between two connections (a graceful stop), never
 * in the middle of a response. A stuck connection is what the parent's SIGKILL is for.
 *
 *     deno run --allow-all worker.ts --listen-fd 3 --root /srv/www --requests 100
 *
 * @module
 */
import { accept, SysError, waitReadable } from "@course/shared";
import { parseArgs } from "node:util";
import { serveConnection } from "./http.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "listen-fd": { type: "string" },
      root: { type: "string" },
      requests: { type: "string" },
    },
  });
  const listener = Number(values["listen-fd"]);
  const requests = Number(values.requests);
  if (!Number.isInteger(listener) || values.root === undefined || !(requests >= 1)) {
    console.error("worker: usage: worker.ts --listen-fd N --root DIR --requests M");
    Deno.exit(2);
  }
  // serveConnection is synchronous, so this listener runs only between two connections.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  for (let served = 0; served < requests;) {
    if (!(await waitReadable(listener, 1000))) continue;
    let fd: number;
    try {
      fd = accept(listener); // the listener is non-blocking: another worker may win the race
    } catch (err) {
      if (err instanceof SysError && (err.code === "EAGAIN" || err.code === "ECONNABORTED")) {
        continue;
      }
      throw err; // a broken listener: fail, and let the parent see it
    }
    serveConnection(fd, values.root);
    served++;
  }
}

if (import.meta.main) await main();
