/**
 * The backends the 05-async probes put behind the student's server, all grader-side processes or
 * grader-side sockets, never the student's:
 *
 * - a real WeensyDB: the 03-weensydb reference when the grader's tree has it (course staff), else
 *   the grader's own stand-in (`autograder/weensydb/standin.ts`; the student release and the
 *   Gradescope package ship no solutions). `COURSE_WEENSYDB=standin` forces the stand-in.
 * - a fake one on `Deno.listen`, in this process, whose behaviour a probe switches at will: answer
 *   after a delay, never answer, reset mid-reply, or send garbage.
 *
 * @module
 */
import { join } from "node:path";
import { type ChildHandle, delay, startChild } from "../../kit.ts";
import { REPO_ROOT } from "../../kit.ts";
import { concat } from "../../kit.ts";

/** A backend a probe started; stopped by `await using`. */
export interface Backend extends AsyncDisposable {
  /** The port it listens on, on 127.0.0.1. */
  port: number;
  /** What kind of backend this is, for messages. */
  name: string;
}

/** The 03-weensydb reference server, when this tree has it. */
const REFERENCE = join(REPO_ROOT, "solutions", "03-weensydb", "server.ts");
const STANDIN = join(REPO_ROOT, "autograder", "weensydb", "standin.ts");

function hasReference(): boolean {
  if (Deno.env.get("COURSE_WEENSYDB") === "standin") return false;
  try {
    return Deno.statSync(REFERENCE).isFile;
  } catch {
    return false;
  }
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

async function canConnect(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Starts a real WeensyDB server as a grader-side process and waits until it accepts. */
export async function startRealBackend(): Promise<Backend> {
  const port = freePort();
  const reference = hasReference();
  const args = reference
    ? ["run", "--allow-all", "--config", join(REPO_ROOT, "deno.json"), REFERENCE]
    : ["run", "--allow-net", "--no-config", STANDIN];
  const child: ChildHandle = startChild(Deno.execPath(), [...args, "--port", String(port)], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
  });
  const name = reference ? "the 03-weensydb reference server" : "the grader's WeensyDB stand-in";
  const stop = async () => void await child.stop(500);
  for (const end = Date.now() + 15_000; Date.now() < end && !child.exited();) {
    if (await canConnect(port)) return { port, name, [Symbol.asyncDispose]: stop };
    await delay(50);
  }
  await stop();
  throw new Error(`Cannot start ${name} on port ${port}: it never accepted connections`);
}

/**
 * What the fake backend does with each command it reads:
 * - `answer`: after `delayMs`, the reply a store would give that holds what was SET on this fake
 *   and `valueOf(key)` for every other key;
 * - `silent`: nothing, ever (the connection stays open);
 * - `reset`: half a VALUE reply, then a reset;
 * - `garbage`: a line that is no WeensyDB reply.
 */
export type FakeMode =
  | { kind: "answer"; delayMs: number }
  | { kind: "silent" }
  | { kind: "reset" }
  | { kind: "garbage" };

/** The value the fake backend holds for `key`. */
export function valueOf(key: string): string {
  return `value-of-${key}`;
}

/** A fake WeensyDB in the grader's process. */
export interface FakeBackend extends Backend {
  /** Switches what it does with commands read from now on. */
  mode: FakeMode;
  /** Connections accepted so far. */
  accepted: number;
}

const encoder = new TextEncoder();

/** Values SET on a fake, by key (as 8-bit text, the way the fake reads its input). */
type Stored = Map<string, Uint8Array>;

/** 8-bit text back to its bytes. */
function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function replyTo(line: string, stored: Stored): Uint8Array {
  const [cmd, key] = line.split(" ");
  if (cmd === "GET") {
    const value = stored.get(key);
    if (value === undefined) {
      const v = encoder.encode(valueOf(key));
      return encoder.encode(`VALUE ${key} ${v.length} #1\r\n${valueOf(key)}\r\nEND\r\n`);
    }
    const head = latin1Bytes(`VALUE ${key} ${value.length} #1\r\n`);
    return concat([head, value, encoder.encode("\r\nEND\r\n")]);
  }
  const lines: Record<string, string> = { SET: "STORED #1", DELETE: "DELETED #1" };
  return encoder.encode(`${lines[cmd] ?? (cmd === "EXCH" ? "EXCHANGED #1 #2" : "ERROR")}\r\n`);
}

/** Starts a fake backend on `port` (default: a free one) in mode `mode`. */
export function startFakeBackend(mode: FakeMode, port = 0): FakeBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const served = new Set<Promise<void>>();
  const stored: Stored = new Map();
  const fake: FakeBackend = {
    port: listener.addr.port,
    name: "a fake WeensyDB",
    mode,
    accepted: 0,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await accepting;
      await Promise.all(served);
    },
  };
  const accepting = (async () => {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // closed by dispose
      }
      fake.accepted++;
      conns.add(conn);
      const p = serveFake(fake, conn, stored).finally(() => {
        conns.delete(conn);
        served.delete(p);
      });
      served.add(p);
    }
  })();
  return fake;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Serves one connection of the fake: replies are written in order, each after its delay. */
async function serveFake(fake: FakeBackend, conn: Deno.Conn, stored: Stored): Promise<void> {
  let buf = "";
  let writing = Promise.resolve();
  const chunk = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const mode = fake.mode;
      // A reset needs unread bytes in the socket when it closes: read just one byte.
      const n = await conn.read(mode.kind === "reset" ? chunk.subarray(0, 1) : chunk);
      if (n === null) break;
      if (mode.kind === "reset") {
        await conn.write(encoder.encode("VALUE k 10\r\nabc"));
        await delay(20);
        break;
      }
      buf += String.fromCharCode(...chunk.subarray(0, n));
      for (let eol = buf.indexOf("\r\n"); eol >= 0; eol = buf.indexOf("\r\n")) {
        const line = buf.slice(0, eol);
        const set = /^SET (\S+) (\d+)$/.exec(line);
        const used = eol + 2 + (set === null ? 0 : Number(set[2]));
        if (buf.length < used) break; // the rest of a SET's body is still to come
        if (set !== null && mode.kind === "answer") {
          stored.set(set[1], latin1Bytes(buf.slice(eol + 2, used)));
        }
        buf = buf.slice(used);
        if (mode.kind === "silent") continue;
        const reply = mode.kind === "garbage"
          ? encoder.encode("HELLO THERE\r\n")
          : replyTo(line, stored);
        const due = mode.kind === "answer" ? delay(mode.delayMs) : Promise.resolve();
        writing = writing.then(() => due).then(() => writeAll(conn, reply)).catch(() => {});
      }
    }
  } catch {
    // the student's server reset the connection
  } finally {
    await writing;
    closeQuietly(conn);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
