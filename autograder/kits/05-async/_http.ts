/**
 * The grader's HTTP clients for 05-async: `fetch` with a deadline for most probes, and a minimal
 * keep-alive HTTP/1.1 client on raw sockets for the 1,000-client probe (cheaper per connection
 * than fetch, and it shows exactly which connection got what).
 *
 * @module
 */
import { concat } from "../../tcp.ts";

/** What one request got: a status and body, or (status 0) why there was none. */
export interface Answer {
  status: number;
  body: Uint8Array;
  /** The Content-Type header. */
  type: string;
  ms: number;
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

/** One keep-alive HTTP/1.1 connection that sends GETs and reads Content-Length responses. */
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
  async get(path: string, ms: number): Promise<{ status: number; body: Uint8Array } | string> {
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

  async #response(): Promise<{ status: number; body: Uint8Array } | string> {
    let end: number;
    while ((end = findHeadEnd(this.#buf)) < 0) {
      if (!(await this.#more())) return "the server closed the connection";
    }
    const head = new TextDecoder().decode(this.#buf.subarray(0, end));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (status === 0 || length === null) return `unexpected response head ${JSON.stringify(head)}`;
    const total = end + 4 + Number(length[1]);
    while (this.#buf.length < total) {
      if (!(await this.#more())) return "the server closed the connection mid-body";
    }
    const body = this.#buf.slice(end + 4, total);
    this.#buf = this.#buf.subarray(total);
    return { status, body };
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }
}

function findHeadEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}
