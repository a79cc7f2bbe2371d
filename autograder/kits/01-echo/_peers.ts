/**
 * Echo servers the client probes run the student's client against: one of
 * the grader's own (written on Deno's socket API, so a second design beside
 * the reference), and socat, a third-party program from Debian.
 *
 * Both use a freedom the protocol gives servers: bytes may be held back until
 * the client half-closes. A client that stops at the end of its stdin instead
 * of at the server's close then loses bytes every time, not once in a while.
 *
 * @module
 */
import { listeningPorts } from "../../kit.ts";
import { concat } from "../../kit.ts";

/** A running echo peer; `close()` stops it and waits until it is gone. */
export interface Peer {
  port: number;
  close(): Promise<void>;
}

/** Starts an in-process echo server on a free loopback port of `host` (127.0.0.1 or ::1). */
export function startEchoPeer(host = "127.0.0.1"): Peer {
  const listener = Deno.listen({ hostname: host, port: 0 });
  const sessions = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const session = echoUntilEof(conn).finally(() => conns.delete(conn));
      sessions.add(session);
      session.finally(() => sessions.delete(session));
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      for (const conn of conns) conn.close();
      await Promise.allSettled([accepting, ...sessions]);
    },
  };
}

/** Bytes the grader's peer holds back until more arrive or the client half-closes. */
const HOLD_BACK = 1024;

/** Writes all of `bytes` on the peer's side of a connection. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Echoes a connection's bytes as they arrive, but for the last {@link HOLD_BACK}. */
async function echoUntilEof(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let held = new Uint8Array(0);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      const data = concat([held, buffer.subarray(0, n)]);
      const cut = Math.max(0, data.length - HOLD_BACK);
      await writeAll(conn, data.subarray(0, cut));
      held = data.slice(cut);
    }
    await writeAll(conn, held); // the client half-closed: what remains, then close
  } catch {
    // the client went away or the peer is shutting down: nothing to echo to
  } finally {
    try {
      conn.close();
    } catch {
      // closed already by close() of the peer
    }
  }
}

/** True when a program named `name` is on the PATH. */
export function haveProgram(name: string): boolean {
  const path = Deno.env.get("PATH") ?? "";
  return path.split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Starts `socat` as an echo server on `port` that answers once the client has
 * half-closed (its shell stores the bytes in `scratch`, then sends them back),
 * and waits, up to `ms`, until the kernel shows it listening. socat accepts a
 * single connection, so readiness comes from /proc, not from a test connect.
 */
export async function startSocatEcho(port: number, scratch: string, ms: number): Promise<Peer> {
  const child = new Deno.Command("socat", {
    args: [
      "-T",
      "10",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      `SYSTEM:cat > ${scratch}; cat ${scratch}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  };
  const deadline = Date.now() + ms;
  while (!listeningPorts().has(port)) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`socat did not start listening on port ${port} within ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { port, close: stop };
}
