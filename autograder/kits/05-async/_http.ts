/**
 * The grader's HTTP clients for 05-async: `fetch` with a deadline for most probes, and a minimal
 * keep-alive HTTP/1.1 client on raw sockets for the 1,000-client probe (cheaper per connection
 * than fetch, and it shows exactly which connection got what).
 *
 * @module
 */
import { concat } from "../../toolkit/tcp.ts";

/** What one request got: a status and body, or (status 0) why there was none. */
export interface Answer {
  /** The status code, or 0 when no response came. */
  status: number;
  /** The body (empty when no response came). */
  body: Uint8Array;
  /** The Content-Type header. */
  type: string;
  /** How long the request took, in milliseconds. */
  ms: number;
  /** Why no response came (status 0 only). */
  error?: string;
}

/** Sends one request with fetch; never throws, never waits past `ms`. */
export async function request(
  port: number,
  method: string,
  path: string,
  options: { body?: Uint8Array<ArrayBuffer> | string; ms?: number } = {},
): Promise<Answer> {
  const started = performance.now();
  const ms = options.ms ?? 5_000;
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      body: options.body,
      signal: AbortSignal.timeout(ms),
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const type = res.headers.get("content-type") ?? "";
    return { status: res.status, body, type, ms: performance.now() - started };
  } catch (err) {
    const error = (err as Error).name === "TimeoutError"
      ? `no response within ${ms} ms`
      : (err as Error).message;
    return { status: 0, body: new Uint8Array(0), type: "", error, ms: performance.now() - started };
  }
}

/** An answer in one line: `404 {"error":…}` or `no response: …`. */
export function showAnswer(a: Answer): string {
  if (a.status === 0) return `no response: ${a.error}`;
  const text = new TextDecoder().decode(a.body.subarray(0, 200));
  return `${a.status} ${text}${a.body.length > 200 ? "…" : ""}`;
}

/** The body parsed as JSON, or undefined. */
export function jsonOf(a: Answer): unknown {
  if (a.status === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(a.body));
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One response read off a raw connection. */
export interface RawResponse {
  /** The status code. */
  status: number;
  /** The body, its framing (length or chunks) removed. */
  body: Uint8Array;
}

/**
 * Parses one HTTP/1.1 response from the front of `buf`: the response and how many bytes of `buf`
 * it used; null when more bytes are needed; a string saying why the bytes are no response. The
 * body is framed either by `Content-Length` or by `Transfer-Encoding: chunked` (what Deno.serve
 * sends for a stream body); chunked wins when both are present (RFC 9112 §6.3).
 */
export function parseResponse(buf: Uint8Array): RawResponse & { used: number } | null | string {
  const end = findHeadEnd(buf);
  if (end < 0) return null;
  const head = decoder.decode(buf.subarray(0, end));
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0);
  const coding = /\r\ntransfer-encoding:([^\r]*)/i.exec(head)?.[1].trim();
  const length = /\r\ncontent-length: *(\d+) *(?:\r|$)/i.exec(head)?.[1];
  if (status === 0) return `unexpected response head ${JSON.stringify(head)}`;
  if (coding !== undefined) {
    if (!/(^|,) *chunked$/i.test(coding)) {
      return `Transfer-Encoding ${JSON.stringify(coding)} does not end in chunked`;
    }
    const body = parseChunked(buf, end + 4);
    return body === null || typeof body === "string" ? body : { status, ...body };
  }
  if (length === undefined) {
    return `neither Content-Length nor Transfer-Encoding: chunked in ${JSON.stringify(head)}`;
  }
  const used = end + 4 + Number(length);
  return buf.length < used ? null : { status, body: buf.slice(end + 4, used), used };
}

/**
 * A chunked body starting at `at` (RFC 9112 §7.1): chunks of `hex-size[;ext] CRLF data CRLF`, a
 * last chunk `0 CRLF`, trailer lines, and an empty line. Null while incomplete.
 */
function parseChunked(
  buf: Uint8Array,
  at: number,
): { body: Uint8Array; used: number } | null | string {
  const chunks: Uint8Array[] = [];
  for (let size = -1; size !== 0;) {
    const eol = findCrlf(buf, at);
    if (eol < 0) return null;
    const line = decoder.decode(buf.subarray(at, eol));
    const hex = /^([0-9a-f]{1,8}) *(;.*)?$/i.exec(line)?.[1];
    if (hex === undefined) return `chunk size line ${JSON.stringify(line)}: not a hex number`;
    size = parseInt(hex, 16);
    at = eol + 2 + size;
    if (size > 0 && buf.length < at + 2) return null;
    if (size > 0 && (buf[at] !== 13 || buf[at + 1] !== 10)) {
      return `a ${size}-byte chunk not followed by CRLF`;
    }
    chunks.push(buf.subarray(eol + 2, at));
    if (size > 0) at += 2;
  }
  for (let eol = findCrlf(buf, at); eol !== at; eol = findCrlf(buf, at)) {
    if (eol < 0) return null;
    at = eol + 2; // a trailer field: skipped
  }
  return { body: concat(chunks), used: at + 2 };
}

/** One keep-alive HTTP/1.1 connection that sends GETs and reads their responses. */
export class KeepAlive {
  #conn: Deno.TcpConn;
  #buf: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1:port. */
  static async dial(port: number): Promise<KeepAlive> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new KeepAlive(conn);
  }

  /** Sends GET `path` and reads the response; a string says what went wrong. */
  async get(path: string, ms: number): Promise<RawResponse | string> {
    const req = encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((r) =>
      timer = setTimeout(() => r(`no response in ${ms} ms`), ms)
    );
    try {
      for (let at = 0; at < req.length;) at += await this.#conn.write(req.subarray(at));
      return await Promise.race([this.#response(), late]);
    } catch (err) {
      return (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #response(): Promise<RawResponse | string> {
    while (true) {
      const got = parseResponse(this.#buf);
      if (typeof got === "string") return got;
      if (got !== null) {
        this.#buf = this.#buf.subarray(got.used);
        return { status: got.status, body: got.body };
      }
      if (!(await this.#more())) {
        return this.#buf.length === 0
          ? "the server closed the connection"
          : "the server closed the connection mid-response";
      }
    }
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }
}

/** The offset of the first CRLF at or after `from`, or -1. */
function findCrlf(buf: Uint8Array, from: number): number {
  for (let i = from; i + 1 < buf.length; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

function findHeadEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}
