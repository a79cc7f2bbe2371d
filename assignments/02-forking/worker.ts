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
import { readOptions, todo } from "@course/shared";

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
  // Loop `requests` times: accept on the inherited listener, serveConnection (http.ts).
  todo(
    `worker on fd ${listener} for ${requests} connections from ${options.root}: README.md §10 Step 2: a pre-forked pool`,
  );
}

if (import.meta.main) main();
