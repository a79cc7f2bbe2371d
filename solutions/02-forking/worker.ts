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
import { accept, readOptions, SysError } from "@course/shared";
import { serveConnection } from "./http.ts";

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
  const root = Deno.realPathSync(options.root);
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
