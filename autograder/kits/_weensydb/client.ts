/**
 * A WeensyDB protocol client for the grader: sends commands, parses replies with deadlines, and
 * ignores the `#id`s (any numbering is fine). Shared by the kits that speak this protocol (03
 * threads, 04 poll).
 *
 * @module
 */
import { concat, type Conn, latin1, type ProbeContext } from "../../kit.ts";

export { latin1 };

const encoder = new TextEncoder();

/** One parsed reply. `timeout` and `closed` say why no reply came; `garbage` is unparseable. */
export type Reply =
  | { kind: "value"; key: string; value: Uint8Array }
  | { kind: "end" }
  | { kind: "stored" }
  | { kind: "deleted" }
  | { kind: "not_found" }
  | { kind: "exchanged" }
  | { kind: "error" }
  | { kind: "server_error"; line: string }
  | { kind: "garbage"; line: string }
  | { kind: "timeout"; partial: Uint8Array }
  | { kind: "closed"; partial: Uint8Array };

/** `SET key nbytes` CRLF and the body (strings are UTF-8 encoded). */
export function encodeSet(key: string, value: Uint8Array | string): Uint8Array {
  const body = typeof value === "string" ? encoder.encode(value) : value;
  return concat([encoder.encode(`SET ${key} ${body.length}\r\n`), body]);
}

/** A one-line command with CRLF. */
export function encodeLine(line: string): Uint8Array {
  return encoder.encode(line + "\r\n");
}

/**
 * Up to `max` bytes of a reply as ASCII text, for a report: as they are when every one is ASCII
 * (the report escapes CR, LF and other control bytes itself), else in hex. A report shows the
 * UTF-8 bytes of a string, so a byte over 0x7f passed through as a character would show as two.
 */
function preview(bytes: Uint8Array, max = 40): string {
  const head = bytes.subarray(0, max);
  const more = bytes.length > max ? "..." : "";
  if (head.every((b) => b < 0x80)) return `"${latin1(head)}${more}"`;
  return `hex ${[...head].map((b) => b.toString(16).padStart(2, "0")).join(" ")}${more}`;
}

/** A reply shown to a student: the kind, and the value or line when there is one. */
export function showReply(reply: Reply): string {
  switch (reply.kind) {
    case "value":
      return `VALUE ${reply.key} (${reply.value.length} bytes: ${preview(reply.value)})`;
    case "server_error":
    case "garbage":
      return preview(Uint8Array.from(reply.line, (c) => c.charCodeAt(0)), 200);
    case "timeout":
      return `no complete reply in time (had ${reply.partial.length} bytes of one)`;
    case "closed":
      return `the server closed the connection (after ${reply.partial.length} bytes of a reply)`;
    default:
      return reply.kind.toUpperCase();
  }
}

/**
 * One connection to a WeensyDB server. Reads are buffered; a read left pending when a deadline
 * passes is kept and finished by the next call, so no byte is lost between replies.
 */
export class KvClient {
  /** The connection, traced on the probe's timeline. */
  readonly conn: Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;

  /** A client on an open connection. */
  constructor(conn: Conn) {
    this.conn = conn;
  }

  /** Connects to the server on `port` (on 127.0.0.1, or `host`) with the probe's `ctx.dial`. */
  static async dial(
    ctx: Pick<ProbeContext, "dial">,
    port: number,
    host?: string,
  ): Promise<KvClient> {
    return new KvClient(await ctx.dial(port, { host }));
  }

  /** The port of this end of the connection (to find it in /proc/net/tcp). */
  get localPort(): number {
    return this.conn.localPort;
  }

  /** Sends raw bytes (a whole pipelined batch, a partial line, ...). */
  async send(bytes: Uint8Array | string): Promise<void> {
    await this.conn.send(bytes);
  }

  /**
   * Sends one command and reads its reply. A server that closes or resets the connection while
   * the command is being sent (before the body of a big SET is all out, say) gets its reply read
   * all the same: whatever it sent first, then "closed", not the reset as an exception.
   */
  async call(command: Uint8Array | string, ms: number): Promise<Reply> {
    try {
      await this.send(typeof command === "string" ? encodeLine(command) : command);
    } catch (err) {
      const gone = err instanceof Deno.errors.ConnectionReset ||
        err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.NotConnected;
      if (!gone) throw err;
    }
    return await this.reply(ms);
  }

  /** Reads one reply, waiting at most `ms`. */
  async reply(ms: number): Promise<Reply> {
    const deadline = Date.now() + ms;
    const start = this.#buf;
    const first = await this.#line(deadline);
    if (typeof first !== "object") return this.#missing(first, start);
    const header = first.line;
    const value = /^VALUE (\S+) (\d+)(?: .*)?$/.exec(header);
    if (value) {
      const n = Number(value[2]);
      const tail = await this.#bytes(n + 2, deadline);
      if (!(tail instanceof Uint8Array)) return this.#missing(tail, start);
      const end = await this.#line(deadline);
      if (typeof end !== "object") return this.#missing(end, start);
      const after = latin1(tail.subarray(n)); // CRLF, then the line END
      if (after !== "\r\n" || end.line !== "END") {
        return { kind: "garbage", line: `${header}\r\n(${n} bytes of value)${after}${end.line}` };
      }
      return { kind: "value", key: value[1], value: tail.subarray(0, n) };
    }
    return parseLine(header);
  }

  /** Closes the connection (pending reads end). */
  close(): void {
    this.conn.close();
  }

  /** Half-closes: the server reads end of file. */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite();
  }

  #missing(why: "timeout" | "eof", start: Uint8Array): Reply {
    const partial = this.#buf.length > start.length ? this.#buf : start;
    return why === "timeout" ? { kind: "timeout", partial } : { kind: "closed", partial };
  }

  /** The next CRLF- (or LF-) terminated line, consumed only when complete. */
  async #line(deadline: number): Promise<{ line: string } | "timeout" | "eof"> {
    for (let scanned = 0;;) {
      const nl = this.#buf.indexOf(0x0a, scanned);
      if (nl >= 0) {
        const end = nl > 0 && this.#buf[nl - 1] === 0x0d ? nl - 1 : nl;
        const line = latin1(this.#buf.subarray(0, end));
        this.#buf = this.#buf.subarray(nl + 1);
        return { line };
      }
      scanned = this.#buf.length;
      const more = await this.#fill(deadline);
      if (more !== "ok") return more;
    }
  }

  /** Exactly `n` bytes. On a timeout they stay buffered (the reply is then lost anyway). */
  async #bytes(n: number, deadline: number): Promise<Uint8Array | "timeout" | "eof"> {
    while (this.#buf.length < n) {
      const more = await this.#fill(deadline);
      if (more !== "ok") return more;
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Appends one read's bytes to the buffer. */
  async #fill(deadline: number): Promise<"ok" | "timeout" | "eof"> {
    if (this.#eof) return "eof";
    const got = await this.conn.readSome({ ms: Math.max(0, deadline - Date.now()) });
    if (got.bytes.length > 0) {
      this.#buf = this.#buf.length === 0 ? got.bytes : concat([this.#buf, got.bytes]);
      return "ok";
    }
    if (got.timedOut) return "timeout";
    this.#eof = true; // end of file, or a reset: no more replies either way
    return "eof";
  }
}

/** A one-line reply (ids ignored). */
function parseLine(text: string): Reply {
  if (text === "END") return { kind: "end" };
  if (/^STORED #?\S*$/.test(text) || text === "STORED") return { kind: "stored" };
  if (/^DELETED( #?\S*)?$/.test(text)) return { kind: "deleted" };
  if (text === "NOT_FOUND") return { kind: "not_found" };
  if (/^EXCHANGED( #?\S*)?( #?\S*)?$/.test(text)) return { kind: "exchanged" };
  if (text === "ERROR") return { kind: "error" };
  if (text.startsWith("SERVER_ERROR")) return { kind: "server_error", line: text };
  return { kind: "garbage", line: text };
}
