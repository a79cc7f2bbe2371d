/** 00-upper with the course library's LineReader on a raw socket, one client at a time. */
import { accept, close, LineReader, listenTcp, writeAll } from "@course/shared";

const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
const listener = listenTcp({ host: "127.0.0.1", port });
console.log(`upper: listening on 127.0.0.1:${port}`);
const encoder = new TextEncoder();
while (true) {
  const client = accept(listener);
  try {
    const lines = new LineReader(client);
    for (let line = lines.readLine(); line !== null; line = lines.readLine()) {
      writeAll(client, encoder.encode(new TextDecoder().decode(line).toUpperCase() + "\n"));
    }
  } catch {
    // the client went away
  } finally {
    close(client);
  }
}
