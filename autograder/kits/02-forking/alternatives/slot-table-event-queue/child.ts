/**
 * 02-forking starter: the child process. The parent accepted a connection and started this
 * program with the connected socket's fd number; the fd itself arrived by inheritance (it is
 * open in this process at the same number, because accept() does not set close-on-exec).
 *
 *     deno run --allow-all child.ts --fd 5 --root /srv/www
 *
 * It serves one request on that fd, closes it, and exits: the exit is what the parent reaps.
 *
 * @module
 */
import { readOptions } from "@course/shared";
import { serveConnection } from "./http.ts";

function main(): void {
  const options = readOptions(Deno.args, {
    fd: { kind: "int", min: 3, required: true },
    root: { kind: "string", required: true },
  });
  if (typeof options === "string") {
    console.error(`child: ${options} (usage: child.ts --fd N --root DIR)`);
    Deno.exit(2);
  }
  const { fd } = options;
  let root: string;
  try {
    // The parent passes a real path already; resolving again costs one call and makes the
    // child safe to run by hand with a relative or symlinked root (§3 compares real paths).
    root = Deno.realPathSync(options.root);
  } catch (err) {
    console.error(`child: bad --root ${options.root}: ${(err as Error).message}`);
    Deno.exit(2);
  }
  // The connection is already open here, at the same fd number: serve it, then close it.
  // serveConnection never throws for what a client does; anything else ends this process
  // only, and the parent treats that as news (§7).
  serveConnection(fd, root);
  Deno.exit(0); // done: our exit is what frees the parent's slot
}

if (import.meta.main) main();
