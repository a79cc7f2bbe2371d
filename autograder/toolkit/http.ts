/**
 * The probes' HTTP: one response parser (head, then the body framed by `Transfer-Encoding:
 * chunked`, `Content-Length`, or the end of the connection), one request client and one
 * keep-alive client, both on traced {@link Conn}s, and a `curl` runner for a real, independent
 * client. Every wait is bounded; nothing throws at a probe for what a server sent.
 *
 * @module
 */

import type { TraceRecorder } from "../observe/trace.ts";
import { concat, latin1 } from "./bytes.ts";
import { type Conn, dial, type DialOptions, indexOf, type Received } from "./conn.ts";

const encoder = new TextEncoder();
const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);

/** A response's status line and headers. */
export interface HttpHead {
  /** The status code. */
  status: number;
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: string;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Map<string, string>;
  /** Bytes of the head, its blank line included: the body starts there. */
  length: number;
}

/** A whole response. */
export interface HttpResponse extends HttpHead {
  /** The body, its framing (chunks) removed. */
  body: Uint8Array;
  /** Bytes of the input the response used (head and framed body). */
  used: number;
}

/**
 * Parses the head at the front of `bytes`: null when the blank line has not arrived, a string
 * saying why the bytes are not a response head.
 */
export function parseHead(bytes: Uint8Array): HttpHead | null | string {
  const end = indexOf(bytes, HEAD_END);
  if (end < 0) return null;
  const lines = latin1(bytes.subarray(0, end)).split("\r\n");
  const m = lines[0].match(/^(HTTP\/1\.[01]) (\d{3})( .*)?$/);
  if (!m) return `bad status line "${lines[0]}"`;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return `bad header line "${line}"`;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[2]), version: m[1], headers, length: end + 4 };
}

/**
 * Parses one response from the front of `bytes` (RFC 9112 §6.3): the body framed by chunked
 * transfer coding (which wins over a length), else by Content-Length, else by the end of the
 * connection (`eof`: the peer closed after these bytes). Null while more bytes are needed; a
 * string saying why the bytes are no response. A response to HEAD, or a 204 or 304, has no body.
 */
export function parseResponse(
  bytes: Uint8Array,
  options: { eof?: boolean; head?: boolean } = {},
): HttpResponse | null | string {
  const head = parseHead(bytes);
  if (head === null) {
    return options.eof ? "the connection closed before the end of the response head" : null;
  }
  if (typeof head === "string") return head;
  const at = head.length;
  const empty = options.head || head.status === 204 || head.status === 304;
  if (empty) return { ...head, body: new Uint8Array(0), used: at };
  const coding = head.headers.get("transfer-encoding");
  if (coding !== undefined) {
    if (!/(^|,) *chunked$/i.test(coding)) {
      return `Transfer-Encoding ${JSON.stringify(coding)} does not end in chunked`;
    }
    const body = parseChunked(bytes, at);
    if (body === null && options.eof) return "the connection closed in the middle of a chunk";
    return body === null || typeof body === "string" ? body : { ...head, ...body };
  }
  const length = head.headers.get("content-length");
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) return `Content-Length ${JSON.stringify(length)} is not a number`;
    const used = at + Number(length);
    if (bytes.length < used) {
      return options.eof
        ? `the connection closed after ${bytes.length - at} of ${length} body bytes`
        : null;
    }
    return { ...head, body: bytes.slice(at, used), used };
  }
  if (!options.eof) return null; // the body runs to the end of the connection
  return { ...head, body: bytes.slice(at), used: bytes.length };
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
    const eol = indexOf(buf, CRLF, at);
    if (eol < 0) return null;
    const line = latin1(buf.subarray(at, eol));
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
  for (let eol = indexOf(buf, CRLF, at); eol !== at; eol = indexOf(buf, CRLF, at)) {
    if (eol < 0) return null;
    at = eol + 2; // a trailer field: skipped
  }
  return { body: concat(chunks), used: at + 2 };
}

/** One request for {@link HttpToolkit.request}. */
export interface HttpRequest {
  /** GET by default. */
  method?: string;
  /** "/" by default. */
  path?: string;
  /** "HTTP/1.1" by default (with `Host` and `Connection: close`). */
  version?: "HTTP/1.0" | "HTTP/1.1";
  /** More headers. */
  headers?: Record<string, string>;
  /** A body, sent with its Content-Length. */
  body?: Uint8Array | string;
  /** How long to wait for the whole response (default 5 s). */
  ms?: number;
  /** Where to connect (default 127.0.0.1). */
  host?: string;
}

/** What one request got: a response, or (status 0) why there was none. Never thrown. */
export interface HttpAnswer {
  /** The status code, or 0 when no whole response came. */
  status: number;
  /** Header names lower-cased (empty when no response came). */
  headers: Map<string, string>;
  /** The body, framing removed (empty when no response came). */
  body: Uint8Array;
  /** The Content-Type header, or "". */
  type: string;
  /** How long the request took, in milliseconds. */
  ms: number;
  /** Why no response came (status 0 only). */
  error?: string;
  /** Every byte that came back, for a failure message. */
  raw: Uint8Array;
}

/** The request's bytes: request line, headers (Host and Connection for HTTP/1.1), body. */
export function encodeRequest(req: HttpRequest): Uint8Array {
  const version = req.version ?? "HTTP/1.1";
  const body = typeof req.body === "string" ? encoder.encode(req.body) : req.body;
  const lines = [`${req.method ?? "GET"} ${req.path ?? "/"} ${version}`];
  const headers: Record<string, string> = {};
  if (version === "HTTP/1.1") {
    headers["Host"] = "127.0.0.1";
    headers["Connection"] = "close";
  }
  if (body !== undefined) headers["Content-Length"] = String(body.length);
  Object.assign(headers, req.headers);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  return body === undefined ? head : concat([head, body]);
}

/** The HTTP part of a probe's context (`ctx.http`). */
export interface HttpToolkit {
  /** Sends one request on a new connection and reads one response; never throws. */
  request(port: number, req?: HttpRequest): Promise<HttpAnswer>;
  /**
   * Sends `bytes` as they are (a malformed request, say) and reads until the server closes or
   * `ms` passes (default 10 s).
   */
  raw(port: number, bytes: Uint8Array | string, options?: { ms?: number }): Promise<Received>;
  /** Opens a keep-alive HTTP/1.1 connection. */
  keepAlive(port: number, options?: DialOptions): Promise<KeepAlive>;
}

/** The toolkit, recording its connections on `trace`. */
export function httpToolkit(trace?: TraceRecorder): HttpToolkit {
  return {
    request: (port, req = {}) => request(port, req, trace),
    raw: async (port, bytes, options = {}) => {
      let conn: Conn | undefined;
      try {
        conn = await dial(port, {}, trace);
        await conn.send(bytes);
        return await conn.receive({ ms: options.ms ?? 10_000 });
      } catch (err) {
        return { bytes: new Uint8Array(), eof: false, timedOut: false, error: errorText(err) };
      } finally {
        conn?.close();
      }
    },
    keepAlive: async (port, options) => new KeepAlive(await dial(port, options, trace)),
  };
}

async function request(port: number, req: HttpRequest, trace?: TraceRecorder) {
  const started = performance.now();
  const ms = req.ms ?? 5_000;
  const answer = (fields: Partial<HttpAnswer>): HttpAnswer => ({
    status: 0,
    headers: new Map(),
    body: new Uint8Array(0),
    type: "",
    raw: new Uint8Array(0),
    ...fields,
    ms: performance.now() - started,
  });
  let conn: Conn | undefined;
  try {
    conn = await dial(port, { host: req.host }, trace);
    const sending = conn.send(encodeRequest(req));
    sending.catch(() => {}); // a server that answers before reading it all: its answer counts
    const deadline = Date.now() + ms;
    let got: Uint8Array = new Uint8Array(0);
    for (;;) {
      const more = await conn.readSome({ ms: Math.max(0, deadline - Date.now()) });
      got = more.bytes.length > 0 ? concat([got, more.bytes]) : got;
      const eof = more.eof || more.error !== undefined;
      const parsed = parseResponse(got, { eof, head: req.method === "HEAD" });
      if (typeof parsed === "object" && parsed !== null) {
        const type = parsed.headers.get("content-type") ?? "";
        return answer({ ...parsed, type, raw: got });
      }
      if (typeof parsed === "string") return answer({ error: parsed, raw: got });
      if (more.timedOut) return answer({ error: `no response within ${ms} ms`, raw: got });
      if (eof) return answer({ error: more.error ?? "the server closed the connection", raw: got });
    }
  } catch (err) {
    return answer({ error: errorText(err) });
  } finally {
    conn?.close();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One keep-alive HTTP/1.1 connection that sends requests and reads their responses in turn. */
export class KeepAlive implements Disposable {
  /** The connection (traced). */
  readonly conn: Conn;
  #buf: Uint8Array = new Uint8Array(0);

  /** Wraps an open connection. */
  constructor(conn: Conn) {
    this.conn = conn;
  }

  /** Sends GET `path` and reads its response; a string says what went wrong. */
  async get(path: string, ms: number): Promise<HttpResponse | string> {
    const req = encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const deadline = Date.now() + ms;
    try {
      await this.conn.send(req);
      for (;;) {
        const got = parseResponse(this.#buf);
        if (typeof got === "string") return got;
        if (got !== null) {
          this.#buf = this.#buf.subarray(got.used);
          return got;
        }
        const more = await this.conn.readSome({ ms: Math.max(0, deadline - Date.now()) });
        if (more.bytes.length > 0) this.#buf = concat([this.#buf, more.bytes]);
        if (more.timedOut) return `no response in ${ms} ms`;
        if (more.eof || more.error !== undefined) {
          return this.#buf.length === 0
            ? "the server closed the connection"
            : "the server closed the connection mid-response";
        }
      }
    } catch (err) {
      return errorText(err);
    }
  }

  /** Closes the connection. */
  close(): void {
    this.conn.close();
  }

  /** `using` closes it. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** True if `curl` can be run. */
export function haveCurl(): boolean {
  try {
    return new Deno.Command("curl", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** What curl did: its exit code, stdout, and stderr. */
export interface CurlResult {
  /** curl's exit code (0: a response came; 22 with --fail: a status >= 400; 124: killed). */
  code: number;
  /** The body (and with -i, the head). */
  stdout: Uint8Array;
  /** curl's messages. */
  stderr: string;
}

/**
 * Runs curl with `args` (a real client, written by others), killed after `ms` (default 10 s).
 * curl's own connections are not in the trace.
 */
export async function curl(args: string[], options: { ms?: number } = {}): Promise<CurlResult> {
  const out = await new Deno.Command("curl", {
    args: ["--silent", "--show-error", ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.ms ?? 10_000),
  }).output().catch((err) => ({
    code: 124,
    stdout: new Uint8Array(),
    stderr: new TextEncoder().encode(errorText(err)),
  }));
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}
