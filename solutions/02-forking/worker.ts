/**
 * 02-forking reference, step 2: a pre-forked worker. It inherited the listening socket from
 * the parent (the parent left close-on-exec off for it) and accepts on it itself, serving
 * connections one after another. After `--requests M` connections it exits, and the parent
 * starts a fresh worker in its place: a leak or a corrupted state lives at most M requests.
 *
 *     deno run --allow-all worker.ts --listen-fd 3 --root /srv/www --requests 100
 *
 * @module
 */
import { accept, SysError } from "@course/shared";
import { parseArgs } from "node:util";
import { serveConnection } from "./http.ts";

function main(): void {
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
  const root = Deno.realPathSync(values.root);
  for (let served = 0; served < requests;) {
    let fd: number;
    try {
      // Every idle worker blocks here on the same listening socket; the kernel hands each
      // new connection to exactly one of them.
      fd = accept(listener);
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      console.error(`worker: accept failed: ${err.message}`);
      continue; // a connection reset while queued (ECONNABORTED): take the next one
    }
    serveConnection(fd, root);
    served++;
  }
}

if (import.meta.main) main();
