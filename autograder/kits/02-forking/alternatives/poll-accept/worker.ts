/**
 * 02-forking, step 2: a pre-forked worker. It inherited the listening socket from
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
  // A plain blocking accept: this process has no children to reap, and the kernel hands each
  // new connection to exactly one of the workers waiting here.
  for (let served = 0; served < requests;) {
    let fd: number;
    try {
      fd = accept(listener);
    } catch (err) {
      // A connection reset before we took it (ECONNABORTED) costs nothing; anything else
      // means the listener is broken, and the parent should see us fail.
      if (err instanceof SysError && err.code === "ECONNABORTED") continue;
      throw err;
    }
    serveConnection(fd, values.root);
    served++;
  }
}

if (import.meta.main) main();
