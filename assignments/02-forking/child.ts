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
import { readOptions, todo } from "@course/shared";

function main(): void {
  const options = readOptions(Deno.args, {
    fd: { kind: "int", min: 3, required: true },
    root: { kind: "string", required: true },
  });
  if (typeof options === "string") {
    console.error(`child: ${options} (usage: child.ts --fd N --root DIR)`);
    Deno.exit(2);
  }
  const { fd, root } = options;
  // The connection is already open here, at the same fd number: serve it (http.ts).
  todo(`serve fd ${fd} from ${root}: README.md §4 A process per connection`);
}

if (import.meta.main) main();
