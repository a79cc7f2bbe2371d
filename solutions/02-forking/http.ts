/**
 * 02-forking reference: the HTTP/1.0 part, shared by both process models. It reads one
 * request head from a connected socket, maps the path to a file under the document root
 * (never outside it), and writes one response; nothing here knows about processes.
 *
 * @module
 */
import {
  close,
  LineReader,
  poll,
  POLLIN,
  read,
  SHUT_WR,
  shutdown,
  SysError,
  writeAll,
} from "@course/shared";

/** Longest request line or header line accepted, in bytes. */
export const MAX_LINE = 8192;
/** Most header lines accepted in one request head. */
export const MAX_HEADERS = 100;
/** How long a closing connection waits for the client to close its side (lingering close). */
const LINGER_MS = 2000;

/** A parsed request line; headers are read (bounded) but not used. */
export interface Request {
  method: string;
  target: string;
  version: string;
}

/** A response before encoding; `headOnly` leaves the body out (HEAD) but keeps its length. */
export interface Response {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  headOnly?: boolean;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  500: "Internal Server Error",
};

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  svg: "image/svg+xml",
  ico: "image/x-icon",
  pdf: "application/pdf",
  wasm: "application/wasm",
};

/** The Content-Type for a file name, by its extension; unknown ones are plain bytes. */
export function contentType(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot > path.lastIndexOf("/") ? path.slice(dot + 1).toLowerCase() : "";
  return TYPES[ext] ?? "application/octet-stream";
}

/** A response with a short text body, for every status but 200. */
export function errorResponse(status: number, extra: [string, string][] = []): Response {
  const body = new TextEncoder().encode(`${status} ${REASONS[status]}\n`);
  return { status, headers: [["Content-Type", "text/plain; charset=utf-8"], ...extra], body };
}

/** The bytes on the wire: status line, headers, Content-Length, a blank line, the body. */
export function encodeResponse(r: Response): Uint8Array {
  const lines = [`HTTP/1.0 ${r.status} ${REASONS[r.status]}`];
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${r.body.length}`, "Connection: close", "", "");
  const head = new TextEncoder().encode(lines.join("\r\n"));
  if (r.headOnly) return head;
  const out = new Uint8Array(head.length + r.body.length);
  out.set(head);
  out.set(r.body, head.length);
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const latin1 = new TextDecoder("latin1");

/**
 * Reads one request head: the request line, then header lines up to a blank line. Returns
 * null when the client closed before sending anything, a 400 Response for anything malformed
 * (bad request line, a line over MAX_LINE, too many headers, end of file mid-head).
 */
export function readRequest(reader: LineReader): Request | Response | null {
  try {
    const first = reader.readLine();
    if (first === null) return null; // connected and left without a word: nothing to answer
    const parts = latin1.decode(first).split(" ");
    if (parts.length !== 3) return errorResponse(400);
    const [method, target, version] = parts;
    if (!TOKEN.test(method) || !/^HTTP\/1\.\d$/.test(version) || target === "") {
      return errorResponse(400);
    }
    for (let n = 0;; n++) {
      const line = reader.readLine();
      if (line === null || n >= MAX_HEADERS) return errorResponse(400);
      if (line.length === 0) return { method, target, version };
      if (!latin1.decode(line).includes(":")) return errorResponse(400);
    }
  } catch (err) {
    if (err instanceof RangeError) return errorResponse(400); // a line over MAX_LINE
    throw err;
  }
}

/**
 * Maps a request target to a regular file under `root` (a real path, without symlinks), or to
 * the status to answer with: 400 for an undecodable path, 403 for anything that would leave the
 * root (a `..` segment, plain or percent-encoded, or a symlink pointing out), 404 if missing.
 */
export function resolveTarget(target: string, root: string): string | number {
  if (!target.startsWith("/")) return 400;
  let path: string;
  try {
    path = decodeURIComponent(target.split(/[?#]/)[0]);
  } catch {
    return 400; // a malformed %-escape
  }
  if (path.includes("\0")) return 400;
  const segments = path.split("/");
  if (segments.includes("..")) return 403; // decoded first, so %2e%2e is caught too
  const relative = segments.filter((s) => s !== "" && s !== ".").join("/");
  return checkFile(`${root}/${relative}`, root);
}

/** The real path of `path` if it is a regular file inside `root`, else the status. */
function checkFile(path: string, root: string): string | number {
  let real: string;
  try {
    real = Deno.realPathSync(path); // follows every symlink, so the check below sees the target
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return missing(path, root);
    }
    return 403; // a symlink loop, a directory we may not search: refused, never a crash
  }
  if (!inside(real, root)) return 403;
  const info = Deno.statSync(real);
  if (info.isDirectory) return checkIndex(real, root);
  return info.isFile ? real : 403;
}

/** True if the real path `real` is `root` itself or lies below it. */
function inside(real: string, root: string): boolean {
  return real === root || real.startsWith(root + "/");
}

/**
 * The status for a path that does not resolve: 404 only if the part of it that exists is
 * inside the root. A symlink pointing to nothing may point outside the root, and a 404 there
 * would tell a client which files do not exist out there: it gets 403.
 */
function missing(path: string, root: string): number {
  for (let p = path; p.length > root.length; p = p.slice(0, p.lastIndexOf("/"))) {
    try {
      return inside(Deno.realPathSync(p), root) ? 404 : 403;
    } catch {
      if (isSymlink(p)) return 403; // there, yet it does not resolve: it leads nowhere
    }
  }
  return 404;
}

function isSymlink(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
}

/** A directory is served through its index.html; without one it is refused (no listings). */
function checkIndex(dir: string, root: string): string | number {
  const found = checkFile(`${dir}/index.html`, root);
  return found === 404 ? 403 : found;
}

/** The response to one parsed request, for the document root `root` (a real path). */
export function respond(request: Request, root: string): Response {
  const headOnly = request.method === "HEAD";
  if (request.method !== "GET" && !headOnly) {
    return errorResponse(405, [["Allow", "GET, HEAD"]]);
  }
  const file = resolveTarget(request.target, root);
  if (typeof file === "number") return { ...errorResponse(file), headOnly };
  let body: Uint8Array;
  try {
    body = Deno.readFileSync(file);
  } catch (err) {
    console.error(`server: cannot read ${file}: ${(err as Error).message}`);
    return { ...errorResponse(500), headOnly };
  }
  return { status: 200, headers: [["Content-Type", contentType(file)]], body, headOnly };
}

/**
 * Serves one request on the connected socket `fd`, then closes it. A client that vanishes
 * ends only this connection (logged), never the process's caller.
 */
export function serveConnection(fd: number, root: string): void {
  try {
    const request = readRequest(new LineReader(fd, { maxLine: MAX_LINE }));
    if (request === null) return;
    const response = "status" in request ? request : respond(request, root);
    writeAll(fd, encodeResponse(response));
    lingeringClose(fd);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    console.error(`server: client dropped: ${err.message}`);
  } finally {
    close(fd);
  }
}

/**
 * Sends end of file, then reads and discards what the client still sends until it closes
 * (at most LINGER_MS). Closing a socket with unread bytes makes the kernel send a reset,
 * which can destroy the response before the client has read it: a 400 for an oversized head
 * would never arrive.
 */
function lingeringClose(fd: number): void {
  try {
    shutdown(fd, SHUT_WR);
  } catch {
    return; // the client is gone already (ENOTCONN): nothing to wait for
  }
  const end = Date.now() + LINGER_MS;
  const scratch = new Uint8Array(16 * 1024);
  while (Date.now() < end) {
    const ready = { fd, events: POLLIN, revents: 0 };
    if (poll([ready], end - Date.now()) === 0) return;
    if (read(fd, scratch) === 0) return;
  }
}
