/**
 * 05-async starter: a JSON-over-HTTP front server for a WeensyDB store. Deno's HTTP server
 * does the readiness polling; every handler is an async function that awaits the backend (a
 * pool of persistent, pipelined connections, backend.ts) or a hashing Worker (hashers.ts), so
 * while one request waits, the event loop serves the others.
 *
 *     deno run --allow-all server.ts --port 8000 --backend 127.0.0.1:7000 [--pool 8] [--timeout-ms 2000]
 *
 * @module
 */
import { optionsOrExit } from "@course/shared";
import { BackendError, BackendTimeout, Pool, type Reply } from "./backend.ts";
import { Hashers } from "./hashers.ts";

const DEFAULT_POOL = 8;
const DEFAULT_TIMEOUT_MS = 2_000;
/** The longest timer there is: past it, AbortSignal.timeout fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Limits of the API (README.md §2). */
const MAX_KEY = 250, MAX_VALUE = 1024 * 1024, MAX_BATCH = 100, MAX_ROUNDS = 1_000_000;

/** The request was wrong: HTTP 400 (or `status`), with `message` in the body. */
class BadRequest extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}

/** The response for a failed request: the error's class decides the status. */
function failure(err: unknown): Response {
  if (err instanceof BadRequest) return json(err.status, { error: err.message });
  if (err instanceof BackendTimeout) return json(504, { error: err.message });
  if (err instanceof BackendError) return json(502, { error: err.message });
  console.error("async-kv: internal error:", err);
  return json(500, { error: "internal error" });
}

const encoder = new TextEncoder();

/** A key from the URL: decoded, 1 to 250 bytes, no spaces or control characters. */
function checkKey(raw: string | null): string {
  let key: string;
  try {
    key = decodeURIComponent(raw ?? "");
  } catch {
    throw new BadRequest(`bad key ${JSON.stringify(raw)}: malformed percent-encoding`);
  }
  const size = encoder.encode(key).length;
  const spaceOrControl = [...key].some((c) => c.charCodeAt(0) <= 32 || c.charCodeAt(0) === 127);
  if (size < 1 || size > MAX_KEY || spaceOrControl) {
    throw new BadRequest(`bad key ${JSON.stringify(key)}: 1 to ${MAX_KEY} bytes, no spaces`);
  }
  return key;
}

/**
 * Runs `work` with a signal that aborts after `ms`. The timer is an AbortController plus a
 * setTimeout that is cleared as soon as `work` settles, so a burst of fast requests leaves no
 * timers (or signals) behind; `AbortSignal.timeout` could not be cleared.
 */
async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), ms);
  try {
    return await work(deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** The store's API over a backend pool; each method is one WeensyDB command. */
function store(pool: Pool, timeoutMs: number) {
  // Every backend request gets its own deadline (README.md §7).
  const call = (request: Uint8Array) =>
    withDeadline(timeoutMs, (signal) => pool.call(request, signal));
  const line = (text: string) => call(encoder.encode(text + "\r\n"));
  const expect = (reply: Reply, ...kinds: Reply["kind"][]) => {
    if (!kinds.includes(reply.kind)) throw new BackendError(`backend replied ${reply.kind}`);
    return reply;
  };
  return {
    async get(key: string): Promise<Uint8Array<ArrayBuffer> | null> {
      const reply = expect(await line(`GET ${key}`), "value", "end");
      return reply.kind === "value" ? reply.value : null;
    },
    async set(key: string, value: Uint8Array): Promise<void> {
      const head = encoder.encode(`SET ${key} ${value.length}\r\n`);
      const request = new Uint8Array(head.length + value.length);
      request.set(head);
      request.set(value, head.length);
      expect(await call(request), "stored");
    },
    async delete(key: string): Promise<boolean> {
      return expect(await line(`DELETE ${key}`), "deleted", "not_found").kind === "deleted";
    },
    async exch(a: string, b: string): Promise<boolean> {
      return expect(await line(`EXCH ${a} ${b}`), "exchanged", "not_found").kind === "exchanged";
    },
  };
}

type Store = ReturnType<typeof store>;

async function getOne(db: Store, key: string): Promise<Response> {
  const value = await db.get(key);
  if (value === null) return json(404, { error: "not found", key });
  return new Response(value, { headers: { "content-type": "application/octet-stream" } });
}

/**
 * The request's body, read piece by piece and given up as soon as it passes `MAX_VALUE` bytes
 * (413), so a huge body is never held whole, whether it came with Content-Length or chunked.
 * A body the client cut short is a bad request.
 */
async function readBody(req: Request): Promise<Uint8Array> {
  const tooBig = () => new BadRequest(`value over ${MAX_VALUE} bytes`, 413);
  if (Number(req.headers.get("content-length") ?? 0) > MAX_VALUE) throw tooBig();
  if (req.body === null) return new Uint8Array(0);
  const pieces: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_VALUE) throw tooBig();
      pieces.push(value);
    }
  } catch (err) {
    if (err instanceof BadRequest) throw err;
    throw new BadRequest(`could not read the body: ${(err as Error).message}`);
  } finally {
    reader.cancel().catch(() => {}); // a no-op once read to the end; else lets go of the rest
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    body.set(piece, at);
    at += piece.length;
  }
  return body;
}

async function putOne(db: Store, key: string, req: Request): Promise<Response> {
  const value = await readBody(req);
  await db.set(key, value);
  return json(200, { key, bytes: value.length });
}

async function deleteOne(db: Store, key: string): Promise<Response> {
  if (!(await db.delete(key))) return json(404, { error: "not found", key });
  return json(200, { key, deleted: true });
}

async function exchange(db: Store, params: URLSearchParams): Promise<Response> {
  const a = checkKey(params.get("a")), b = checkKey(params.get("b"));
  if (!(await db.exch(a, b))) return json(404, { error: "not found", a, b });
  return json(200, { a, b, exchanged: true });
}

/** GET /kv?keys=a,b,c: every key asked of the backend at once, answered in the order given. */
async function batch(db: Store, params: URLSearchParams): Promise<Response> {
  const raw = params.get("keys");
  if (raw === null || raw === "") throw new BadRequest("missing keys=");
  const keys = raw.split(",").map((k) => checkKey(encodeURIComponent(k)));
  if (keys.length > MAX_BATCH) throw new BadRequest(`more than ${MAX_BATCH} keys`);
  // Send every GET before waiting for any reply: the batch takes one round trip, not one a key.
  const values = await Promise.all(keys.map((key) => db.get(key)));
  return json(200, {
    values: keys.map((key, i) => ({ key, value: values[i] && values[i].toBase64() })),
  });
}

async function hash(hashers: Hashers, params: URLSearchParams): Promise<Response> {
  const data = params.get("data");
  const rounds = Number(params.get("rounds") ?? 1);
  if (data === null) throw new BadRequest("missing data=");
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) {
    throw new BadRequest(`rounds must be a whole number from 1 to ${MAX_ROUNDS}`);
  }
  return json(200, { data, rounds, sha256: await hashers.hash(data, rounds) });
}

/** Dispatches on method and path; every error becomes a response, none escapes. */
function router(db: Store, hashers: Hashers) {
  const routes = (req: Request, url: URL): Promise<Response> | Response => {
    const kv = /^\/kv\/([^/]+)$/.exec(url.pathname);
    if (kv !== null) {
      const key = checkKey(kv[1]);
      if (req.method === "GET") return getOne(db, key);
      if (req.method === "PUT") return putOne(db, key, req);
      if (req.method === "DELETE") return deleteOne(db, key);
    } else if (url.pathname === "/kv" && req.method === "GET") {
      return batch(db, url.searchParams);
    } else if (url.pathname === "/exch" && req.method === "POST") {
      return exchange(db, url.searchParams);
    } else if (url.pathname === "/hash" && req.method === "GET") {
      return hash(hashers, url.searchParams);
    } else if (!["/kv", "/exch", "/hash"].includes(url.pathname)) {
      return json(404, { error: `no such path ${url.pathname}` });
    }
    return json(405, { error: `${req.method} not allowed on ${url.pathname}` });
  };
  return async (req: Request): Promise<Response> => {
    try {
      return await routes(req, new URL(req.url));
    } catch (err) {
      return failure(err);
    }
  };
}

function main(): void {
  const usage = "server.ts --port P --backend HOST:PORT [--pool N] [--timeout-ms T]";
  const options = optionsOrExit("async-kv", usage, Deno.args, {
    port: { kind: "port", required: true },
    backend: { kind: "address", required: true },
    pool: { kind: "int", min: 1, default: DEFAULT_POOL },
    "timeout-ms": { kind: "int", min: 1, max: MAX_TIMEOUT_MS, default: DEFAULT_TIMEOUT_MS },
  });
  const pool = new Pool({
    hostname: options.backend.host,
    port: options.backend.port,
    size: options.pool,
  });
  const hashers = new Hashers(2);
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: options.port,
      onListen: ({ port }) => console.error(`async-kv: listening on 127.0.0.1:${port}`),
    },
    router(store(pool, options["timeout-ms"]), hashers),
  );
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => {
    if (stopping) return; // a second SIGTERM while draining changes nothing
    stopping = true;
    shutDown(server, pool, hashers).then(
      () => Deno.exit(0),
      (err) => {
        console.error("async-kv: shutdown failed:", err);
        Deno.exit(1);
      },
    );
  });
}

/** SIGTERM: stop accepting, let the requests in flight finish, then let go of everything. */
async function shutDown(server: Deno.HttpServer, pool: Pool, hashers: Hashers): Promise<void> {
  console.error("async-kv: SIGTERM, draining");
  // 1. Stop accepting new connections, and wait until every request in flight is answered.
  await server.shutdown();
  // 2. Only then let go of the backend connections and the Workers those requests needed.
  pool.close();
  hashers.close();
  console.error("async-kv: drained, exiting");
}

if (import.meta.main) main();
