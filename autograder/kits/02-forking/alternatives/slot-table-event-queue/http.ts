/**
 * 02-forking starter: the HTTP/1.0 part, shared by both process models. It reads one
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
  // An absolute-form target ("http://host/path", which HTTP/1.0 proxies send) names the same
  // resource as its path; anything else that does not start with "/" is not a path at all.
  let path = target.replace(/^https?:\/\/[^/]*/i, "");
  if (path === "") path = "/";
  if (!path.startsWith("/")) return 400;
  // The query and the fragment are not part of the file name. They are cut off while still
  // encoded, so that a "%3F" in a name stays a literal "?".
  path = path.replace(/[?#].*$/s, "");
  // Decode first, check afterwards: "%2e%2e" and "..%2f" only become ".." here (§3).
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 400; // a bad %-escape ("%zz", "%4", or bytes that are not UTF-8)
  }
  if (decoded.includes("\0")) return 400; // no file name has a NUL; the kernel would cut it
  // Check 1: no ".." segment, whatever lies behind it, and whether or not it exists.
  if (decoded.split("/").includes("..")) return 403;
  // Check 2: the real path, all symlinks followed, must stay under the root.
  return checkFile(root + decoded, root);
}

/** True when the real path `real` is `root` itself or lies under it. */
function isInside(real: string, root: string): boolean {
  const prefix = root.endsWith("/") ? root : root + "/"; // "/srv/www-secret" is not in "/srv/www"
  return real === root || real.startsWith(prefix);
}

/** The real path of `path` if it is a regular file inside `root`, else the status. */
function checkFile(path: string, root: string): string | number {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch (err) {
    // A missing piece (ENOENT), or a file used as a directory (ENOTDIR): 404 only if what
    // does exist is inside the root and is not a symlink that leads nowhere.
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return classifyMissing(path, root);
    }
    // A symlink loop (ELOOP) is refused; anything else (EACCES on a directory we may not
    // search, ...) is our failure to read what exists.
    return err instanceof Deno.errors.FilesystemLoop ? 403 : 500;
  }
  if (!isInside(real, root)) return 403;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(real);
  } catch {
    return 500; // it resolved a moment ago: it exists, but we cannot look at it
  }
  if (info.isDirectory) return checkIndex(real, root);
  // Only regular files are served: a FIFO would block the reader forever, a device is no page.
  return info.isFile ? real : 403;
}

/**
 * `path` does not resolve. Walks up to the longest part of it that exists (by lstat, which
 * does not follow a symlink at the end) and decides: a symlink there that leads nowhere, or
 * anything that resolves outside the root, is 403 (we must not tell what exists out there);
 * a plain missing file inside the root is 404.
 */
function classifyMissing(path: string, root: string): number {
  // Every part we look at is a string prefix of root + the decoded path: never above root.
  for (let part = path; isInside(part, root);) {
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.lstatSync(part);
    } catch (err) {
      const missing = err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory;
      if (!missing) return 403; // ELOOP, EACCES on the way: refuse, never guess
    }
    if (info !== null) {
      let real: string;
      try {
        real = Deno.realPathSync(part);
      } catch {
        return 403; // a symlink to nothing (maybe outside), or one that loops
      }
      return isInside(real, root) ? 404 : 403;
    }
    const slash = part.lastIndexOf("/");
    if (slash <= 0) break;
    part = part.slice(0, slash);
  }
  return 403; // nothing of it exists, not even the root: refuse
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
