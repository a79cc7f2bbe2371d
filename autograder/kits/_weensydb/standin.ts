/**
 * A grader-owned WeensyDB stand-in on Deno's own API: the protocol of README.md §2 of 03-weensydb
 * (GET, SET, DELETE, EXCH, QUIT, blank lines, ERROR) over one in-memory Map, for kits that need a
 * real store as a backend where the reference solutions are not shipped (the student release, the
 * Gradescope package). One event loop and no threads, so it needs no locks.
 *
 *     deno run --allow-net autograder/kits/_weensydb/standin.ts --port 7000
 *
 * @module
 */

const MAX_KEY = 250, MAX_VALUE = 1024 * 1024, MAX_LINE = 1024;
const encoder = new TextEncoder();

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** The store: key (as 8-bit text) to value bytes, and an id per item for the replies. */
export interface Store {
  values: Map<string, { id: number; value: Uint8Array }>;
  nextId: number;
}

/** Runs one command line (and a SET's body); the reply bytes, or null to close. */
export function execute(store: Store, words: string[], body?: Uint8Array): Uint8Array | null {
  const [cmd, a, b] = words;
  const item = (k: string) => store.values.get(k);
  if (cmd.startsWith("Q")) return null;
  if (cmd === "GET" && words.length === 2) {
    const it = item(a);
    if (it === undefined) return encoder.encode("END\r\n");
    const head = encoder.encode(`VALUE ${a} ${it.value.length} #${it.id}\r\n`);
    return concat([head, it.value, encoder.encode("\r\nEND\r\n")]);
  }
  if (cmd === "SET" && body !== undefined) {
    store.values.set(a, { id: ++store.nextId, value: body });
    return encoder.encode(`STORED #${store.nextId}\r\n`);
  }
  if (cmd === "DELETE" && words.length === 2) {
    const it = item(a);
    if (it === undefined) return encoder.encode("NOT_FOUND\r\n");
    store.values.delete(a);
    return encoder.encode(`DELETED #${it.id}\r\n`);
  }
  if (cmd === "EXCH" && words.length === 3) {
    const x = item(a), y = item(b);
    if (x === undefined || y === undefined) return encoder.encode("NOT_FOUND\r\n");
    [x.value, y.value] = [y.value, x.value];
    return encoder.encode(`EXCHANGED #${x.id} #${y.id}\r\n`);
  }
  return encoder.encode("ERROR\r\n");
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Buffered reads from one connection: lines, and exact byte counts. */
class Reader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }
  /** A line without its LF (and CR), or null at end of file or when it is too long. */
  async line(): Promise<string | null> {
    while (true) {
      const lf = this.#buf.indexOf(10);
      if (lf >= 0) {
        const line = latin1(this.#buf.subarray(0, lf)).replace(/\r$/, "");
        this.#buf = this.#buf.subarray(lf + 1);
        return line.length > MAX_LINE ? null : line;
      }
      if (this.#buf.length > MAX_LINE + 1 || !(await this.#more())) return null;
    }
  }
  /** Exactly `n` bytes, or null at end of file. */
  async bytes(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length < n) if (!(await this.#more())) return null;
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
}

/** Reads the body of `SET key n`: the bytes, `undefined` for an over-limit one, null at EOF. */
async function setBody(reader: Reader, words: string[]): Promise<Uint8Array | null | undefined> {
  const n = Number(words[2]);
  if (words.length !== 3 || !/^\d+$/.test(words[2])) return undefined;
  const body = await reader.bytes(n);
  if (body === null) return null;
  const keyOk = encoder.encode(words[1]).length <= MAX_KEY;
  return n <= MAX_VALUE && keyOk ? body : undefined;
}

/** Serves one client until it leaves or sends QUIT. */
export async function serveClient(store: Store, conn: Deno.Conn): Promise<void> {
  const reader = new Reader(conn);
  try {
    while (true) {
      const line = await reader.line();
      if (line === null) return;
      const words = line.split(" ").filter((w) => w !== "");
      if (words.length === 0) continue;
      const body = words[0] === "SET" ? await setBody(reader, words) : undefined;
      if (body === null) return;
      const reply = execute(store, words, body);
      if (reply === null) return;
      for (let at = 0; at < reply.length;) at += await conn.write(reply.subarray(at));
    }
  } catch {
    // the client reset the connection: nothing to answer
  } finally {
    conn.close();
  }
}

async function main(): Promise<void> {
  const i = Deno.args.indexOf("--port");
  const port = Number(Deno.args[i + 1]);
  if (i < 0 || !Number.isInteger(port)) {
    console.error("standin: usage: standin.ts --port P");
    Deno.exit(2);
  }
  const store: Store = { values: new Map(), nextId: 0 };
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.error(`weensydb stand-in: listening on 127.0.0.1:${port}`);
  while (true) {
    try {
      serveClient(store, await listener.accept());
    } catch (err) {
      console.error(`standin: accept: ${(err as Error).message}`);
    }
  }
}

if (import.meta.main) await main();
