/**
 * The probes' side of HTTP: a document root to serve, a minimal HTTP/1.0 client of our own
 * (raw bytes, every wait bounded), and what /proc says about who holds a connection.
 *
 * @module
 */
import type { ProbeContext, ServerHandle } from "../../kit.ts";
import { delay, isAlive, readStat } from "../../kit.ts";
import { processTree, socketOwners } from "../../kit.ts";
import { type Conn, parseHead, type Received } from "../../kit.ts";

const encoder = new TextEncoder();

/** A document root in a fresh temp dir, with a secret file beside it (outside the root). */
export interface DocRoot extends AsyncDisposable {
  /** The directory to pass as --root. */
  root: string;
  /** Content of the secret file outside the root: no response may contain it. */
  secret: Uint8Array;
  /** Files served, by URL path. */
  files: Record<string, Uint8Array>;
}

/**
 * Creates base/www (the root) with hello.txt (UTF-8 text), page.html, data.bin (`binaryBytes`
 * random bytes) and sub/inner.txt; the secret outside it, in base/secret.txt and in
 * base/www-private/secret.txt (a sibling whose path starts with the root's); and three symlinks
 * leading out: www/link (to the secret file), www/sub/up (to base) and www/neighbour (to the
 * sibling's secret, caught only by a root check that compares with the trailing `/`); and two
 * that do not resolve: www/gone (to a missing file outside the root) and www/loop (to itself).
 */
export async function makeDocRoot(ctx: ProbeContext, binaryBytes = 64 * 1024): Promise<DocRoot> {
  // Inside the staged submission: a sandboxed server sees that directory, not the grader's /tmp.
  const base = await Deno.makeTempDir({ dir: ctx.submission.dir, prefix: "docroot-" });
  const root = `${base}/www`;
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  const secret = encoder.encode(`TOP SECRET ${ctx.seed} do not serve\n`);
  await Deno.writeFile(`${base}/secret.txt`, secret);
  await Deno.mkdir(`${base}/www-private`);
  await Deno.writeFile(`${base}/www-private/secret.txt`, secret);
  const files: Record<string, Uint8Array> = {
    "/hello.txt": encoder.encode("Hello, forked world! Grüße, 你好\n"),
    "/page.html": encoder.encode("<!doctype html><title>t</title><p>hi</p>\n"),
    "/data.bin": ctx.bytes(binaryBytes),
    "/sub/inner.txt": encoder.encode("inner\n"),
  };
  for (const [path, bytes] of Object.entries(files)) await Deno.writeFile(root + path, bytes);
  await Deno.symlink(`${base}/secret.txt`, `${root}/link`);
  await Deno.symlink(base, `${root}/sub/up`);
  await Deno.symlink(`${base}/www-private/secret.txt`, `${root}/neighbour`);
  await Deno.symlink(`${base}/no-such-file.txt`, `${root}/gone`); // out, to nothing
  await Deno.symlink(`${root}/loop`, `${root}/loop`); // resolving it fails with ELOOP
  return {
    root,
    secret,
    files,
    [Symbol.asyncDispose]: () => Deno.remove(base, { recursive: true }).catch(() => {}),
  };
}

/** A parsed HTTP response. */
export interface HttpResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Map<string, string>;
  body: Uint8Array;
  /** The server closed the connection after the response (end of file seen). */
  eof: boolean;
}

/**
 * Parses a response read to the end of the connection (HTTP/1.0: the server closes after it),
 * or returns why it is not one. The body is everything after the head.
 */
export function parseResponse(got: Received): HttpResponse | string {
  const head = parseHead(got.bytes);
  if (head === null) {
    return "no complete response head (status line, headers, blank line with CRLF)";
  }
  if (typeof head === "string") return head;
  return {
    status: head.status,
    headers: head.headers,
    body: got.bytes.subarray(head.length),
    eof: got.eof,
  };
}

/** Sends `request` as is and reads until the server closes (or `ms` passes). */
export function rawRequest(
  ctx: ProbeContext,
  port: number,
  request: string,
  ms = 10_000,
): Promise<Received> {
  return ctx.http.raw(port, request, { ms });
}

/** `METHOD path HTTP/1.0` with no headers at all: the smallest valid request. */
export function requestLine(method: string, path: string): string {
  return `${method} ${path} HTTP/1.0\r\n\r\n`;
}

/** A connection that sent half a request and waits: the server is stuck reading it. */
export interface HeldConnection {
  conn: Conn;
  localPort: number;
}

/** Connects and sends only the request line for `path`, leaving the head unfinished. */
export async function hold(
  ctx: ProbeContext,
  port: number,
  path = "/hello.txt",
): Promise<HeldConnection> {
  const conn = await ctx.dial(port);
  await conn.send(encoder.encode(`GET ${path} HTTP/1.0\r\n`));
  return { conn, localPort: conn.localPort };
}

/** Finishes the held request (the blank line) and reads the response; closes the connection. */
export async function finish(held: HeldConnection, ms = 10_000): Promise<Received> {
  try {
    await held.conn.send(encoder.encode("\r\n"));
    return await held.conn.receive({ ms });
  } catch (err) {
    return { bytes: new Uint8Array(), eof: false, timedOut: false, error: (err as Error).message };
  } finally {
    held.conn.close();
  }
}

/**
 * The pids holding the server side of a held connection, from /proc, once the set stops
 * including the parent (the moment between accept and its close) or after `ms`.
 */
export async function owners(server: ServerHandle, held: HeldConnection, ms = 3_000) {
  const end = Date.now() + ms;
  let pids: number[] = [];
  while (Date.now() < end) {
    pids = socketOwners({ port: server.port }, { port: held.localPort });
    if (pids.length > 0 && !pids.includes(server.pid)) return pids;
    await delay(25);
  }
  return pids;
}

/** The live (not zombie) descendants of `pid`, from /proc. */
export function liveChildren(pid: number): number[] {
  return processTree(pid).filter((p) => p !== pid && isAlive(p));
}

/** The descendants of `pid` with their /proc state, for a message: "123 (S), 124 (Z: a zombie)". */
export function describeChildren(pid: number): string {
  const states = processTree(pid).filter((p) => p !== pid).map((p) => {
    const state = readStat(p)?.state ?? "gone";
    return `${p} (${state === "Z" ? "Z: a zombie, exited and not reaped" : state})`;
  });
  return states.join(", ") || "none";
}

/** Waits until `pid` has no live children (the readiness check's connection, say), up to `ms`. */
export async function settle(pid: number, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && liveChildren(pid).length > 0) await delay(25);
}

/** True when `bytes` contains `needle` anywhere. */
export function contains(bytes: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
