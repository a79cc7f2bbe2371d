/** 00-upper: answers each line with the line in upper case. */

const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(`upper: listening on 127.0.0.1:${port}`);

/** Shouts back every line of one client, until it closes. */
async function serve(conn: Deno.Conn): Promise<void> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for await (const chunk of conn.readable) {
      pending += decoder.decode(chunk, { stream: true });
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        await conn.write(encoder.encode(line.toUpperCase() + "\n"));
      }
    }
  } catch {
    // the client went away: nothing to answer
  }
}

for await (const conn of listener) serve(conn);
