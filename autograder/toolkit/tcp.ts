/**
 * Deadline-bounded TCP helpers the probes use to talk to a student's server.
 *
 * Every wait here has a deadline: a server that stops answering makes the
 * helper return what arrived so far (with `timedOut`), never hang a probe.
 *
 * Every connection made with {@link dial}, and every send and receive, is recorded in the
 * current probe's trace (`trace.ts`) for the HTML report's timeline.
 *
 * @module
 */

import { traceConnection, traceEvent } from "../observe/trace.ts";

/** What a read loop collected: the bytes, and why it stopped. */
export interface Received {
  bytes: Uint8Array;
  /** The peer closed its side (read returned end of file). */
  eof: boolean;
  /** The deadline passed first. */
  timedOut: boolean;
  /** The connection failed (reset, ...): the error's message. */
  error?: string;
}

/** Connects to `host:port` with Nagle's algorithm off, so small writes leave at once. */
export async function dial(port: number, host = "127.0.0.1"): Promise<Deno.TcpConn> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: host, port });
  } catch (err) {
    traceEvent({ port }, "error", { detail: (err as Error).message });
    throw err;
  }
  conn.setNoDelay(true);
  if (traceConnection(conn)) traceCloses(conn);
  return conn;
}

/** Makes `conn`'s closeWrite and close (also by `using`) record themselves in the trace. */
function traceCloses(conn: Deno.TcpConn): void {
  const { closeWrite, close } = conn;
  conn.closeWrite = () => {
    traceEvent(conn, "half-close");
    return closeWrite.call(conn);
  };
  conn.close = () => {
    traceEvent(conn, "close");
    close.call(conn);
  };
  conn[Symbol.dispose] = () => {
    traceEvent(conn, "close");
    close.call(conn);
  };
}

/** Writes all of `bytes`, looping on short writes. */
export async function send(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  // Traced when it starts: a write that never completes (a server that stopped reading) shows.
  traceEvent(conn, "send", { bytes: bytes.length });
  let offset = 0;
  try {
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
  } catch (err) {
    traceEvent(conn, "error", { detail: (err as Error).message });
    throw err;
  }
}

/**
 * Reads until end of file, until `limit` bytes arrived, or until `ms` passed.
 * After a timeout a read may still be pending: the caller closes the connection.
 */
export async function receive(
  conn: Deno.Conn,
  options: { ms: number; limit?: number },
): Promise<Received> {
  const limit = options.limit ?? Infinity;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.ms);
  });
  const finish = (eof: boolean, timedOut: boolean, error?: string): Received => {
    clearTimeout(timer);
    if (eof || timedOut || error !== undefined) {
      const kind = eof ? "eof" : timedOut ? "timeout" : "error";
      traceEvent(conn, kind, { detail: error });
    }
    return { bytes: concat(chunks, total), eof, timedOut, error };
  };
  try {
    while (total < limit) {
      const buffer = new Uint8Array(Math.min(256 * 1024, limit - total));
      const reading = conn.read(buffer);
      reading.catch(() => {}); // a read left pending past the deadline rejects on close
      const n = await Promise.race([reading, expired]);
      if (n === "timeout") return finish(false, true);
      if (n === null) return finish(true, false);
      traceEvent(conn, "receive", { bytes: n });
      chunks.push(buffer.subarray(0, n));
      total += n;
    }
    return finish(false, false);
  } catch (err) {
    return finish(false, false, (err as Error).message);
  }
}

/**
 * Sends `bytes` while reading replies, half-closes after the last byte, and
 * collects everything until the server closes or `ms` passes. Closes `conn`.
 */
export async function roundTrip(
  conn: Deno.TcpConn,
  bytes: Uint8Array,
  ms: number,
): Promise<Received> {
  const sending = send(conn, bytes).then(() => conn.closeWrite());
  sending.catch(() => {}); // a server that stops reading leaves this pending; closing ends it
  try {
    return await receive(conn, { ms });
  } finally {
    conn.close();
  }
}

/** Joins chunks into one array of `total` bytes. */
export function concat(chunks: Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** True when both arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
