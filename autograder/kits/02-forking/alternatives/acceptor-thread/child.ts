/**
 * 02-forking: the child process. The parent accepted a connection and started this
 * program with the connected socket's fd number; the fd itself arrived by inheritance (it is
 * open in this process at the same number, because accept() does not set close-on-exec).
 *
 *     deno run --allow-all child.ts --fd 5 --root /srv/www
 *
 * It serves one request on that fd, closes it, and exits: the exit is what the parent reaps.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serveConnection } from "./http.ts";

function main(): void {
  const { values } = parseArgs({
    args: Deno.args,
    options: { fd: { type: "string" }, root: { type: "string" } },
  });
  const fd = Number(values.fd);
  if (!Number.isInteger(fd) || fd < 3 || values.root === undefined) {
    console.error("child: usage: child.ts --fd N --root DIR");
    Deno.exit(2);
  }
  // The connection is already open here, at the same fd number: plain blocking code, as if
  // there were one client, because here there is.
  serveConnection(fd, values.root);
}

if (import.meta.main) main();
