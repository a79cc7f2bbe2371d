/**
 * 02-forking starter, step 2: a pre-forked worker. It inherited the listening socket from
 * the parent (the parent left close-on-exec off for it) and accepts on it itself, serving
 * connections one after another. After `--requests M` connections it exits, and the parent
 * starts a fresh worker in its place: a leak or a corrupted state lives at most M requests.
 *
 *     deno run --allow-all worker.ts --listen-fd 3 --root /srv/www --requests 100
 *
 * @module
 */
import { todo } from "@course/shared";
import { parseArgs } from "node:util";

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
  // Loop `requests` times: accept on the inherited listener, serveConnection (http.ts).
  todo(`worker on fd ${listener}: README.md §10 Step 2: a pre-forked pool`);
}

if (import.meta.main) main();
