/**
 * The backends the 05-async probes put behind the student's server, all grader-side processes or
 * grader-side sockets, never the student's:
 *
 * - a real WeensyDB: the 03-weensydb reference when the grader's tree has it (course staff), else
 *   the grader's own stand-in (`autograder/kits/_weensydb/standin.ts`; the student release and the
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
const STANDIN = join(REPO_ROOT, "autograder", "kits", "_weensydb", "standin.ts");

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
 * What the fake backend does with each command, decided when it reads the command (as a real
 * server would: what it does depends on its state now, not on when the connection was opened):
 * - `answer`: after `delayMs`, the reply a store would give that holds what was SET on this fake
 *   and `valueOf(key)` for every other key;
 * - `silent`: a stall. Commands are read and held, unanswered, for as long as the fake stays
 *   silent; when it leaves `silent`, the held ones get their replies, late and in order, as a
 *   real server that stalled (a pause, a full disk) answers what it read once it resumes;
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
  /** What it does with commands read from now on; leaving `silent` answers the held ones. */
  mode: FakeMode;
  /** Connections accepted so far. */
  accepted: number;
  /**
   * Connections open now, as the fake sees them: accepted, and not closed or reset by the other
   * side. A peer's count of the server's connections, cheap enough to sample every few ms (a
   * read of /proc/net/tcp takes seconds on a machine with tens of thousands of sockets, and would
   * stall this fake, which runs in the grader's own thread).
   */
  readonly open: number;
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

/** The state one fake shares among its connections. */
interface FakeState {
  fake: FakeBackend;
  stored: Stored;
  /** Settles when the fake next leaves `silent` (or is stopped). */
  resumed(): Promise<void>;
  /** The other side closed or reset `conn` (replies may still be due on it). */
  ended(conn: Deno.Conn): void;
}

/** Starts a fake backend on `port` (default: a free one) in mode `initial`. */
export function startFakeBackend(initial: FakeMode, port = 0): FakeBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  /** Connections whose other side has not closed them yet. */
  const live = new Set<Deno.Conn>();
  const served = new Set<Promise<void>>();
  let mode = initial, stopped = false;
  let stall = Promise.withResolvers<void>();
  const resume = () => {
    stall.resolve();
    stall = Promise.withResolvers<void>();
  };
  const fake: FakeBackend = {
    port: listener.addr.port,
    name: "a fake WeensyDB",
    get mode() {
      return mode;
    },
    set mode(next: FakeMode) {
      mode = next;
      if (next.kind !== "silent") resume();
    },
    accepted: 0,
    get open() {
      return live.size;
    },
    [Symbol.asyncDispose]: async () => {
      if (stopped) return;
      stopped = true;
      listener.close();
      for (const c of conns) closeQuietly(c);
      resume(); // held replies go nowhere now: their writes fail on the closed sockets
      await accepting;
      await Promise.all(served);
    },
  };
  const state: FakeState = {
    fake,
    stored: new Map(),
    resumed: () => stall.promise,
    ended: (conn) => live.delete(conn),
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
      live.add(conn);
      const p = serveFake(state, conn).finally(() => {
        conns.delete(conn);
        live.delete(conn);
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

/** The reply to one command in `mode` (never `silent` or `reset`: those are handled before). */
function replyIn(mode: FakeMode, line: string, stored: Stored): Uint8Array {
  return mode.kind === "garbage" ? encoder.encode("HELLO THERE\r\n") : replyTo(line, stored);
}

/**
 * Serves one connection of the fake: each command gets the behaviour of the mode the fake is in
 * when the command is read, and replies are written in order, each after its delay.
 */
async function serveFake(state: FakeState, conn: Deno.Conn): Promise<void> {
  const { fake, stored } = state;
  let buf = "";
  let writing = Promise.resolve();
  const chunk = new Uint8Array(64 * 1024);
  try {
    while (true) {
      // A reset needs unread bytes in the socket when it closes: in reset mode, read one byte.
      const n = await conn.read(fake.mode.kind === "reset" ? chunk.subarray(0, 1) : chunk);
      if (n === null) break;
      const mode = fake.mode; // the mode now, when the bytes arrived
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
        const body = latin1Bytes(buf.slice(eol + 2, used));
        buf = buf.slice(used);
        const store = (m: FakeMode) => {
          if (set !== null && m.kind === "answer") stored.set(set[1], body);
        };
        let reply: () => Promise<Uint8Array>;
        if (mode.kind === "silent") {
          // Held until the stall ends, then done as the fake's mode then says.
          const resumed = state.resumed();
          reply = async () => {
            await resumed;
            store(fake.mode);
            return replyIn(fake.mode, line, stored);
          };
        } else {
          store(mode);
          const bytes = replyIn(mode, line, stored);
          const due = mode.kind === "answer" ? delay(mode.delayMs) : Promise.resolve();
          reply = async () => (await due, bytes);
        }
        writing = writing.then(reply).then((bytes) => writeAll(conn, bytes)).catch(() => {});
      }
    }
  } catch {
    // the student's server reset the connection
  } finally {
    state.ended(conn);
    await writing;
    closeQuietly(conn);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
