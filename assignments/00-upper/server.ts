/** 00-upper: answers each line with the line in upper case. */
import { todo } from "@course/shared";

const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(`upper: listening on 127.0.0.1:${port}`);
for await (const conn of listener) {
  todo(`serve(conn): README.md §2 The protocol (${conn.remoteAddr.transport})`);
}
