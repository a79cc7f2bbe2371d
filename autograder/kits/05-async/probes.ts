/**
 * Probes for 05-async: an HTTP front server whose handlers talk to WeensyDB. Each names the bug
 * it catches; the buggy variants beside this file (variants/) prove that it does.
 *
 * The student's server always gets a backend the grader owns: a real WeensyDB (_backends.ts) for
 * correctness and load, or a fake one whose replies the probe delays, withholds, resets or garbles.
 * Connections to the backend are counted from /proc, never taken from the server's word.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import {
  concat,
  type Conn,
  delay,
  gatedBy,
  type KeepAlive,
  openFdCount,
  parseResponse,
  type Probe,
  type ProbeContext,
  processTree,
  sameBytes,
  type ServerHandle,
  TCP_ESTABLISHED,
  tcpSockets,
  threadCount,
  threadCpuMs,
  type Verdict,
  within,
} from "../../kit.ts";
import {
  type FakeBackend,
  freePort,
  startFakeBackend,
  startRealBackend,
  valueOf,
} from "./_backends.ts";
import { type Answer, jsonOf, request, showAnswer } from "./_http.ts";

const encoder = new TextEncoder();

/** Starts the student's server in front of `backend` (a port), with extra arguments. */
export function startApp(
  ctx: ProbeContext,
  backend: number,
  args: string[] = [],
): Promise<ServerHandle> {
  return ctx.startServer({ args: ["--backend", `127.0.0.1:${backend}`, ...args] });
}

/** `n` bytes from the run's seeded generator, so a failure can be replayed. */
function randomBytes(ctx: ProbeContext, n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(ctx.random() * 256);
  return out;
}

/** A key unique to this run, with non-ASCII letters in it (sent percent-encoded). */
export function keyFor(ctx: ProbeContext, name: string): string {
  return `${name}-ключ-${ctx.seed % 100000}`;
}

export function kv(key: string): string {
  return `/kv/${encodeURIComponent(key)}`;
}

/** The /hash digest: SHA-256 of the data, then of each 32-byte digest, `rounds` times in all. */
export function expectedHash(data: string, rounds: number): string {
  let digest: Uint8Array = createHash("sha256").update(data).digest();
  for (let i = 1; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(bytes: Uint8Array | string): string {
  return (typeof bytes === "string" ? encoder.encode(bytes) : bytes).toBase64();
}

/** One expected exchange: the request, the status, and (optionally) the exact body. */
interface Check {
  what: string;
  method: string;
  path: string;
  body?: Uint8Array<ArrayBuffer> | string;
  /** Send the body with `Transfer-Encoding: chunked` (no Content-Length), 64 KiB a chunk. */
  chunked?: boolean;
  status: number;
  /** Raw bytes expected, or a JSON value expected (compared after parsing). */
  bytes?: Uint8Array;
  json?: unknown;
}

/** `body` as a chunked request body: 64 KiB chunks, then the last, empty one. */
function chunkedBody(body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += 64 * 1024) {
    const piece = body.subarray(at, at + 64 * 1024);
    parts.push(encoder.encode(`${piece.length.toString(16)}\r\n`), piece, encoder.encode("\r\n"));
  }
  parts.push(encoder.encode("0\r\n\r\n"));
  return concat(parts);
}

/** Sends `c` with a chunked body on a raw connection; the answer, as `request` gives it. */
async function chunkedRequest(ctx: ProbeContext, port: number, c: Check): Promise<Answer> {
  const body = typeof c.body === "string" ? encoder.encode(c.body) : c.body ?? new Uint8Array();
  const head = `${c.method} ${c.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    "Transfer-Encoding: chunked\r\n\r\n";
  const started = performance.now();
  const got = await ctx.http.raw(port, concat([encoder.encode(head), chunkedBody(body)]), {
    ms: 5_000,
  });
  const ms = performance.now() - started;
  const parsed = parseResponse(got.bytes, { eof: true });
  if (parsed === null || typeof parsed === "string") {
    const why = parsed ?? (got.error ?? (got.timedOut ? "no response within 5 s" : "no response"));
    return { status: 0, body: new Uint8Array(), type: "", ms, error: why };
  }
  const type = parsed.headers.get("content-type") ?? "";
  return { status: parsed.status, body: parsed.body, type, ms };
}

/** What is wrong with `got` as the answer to `c`: expected and got, or null when it is right. */
function mismatch(c: Check, got: Answer): [string | Uint8Array, string | Uint8Array] | null {
  if (got.status !== c.status) return [`status ${c.status}`, showAnswer(got)];
  if (c.bytes !== undefined && !sameBytes(got.body, c.bytes)) return [c.bytes, got.body];
  if (c.bytes !== undefined && !got.type.startsWith("application/octet-stream")) {
    return ["Content-Type: application/octet-stream", `Content-Type: ${got.type}`];
  }
  if (c.json !== undefined && !isDeepStrictEqual(jsonOf(got), c.json)) {
    return [JSON.stringify(c.json), showAnswer(got)];
  }
  const body = jsonOf(got) as { error?: unknown } | undefined;
  if (c.status >= 400 && typeof body?.error !== "string") {
    return [`status ${c.status} with a JSON body {"error":"..."}`, showAnswer(got)];
  }
  return null;
}

/** Runs `checks` in order; null when all matched, else every one that did not. */
async function runChecks(
  ctx: ProbeContext,
  port: number,
  checks: Check[],
): Promise<Verdict | null> {
  const wrong: {
    c: Check;
    sent: string;
    expected: string | Uint8Array;
    got: string | Uint8Array;
  }[] = [];
  // Two requests in a row without a byte back: the server is stuck, and the rest would only
  // wait out their 5 s each.
  let unanswered = 0;
  let untried = 0;
  for (const [i, c] of checks.entries()) {
    if (unanswered === 2) {
      untried = checks.length - i;
      break;
    }
    const got = c.chunked
      ? await chunkedRequest(ctx, port, c)
      : await request(ctx, port, c.method, c.path, { body: c.body, ms: 5_000 });
    unanswered = got.status === 0 && /^no response within/.test(got.error ?? "")
      ? unanswered + 1
      : 0;
    const sent = `${c.method} ${c.path}${
      c.body === undefined ? "" : ` with a ${c.body.length}-byte${c.chunked ? " chunked" : ""} body`
    }`;
    const bad = mismatch(c, got);
    if (bad !== null) wrong.push({ c, sent, expected: bad[0], got: bad[1] });
  }
  if (wrong.length === 0) return null;
  const [first] = wrong;
  const shown = (x: string | Uint8Array) => typeof x === "string" ? x : `${x.length} bytes`;
  const lines = wrong.map((w) =>
    `${w.c.what}: ${w.sent}: expected ${shown(w.expected)}, got ${shown(w.got)}`
  );
  if (untried > 0) lines.push(`(two requests in a row got nothing back: ${untried} more not sent)`);
  return ctx.fail({
    what: `${wrong.length} of ${
      checks.length - untried
    } exchanges differ; the first, ${first.c.what}`,
    sent: first.sent,
    expected: first.expected,
    got: first.got,
    output: lines.join("\n"),
  });
}

/** Every endpoint and error status, with fetch, against a real WeensyDB. */
function endpointChecks(ctx: ProbeContext): Check[] {
  const a = keyFor(ctx, "a"), b = keyFor(ctx, "b"), none = keyFor(ctx, "none");
  const binary = randomBytes(ctx, 4096);
  binary.set([0, 13, 10, 69, 78, 68, 13, 10], 100); // NUL, CRLF, "END" CRLF inside the value
  const big = randomBytes(ctx, 1024 * 1024);
  const exch = `/exch?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
  return [
    {
      what: "PUT a binary value",
      method: "PUT",
      path: kv(a),
      body: binary,
      status: 200,
      json: { key: a, bytes: 4096 },
    },
    { what: "GET it back, byte for byte", method: "GET", path: kv(a), status: 200, bytes: binary },
    { what: "GET a key never stored", method: "GET", path: kv(none), status: 404 },
    {
      what: "PUT a second key",
      method: "PUT",
      path: kv(b),
      body: "second",
      status: 200,
      json: { key: b, bytes: 6 },
    },
    {
      what: "exchange the two",
      method: "POST",
      path: exch,
      status: 200,
      json: { a, b, exchanged: true },
    },
    {
      what: "GET after the exchange",
      method: "GET",
      path: kv(a),
      status: 200,
      bytes: encoder.encode("second"),
    },
    {
      what: "exchange with a missing key",
      method: "POST",
      path: `/exch?a=${encodeURIComponent(a)}&b=${encodeURIComponent(none)}`,
      status: 404,
    },
    {
      what: "a batch, in the order asked",
      method: "GET",
      path: `/kv?keys=${[b, none, a].map(encodeURIComponent).join(",")}`,
      status: 200,
      json: {
        values: [{ key: b, value: base64(binary) }, { key: none, value: null }, {
          key: a,
          value: base64("second"),
        }],
      },
    },
    {
      what: "DELETE a key",
      method: "DELETE",
      path: kv(a),
      status: 200,
      json: { key: a, deleted: true },
    },
    { what: "DELETE it again", method: "DELETE", path: kv(a), status: 404 },
    { what: "GET a deleted key", method: "GET", path: kv(a), status: 404 },
    {
      what: "PUT a 1 MiB value",
      method: "PUT",
      path: kv(a),
      body: big,
      status: 200,
      json: { key: a, bytes: big.length },
    },
    { what: "GET the 1 MiB value", method: "GET", path: kv(a), status: 200, bytes: big },
    {
      what: "PUT one byte over 1 MiB",
      method: "PUT",
      path: kv(b),
      body: new Uint8Array(big.length + 1),
      status: 413,
    },
    {
      what: "PUT exactly 1 MiB, chunked (no Content-Length)",
      method: "PUT",
      path: kv(b),
      body: big,
      chunked: true,
      status: 200,
      json: { key: b, bytes: big.length },
    },
    {
      what: "PUT one byte over 1 MiB, chunked (no Content-Length to check first)",
      method: "PUT",
      path: kv(b),
      body: new Uint8Array(big.length + 1),
      chunked: true,
      status: 413,
    },
    {
      what: "hash",
      method: "GET",
      path: "/hash?data=hello%20world&rounds=1000",
      status: 200,
      json: { data: "hello world", rounds: 1000, sha256: expectedHash("hello world", 1000) },
    },
    {
      what: "hash with rounds that are not a number",
      method: "GET",
      path: "/hash?data=x&rounds=many",
      status: 400,
    },
    { what: "hash without data", method: "GET", path: "/hash?rounds=3", status: 400 },
    {
      what: "hash without rounds (1 by default)",
      method: "GET",
      path: "/hash?data=abc",
      status: 200,
      json: { data: "abc", rounds: 1, sha256: expectedHash("abc", 1) },
    },
    {
      what: "a key with broken percent-encoding",
      method: "GET",
      path: "/kv/%E0%A4%A",
      status: 400,
    },
    { what: "a key with a space", method: "GET", path: "/kv/two%20words", status: 400 },
    {
      what: "exchange without b",
      method: "POST",
      path: `/exch?a=${encodeURIComponent(a)}`,
      status: 400,
    },
    { what: "a batch with no keys", method: "GET", path: "/kv", status: 400 },
    { what: "an unknown path", method: "GET", path: "/nothing/here", status: 404 },
    { what: "a known path, the wrong method", method: "POST", path: kv(b), status: 405 },
    { what: "a known path, the wrong method", method: "GET", path: exch, status: 405 },
    { what: "a known path, the wrong method", method: "DELETE", path: "/hash?data=x", status: 405 },
  ];
}

const endpoints: Probe = {
  name: "endpoints",
  title: "Every endpoint and status code, with fetch, against a real WeensyDB",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §2 The API",
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port);
    return await runChecks(ctx, server.port, endpointChecks(ctx)) ??
      ctx.pass(`backend: ${db.name}`);
  },
};

/** Runs curl; its stdout, or the failure. */
async function curl(ctx: ProbeContext, args: string[]): Promise<Uint8Array | Verdict> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("curl", {
      args: ["-sS", "--max-time", "10", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return ctx.fail({
      what: "this probe needs curl",
      note: "install it: sudo apt-get install curl",
    });
  }
  if (out.code === 0) return out.stdout;
  return ctx.fail({
    what: `curl ${args.join(" ")} failed (exit ${out.code})`,
    output: new TextDecoder().decode(out.stderr),
  });
}

const curlClient: Probe = {
  name: "curl",
  title: "curl, a real client: binary PUT from a file, GET to a file, status codes",
  points: 2,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §2 The API",
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port);
    const base = `http://127.0.0.1:${server.port}`;
    const dir = await Deno.makeTempDir({ prefix: "async-curl-" });
    try {
      const value = randomBytes(ctx, 200_000);
      await Deno.writeFile(`${dir}/in`, value);
      const key = keyFor(ctx, "curl");
      const put = await curl(ctx, [
        "-X",
        "PUT",
        "--data-binary",
        `@${dir}/in`,
        "-w",
        "\n%{http_code}",
        `${base}${kv(key)}`,
      ]);
      if (!(put instanceof Uint8Array)) return put;
      const text = new TextDecoder().decode(put), cut = text.lastIndexOf("\n");
      const putStatus = Number(text.slice(cut + 1)), putBody = encoder.encode(text.slice(0, cut));
      const putWanted = { key, bytes: value.length };
      const putAnswer: Answer = { status: putStatus, body: putBody, type: "", ms: 0 };
      if (putStatus !== 200 || !isDeepStrictEqual(jsonOf(putAnswer), putWanted)) {
        return ctx.fail({
          what: `curl -X PUT --data-binary @file ${kv(key)} (200,000 random bytes)`,
          expected: `200 ${JSON.stringify(putWanted)}`,
          got: showAnswer(putAnswer),
          note: "the value is the body's bytes, exactly as sent: never decode it as text",
        });
      }
      const got = await curl(ctx, ["-o", `${dir}/out`, "-w", "%{http_code}", `${base}${kv(key)}`]);
      if (!(got instanceof Uint8Array)) return got;
      const back = await Deno.readFile(`${dir}/out`);
      if (new TextDecoder().decode(got) !== "200" || !sameBytes(back, value)) {
        return ctx.fail({
          what: `curl --data-binary @file PUT ${
            kv(key)
          } (200,000 random bytes), then curl -o file GET`,
          expected: value,
          got: back,
          note: `status ${
            new TextDecoder().decode(got)
          }; a PUT body is bytes: never decode it as text`,
        });
      }
      const missing = await curl(ctx, [
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `${base}${kv(keyFor(ctx, "never"))}`,
      ]);
      if (!(missing instanceof Uint8Array)) return missing;
      if (new TextDecoder().decode(missing) !== "404") {
        return ctx.fail({
          what: "curl GET of a key never stored",
          expected: "404",
          got: new TextDecoder().decode(missing),
        });
      }
      return ctx.pass();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

/** The delay the fake backend puts before each reply in the overlap and pool probes. */
const OVERLAP_DELAY_MS = 400;

const overlap: Probe = {
  name: "overlap",
  title:
    `A batch of 10 keys, each delayed ${OVERLAP_DELAY_MS} ms by the backend, takes about ${OVERLAP_DELAY_MS} ms, not 10 times that`,
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §5 Awaiting many things at once",
  async run(ctx) {
    await using fake = startFakeBackend({ kind: "answer", delayMs: OVERLAP_DELAY_MS });
    const server = await startApp(ctx, fake.port, ["--pool", "10", "--timeout-ms", "10000"]);
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    const path = `/kv?keys=${keys.join(",")}`;
    const expected = { values: keys.map((key) => ({ key, value: base64(valueOf(key)) })) };
    let got: Answer | undefined;
    for (let round = 0; round < 2; round++) { // the first opens the connections
      got = await request(ctx, server.port, "GET", path, { ms: 15_000 });
      if (got.status !== 200 || !isDeepStrictEqual(jsonOf(got), expected)) {
        return ctx.fail({
          what: `GET ${path}`,
          expected: `200 ${JSON.stringify(expected)}`,
          got: showAnswer(got),
        });
      }
    }
    const limit = OVERLAP_DELAY_MS + 600;
    if (got!.ms > limit) {
      return ctx.fail({
        what:
          `GET ${path} with --pool 10, while the backend delays every reply by ${OVERLAP_DELAY_MS} ms`,
        expected:
          `the batch in under ${limit} ms: the 10 GETs wait for the backend at the same time`,
        got: `${Math.round(got!.ms)} ms (one after the other would take ${
          10 * OVERLAP_DELAY_MS
        } ms)`,
        note: "await inside a loop waits for each key before asking for the next: use Promise.all",
      });
    }
    return ctx.pass(`batch of 10 in ${Math.round(got!.ms)} ms, bound ${limit} ms`);
  },
};

const TIMEOUT_MS = 500;

/** How long the stalled backend of the timeout probe stays silent after the next request. */
const RESUME_AFTER_MS = 200;

const timeout: Probe = {
  name: "timeout",
  title:
    `A stalled backend gives 504 within --timeout-ms ${TIMEOUT_MS}; its late replies are never taken for later requests'`,
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §7 Timeouts with AbortSignal",
  async run(ctx) {
    await using fake = startFakeBackend({ kind: "silent" });
    // A small pool: connections left hanging after a timeout would soon be all there is.
    const server = await startApp(ctx, fake.port, [
      "--pool",
      "2",
      "--timeout-ms",
      String(TIMEOUT_MS),
    ]);
    const what =
      `the backend stalls (reads requests, answers none); the server runs with --pool 2 --timeout-ms ${TIMEOUT_MS}`;
    let slowest = 0;
    for (const path of [kv("quiet"), "/kv?keys=q1,q2,q3"]) {
      const got = await request(ctx, server.port, "GET", path, { ms: 3_000 });
      if (got.status !== 504 || got.ms > TIMEOUT_MS + 1_000) {
        const crashed = await crashedAfter(ctx, server, `${what}; GET ${path}`);
        if (crashed) return crashed;
        return ctx.fail({
          what: `${what}; GET ${path}`,
          expected: `504 within ${TIMEOUT_MS + 1_000} ms`,
          got: `${showAnswer(got)} after ${Math.round(got.ms)} ms`,
          note: "bound every backend request with AbortSignal.timeout(T)",
        });
      }
      slowest = Math.max(slowest, got.ms);
    }
    // The stall ends as a real server's does: what it read gets its (late) reply, in order. A
    // connection kept after a timeout hands the late reply to whichever request comes next on it.
    for (const key of ["later", "after"]) {
      const next = request(ctx, server.port, "GET", kv(key), { ms: 3_000 });
      await delay(RESUME_AFTER_MS);
      fake.mode = { kind: "answer", delayMs: 0 };
      const got = await next;
      if (got.status !== 200 || new TextDecoder().decode(got.body) !== valueOf(key)) {
        const crashed = await crashedAfter(ctx, server, `${what}; the timeouts and late replies`);
        if (crashed) return crashed;
        return ctx.fail({
          what: `${what}; after two 504s the probe sent GET ${kv(key)}, and ${RESUME_AFTER_MS}` +
            " ms later the backend resumed: it answered every request it had read, in order",
          expected: `200 ${valueOf(key)}`,
          got: showAnswer(got),
          note:
            "a connection whose request timed out is out of step (the late reply would be taken for the next request's): close it and open another",
        });
      }
      fake.mode = { kind: "silent" };
    }
    return ctx.pass(`504 in ${Math.round(slowest)} ms at most, bound ${TIMEOUT_MS + 1_000} ms`);
  },
};

const backendDown: Probe = {
  name: "backend-down",
  title: "Backend down, or reset mid-reply: 502; once it is back, requests succeed again",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §8 Errors and status codes",
  async run(ctx) {
    const port = freePort();
    const server = await startApp(ctx, port, ["--timeout-ms", "3000"]);
    const down = await request(ctx, server.port, "GET", kv("x"), { ms: 5_000 });
    if (down.status !== 502) {
      return ctx.fail({
        what: `nothing listens on the backend port ${port}; GET ${kv("x")}`,
        expected: "502",
        got: showAnswer(down),
      });
    }
    await using fake = startFakeBackend({ kind: "reset" }, port);
    for (let i = 0; i < 2; i++) {
      const reset = await request(ctx, server.port, "GET", kv("x"), { ms: 5_000 });
      if (reset.status !== 502) {
        return ctx.fail({
          what: `the backend sends half a VALUE reply, then resets; GET ${kv("x")}`,
          expected: "502",
          got: showAnswer(reset),
        });
      }
    }
    fake.mode = { kind: "answer", delayMs: 0 };
    for (const key of ["y", "z"]) {
      const back = await request(ctx, server.port, "GET", kv(key), { ms: 5_000 });
      if (back.status !== 200 || new TextDecoder().decode(back.body) !== valueOf(key)) {
        return ctx.fail({
          what: `the backend was down, then reset two connections, and now answers; GET ${kv(key)}`,
          expected: `200 ${valueOf(key)}`,
          got: showAnswer(back),
          note: "a pool must drop a connection that failed and open a new one",
        });
      }
    }
    return ctx.pass();
  },
};

const POOL = 3;

/** What a burst of concurrent GETs got, and the most backend connections open at once. */
interface Burst {
  answers: Answer[];
  keys: string[];
  most: number;
}

/**
 * Sends a GET for each key at once and counts the server's connections to `backend` every 5 ms,
 * as the backend sees them, until every answer is in.
 */
async function burst(
  ctx: ProbeContext,
  port: number,
  backend: FakeBackend,
  keys: string[],
  ms = 20_000,
): Promise<Burst> {
  let most = 0, sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, backend.open);
      await delay(5);
    }
  })();
  const answers = await Promise.all(keys.map((k) => request(ctx, port, "GET", kv(k), { ms })));
  sampling = false;
  await sampler;
  return { answers, keys, most };
}

/** Keys `prefix0` to `prefix<n-1>`. */
function keysOf(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

/** The first answer of `b` that is not 200 with its key's value, shown; null if none. */
function firstWrong(b: Burst): string | null {
  const i = b.answers.findIndex((a, i) =>
    a.status !== 200 || new TextDecoder().decode(a.body) !== valueOf(b.keys[i])
  );
  if (i < 0) return null;
  const failed =
    b.answers.filter((a, i) =>
      a.status !== 200 || new TextDecoder().decode(a.body) !== valueOf(b.keys[i])
    ).length;
  return `GET ${kv(b.keys[i])}: ${showAnswer(b.answers[i])} (${failed} of ${b.keys.length} wrong)`;
}

const poolBound: Probe = {
  name: "pool-bound",
  title:
    `--pool ${POOL}: 40 concurrent requests never have more than ${POOL} backend connections open (from /proc), and later requests reuse them`,
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §6 A pool of backend connections",
  async run(ctx) {
    await using fake = startFakeBackend({ kind: "answer", delayMs: 300 });
    const server = await startApp(ctx, fake.port, [
      "--pool",
      String(POOL),
      "--timeout-ms",
      "15000",
    ]);
    const { most, ...load } = await burst(ctx, server.port, fake, keysOf("p", 40));
    const wrong = firstWrong({ most, ...load });
    if (wrong !== null) {
      return ctx.fail({
        what: "40 concurrent GETs",
        expected: "200 and its value on every one",
        got: wrong,
      });
    }
    // Once they are idle, the server's side of its connections, from /proc: a slow read on a
    // busy machine, so not while the fake backend in this thread has replies to send.
    const kept = establishedFrom(fake.port);
    if (most > POOL || most === 0 || kept > POOL) {
      return ctx.fail({
        what:
          `40 concurrent GETs with --pool ${POOL}; the backend counted the server's connections to it every 5 ms`,
        expected: `1 to ${POOL} connections at any moment`,
        got:
          `${most} at once (the backend accepted ${fake.accepted} in all); ${kept} open to port ${fake.port} afterwards, in /proc/net/tcp`,
        note: most === 0
          ? undefined
          : "when every pooled connection is busy, pipeline on one or queue the request: never open another",
      });
    }
    fake.mode = { kind: "answer", delayMs: 0 };
    for (const key of keysOf("q", 10)) {
      const got = await request(ctx, server.port, "GET", kv(key), { ms: 5_000 });
      if (got.status !== 200 || new TextDecoder().decode(got.body) !== valueOf(key)) {
        return ctx.fail({
          what: `40 concurrent GETs, then 10 one after another; GET ${kv(key)}`,
          expected: `200 ${valueOf(key)}`,
          got: showAnswer(got),
        });
      }
    }
    if (fake.accepted > POOL) {
      return ctx.fail({
        what:
          `40 concurrent GETs, then 10 one after another, with --pool ${POOL}; connections the backend accepted counted`,
        expected:
          `at most ${POOL} connections in all: the pool keeps its connections and reuses them`,
        got: `${fake.accepted} connections accepted (at most ${most} at once)`,
        note: "a connection per request pays a handshake each time: keep it open for the next one",
      });
    }
    return ctx.pass(
      `at most ${most} backend connections at once, bound ${POOL}; ${fake.accepted} accepted in all, bound ${POOL}`,
    );
  },
};

/** The server's connections to `backendPort` open now, from /proc/net/tcp. */
function establishedFrom(backendPort: number): number {
  return tcpSockets().filter((s) => s.state === TCP_ESTABLISHED && s.remotePort === backendPort)
    .length;
}

/** File descriptors open in the server's processes (the sandbox's, when there is one). */
function fdsOf(server: ServerHandle): number {
  return processTree(server.pid).reduce((n, pid) => n + openFdCount(pid), 0);
}

/** Concurrent GETs in each burst of backend failures, and how many bursts of each kind. */
const FAILING = 6, FAILING_ROUNDS = 3;
/** File descriptors the server may hold after the failures beyond those it held before. */
const FD_SLACK = 3;
/** How long pool-recovers' backend takes to answer each request while it works. */
const RECOVER_DELAY_MS = 50;
/** The pool-recovers probe's --timeout-ms: over three times what 20 requests queued behind
 * {@link POOL} connections wait (7 rounds of {@link RECOVER_DELAY_MS}). */
const RECOVER_TIMEOUT_MS = 1_200;

/** Sends `rounds` bursts of {@link FAILING} GETs; each must get one of `statuses`. What went wrong. */
async function failingBursts(
  ctx: ProbeContext,
  port: number,
  backend: FakeBackend,
  what: string,
  statuses: number[],
  rounds = FAILING_ROUNDS,
): Promise<string[]> {
  const wrong: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const b = await burst(ctx, port, backend, keysOf(`${what[0]}${r}-`, FAILING), 10_000);
    const bad = b.answers.filter((a) => !statuses.includes(a.status));
    if (bad.length > 0) {
      wrong.push(
        `${what}, burst ${r + 1}: ${bad.length} of ${FAILING} GETs got ${
          showAnswer(bad[0])
        } instead of ${statuses.join(" or ")}`,
      );
    }
  }
  return wrong;
}

const poolRecovers: Probe = {
  name: "pool-recovers",
  title:
    `--pool ${POOL}: after bursts of backend failures (down, resets, stalls), requests use ${POOL} connections again and no file descriptor is left behind`,
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §6 A pool of backend connections",
  async run(ctx) {
    const port = freePort();
    let fake = startFakeBackend({ kind: "answer", delayMs: RECOVER_DELAY_MS }, port);
    try {
      const server = await startApp(ctx, port, [
        "--pool",
        String(POOL),
        "--timeout-ms",
        String(RECOVER_TIMEOUT_MS),
      ]);
      const warm = await burst(ctx, server.port, fake, keysOf("w", 20));
      const warmWrong = firstWrong(warm);
      if (warmWrong !== null) {
        return ctx.fail({
          what: "20 concurrent GETs before any failure",
          expected: "200 and its value on every one",
          got: warmWrong,
        });
      }
      await delay(200);
      const fdsBefore = fdsOf(server);
      const wrong: string[] = [];
      await fake[Symbol.asyncDispose]();
      wrong.push(...await failingBursts(ctx, server.port, fake, "backend down (refused)", [502]));
      fake = startFakeBackend({ kind: "reset" }, port); // the backend is back on the same port
      wrong.push(...await failingBursts(ctx, server.port, fake, "reset mid-reply", [502]));
      // Requests pipelined behind one that timed out fail with 502 when it closes (§7).
      fake.mode = { kind: "silent" };
      wrong.push(...await failingBursts(ctx, server.port, fake, "stalled", [504, 502], 1));
      fake.mode = { kind: "answer", delayMs: RECOVER_DELAY_MS };
      const after = await burst(ctx, server.port, fake, keysOf("r", 20));
      const afterWrong = firstWrong(after);
      if (afterWrong !== null) wrong.push(`once the backend answered again: ${afterWrong}`);
      else if (after.most !== POOL) {
        wrong.push(
          `once the backend answered again, 20 concurrent GETs used at most ${after.most} backend connections at once (${warm.most} before the failures)`,
        );
      }
      const fds = await ctx.eventually(() => fdsOf(server), {
        until: (n) => n <= fdsBefore + FD_SLACK,
        deadlineMs: 2_000,
      });
      if (!fds.ok) {
        wrong.push(
          `the server held ${fds.last} file descriptors after the failures, ${fdsBefore} before (from /proc/<pid>/fd): connections that failed were never closed`,
        );
      }
      const crashed = await crashedAfter(
        ctx,
        server,
        "bursts of backend failures (down, resets, a stall)",
      );
      if (crashed) return crashed;
      if (wrong.length > 0) {
        return ctx.fail({
          what:
            `--pool ${POOL} --timeout-ms ${RECOVER_TIMEOUT_MS}; 20 concurrent GETs, then bursts of ${FAILING} concurrent GETs while the backend was down, then reset every connection mid-reply, then stalled; then 20 concurrent GETs again`,
          expected:
            `502 while down or reset, 504 (or 502 behind a request that timed out) while stalled; then every GET answered, on ${POOL} connections again, and at most ${FD_SLACK} file descriptors more than before`,
          got: wrong.join("\n"),
          note:
            "a connection that failed must be closed and must give its place in the pool back, on every error path",
        });
      }
      return ctx.pass(
        `${after.most} of ${POOL} connections in use after the failures; ${
          fds.ok ? fds.value : fds.last
        } file descriptors, ${fdsBefore} before (bound +${FD_SLACK})`,
      );
    } finally {
      await fake[Symbol.asyncDispose]();
    }
  },
};

/** Bound on the p99 latency of small requests while /hash runs. */
const P99_BOUND_MS = 300;
/** How long one /hash should take on this machine, found by calibration. */
const HASH_TARGET_MS = 500;
/** How long the small GETs are timed while /hash runs, and the pause after each. */
const LOOP_WINDOW_MS = 2_000, GET_EVERY_MS = 10;

/** Rounds that take about HASH_TARGET_MS on this server now; the failure if /hash is wrong. */
async function calibrate(ctx: ProbeContext, port: number): Promise<number | Verdict> {
  const rounds = 20_000;
  const got = await request(ctx, port, "GET", `/hash?data=calibrate&rounds=${rounds}`, {
    ms: 20_000,
  });
  const want = expectedHash("calibrate", rounds);
  if (got.status !== 200 || (jsonOf(got) as { sha256?: string })?.sha256 !== want) {
    return ctx.fail({
      what: `GET /hash?data=calibrate&rounds=${rounds}`,
      expected: `200 with sha256 ${want}`,
      got: showAnswer(got),
    });
  }
  return Math.min(1_000_000, Math.max(rounds, Math.round((rounds * HASH_TARGET_MS) / got.ms)));
}

/** The server's Deno process: the one of its tree with the most threads (not a sandbox's shell). */
function denoProcess(server: ServerHandle): number {
  const tree = processTree(server.pid);
  return tree.reduce((a, b) => (threadCount(b) > threadCount(a) ? b : a), server.pid);
}

/** CPU (ms) the main thread and the other threads of `pid` used between two samples. */
function cpuSplit(pid: number, before: Map<number, number>, after: Map<number, number>) {
  let main = 0, others = 0;
  for (const [tid, ms] of after) {
    const used = ms - (before.get(tid) ?? 0);
    if (tid === pid) main += used;
    else others += used;
  }
  return { main: Math.round(main), others: Math.round(others) };
}

const eventLoop: Probe = {
  name: "event-loop",
  title: `While /hash requests run, other requests keep a p99 latency under ${P99_BOUND_MS} ms`,
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §9 CPU work off the main thread",
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port);
    const key = keyFor(ctx, "small");
    await request(ctx, server.port, "PUT", kv(key), { body: "small" });
    const rounds = await calibrate(ctx, server.port);
    if (typeof rounds !== "number") return rounds;
    let hashing = true, hashes = 0;
    const hasher = async () => {
      while (hashing) {
        await request(ctx, server.port, "GET", `/hash?data=load&rounds=${rounds}`, { ms: 30_000 });
        hashes++;
      }
    };
    const load = [hasher(), hasher()];
    await delay(200);
    // The architecture first: the hashing must run on threads other than the main one (whatever
    // they are called), seen from /proc, before the latency it buys is measured.
    const pid = denoProcess(server);
    const cpuBefore = threadCpuMs(pid);
    const latencies: number[] = [];
    for (const end = Date.now() + LOOP_WINDOW_MS; Date.now() < end;) {
      const got = await request(ctx, server.port, "GET", kv(key), { ms: 10_000 });
      latencies.push(got.status === 200 ? got.ms : Infinity);
      await delay(GET_EVERY_MS);
    }
    const cpu = cpuSplit(pid, cpuBefore, threadCpuMs(pid));
    hashing = false;
    await Promise.all(load);
    if (cpu.others < cpu.main) {
      return ctx.fail({
        what: `two clients kept GET /hash?rounds=${rounds} running for ${
          LOOP_WINDOW_MS / 1000
        } s; the CPU time of the server's threads read from /proc/${pid}/task`,
        expected: "most of it on threads other than the main one (the hashing Workers)",
        got: `main thread ${cpu.main} ms, all other threads ${cpu.others} ms`,
        note: "hashing on the main thread stops its event loop: run it in a Worker",
      });
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))];
    const ms = (
      x: number,
    ) => (x === Infinity ? "none (no answer within 10 s)" : `${Math.round(x)} ms`);
    const shown = `p99 ${ms(p99)}, median ${
      ms(latencies[latencies.length >> 1])
    } over ${latencies.length} GETs`;
    if (p99 >= P99_BOUND_MS) {
      return ctx.fail({
        what:
          `two clients kept GET /hash?rounds=${rounds} running (about ${HASH_TARGET_MS} ms each) while another sent GET ${
            kv(key)
          } every ${GET_EVERY_MS} ms for ${LOOP_WINDOW_MS / 1000} s`,
        expected: `p99 latency of the GETs under ${P99_BOUND_MS} ms`,
        got: shown,
        note: "hashing on the main thread stops its event loop: run it in a Worker",
      });
    }
    return ctx.pass(
      `${shown}, bound ${P99_BOUND_MS} ms; ${hashes} hashes of ${rounds} rounds; CPU: main thread ${cpu.main} ms, other threads ${cpu.others} ms`,
    );
  },
};

const CLIENTS = 1_000;

const manyClients: Probe = {
  name: "many-clients",
  title: `${CLIENTS} concurrent keep-alive clients, two requests each, are all served`,
  points: 3,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §6 A pool of backend connections",
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port, ["--pool", "8", "--timeout-ms", "20000"]);
    const key = keyFor(ctx, "shared");
    const value = "v".repeat(100);
    const put = await request(ctx, server.port, "PUT", kv(key), { body: value });
    if (put.status !== 200) {
      return ctx.fail({
        what: `PUT ${kv(key)} with a ${value.length}-byte body, before the clients connect`,
        expected: "200",
        got: showAnswer(put),
      });
    }
    const clients: KeepAlive[] = [];
    try {
      for (let i = 0; i < CLIENTS; i += 100) {
        const dialed = await Promise.allSettled(
          Array.from({ length: 100 }, () => ctx.http.keepAlive(server.port)),
        );
        for (const d of dialed) if (d.status === "fulfilled") clients.push(d.value);
        const refused = dialed.find((d) => d.status === "rejected");
        if (refused !== undefined) {
          return ctx.fail({
            what: `${CLIENTS} clients connecting, 100 at a time`,
            expected: "every connection accepted",
            got: `${(refused.reason as Error).message} (${clients.length} connected)`,
          });
        }
      }
      let slowest = 0;
      for (const round of [1, 2]) {
        const started = performance.now();
        let answered = 0, lastAt = 0;
        const got = await Promise.all(clients.map(async (c) => {
          const g = await c.get(kv(key), 30_000);
          if (typeof g !== "string") [answered, lastAt] = [answered + 1, performance.now()];
          return g;
        }));
        const all = performance.now() - started;
        const bad = got.findIndex((g) =>
          typeof g === "string" || g.status !== 200 || new TextDecoder().decode(g.body) !== value
        );
        if (bad >= 0) {
          const g = got[bad];
          const failed = got.filter((x) => typeof x === "string" || x.status !== 200).length;
          return ctx.fail({
            what: `${CLIENTS} keep-alive connections each sent GET ${
              kv(key)
            } at once (request ${round} of 2 on each)`,
            expected: `200 and the ${value.length}-byte value on every one`,
            got: `client ${bad + 1}: ${
              typeof g === "string"
                ? g
                : `${g.status} ${new TextDecoder().decode(g.body.subarray(0, 100))}`
            } (${failed} of ${CLIENTS} failed; answered ${answered} of ${CLIENTS}${
              answered < CLIENTS
                ? `, the last answer ${((lastAt - started) / 1000).toFixed(1)} s in, none in the ${
                  ((all - (lastAt - started)) / 1000).toFixed(1)
                } s after`
                : ""
            })`,
            note:
              "requests beyond the pool's connections must wait for one (pipelined or queued), not fail",
          });
        }
        slowest = Math.max(slowest, all);
      }
      return ctx.pass(
        `${CLIENTS} clients served twice; the slower round took ${
          (slowest / 1000).toFixed(1)
        } s, bound 30 s`,
      );
    } finally {
      clients.forEach((c) => c.close());
    }
  },
};

/** Sends raw bytes on a new connection and closes it without reading. */
async function hitAndRun(ctx: ProbeContext, port: number, bytes: string): Promise<void> {
  try {
    const conn = await ctx.dial(port, { noDelay: false });
    try {
      await conn.write(encoder.encode(bytes));
      await delay(50);
    } finally {
      conn.close();
    }
  } catch {
    // refused or reset: whether the server is still up is checked next
  }
}

/** Fails when the server has exited, with its output. */
function stillUp(
  ctx: ProbeContext,
  server: ServerHandle,
  after: string,
  note = "an unhandled promise rejection ends a Deno program: every promise needs a catch",
): Verdict | null {
  if (!server.exited()) return null;
  return ctx.fail({
    what: `after ${after}, the server exited`,
    expected: "the server to answer with an error status and keep running",
    output: server.output(),
    note,
  });
}

/** Like {@link stillUp}, after waiting a moment for an exit that is on its way. */
async function crashedAfter(
  ctx: ProbeContext,
  server: ServerHandle,
  after: string,
): Promise<Verdict | null> {
  await within(server.status, 600, null); // an unhandled rejection ends the process a moment later
  return stillUp(ctx, server, after);
}

/** The big value's size: the largest the API takes (README.md §2). */
const BIG = 1024 * 1024;
/** GETs of the big value a leaving client sends at once on its connection. */
const PIPELINED = 16;
/** How much of the first response that client reads before it leaves. */
const READ_BEFORE_LEAVING = 64 * 1024;
/** Clients that leave mid-response, one after another. */
const LEAVERS = 4;

/**
 * Sends {@link PIPELINED} GETs of `path` (a {@link BIG}-byte value) at once on a new connection,
 * reads the status line and the first bytes of the body, then closes with the rest unread, which
 * resets the connection. Loopback socket buffers hold a few MiB, more than one response: the
 * requests behind the first keep the server in the middle of writing a response when the reset
 * comes. Null when the response began as it should; else what came instead.
 */
async function leaveMidResponse(
  ctx: ProbeContext,
  port: number,
  path: string,
): Promise<string | null> {
  let conn: Conn;
  try {
    conn = await ctx.dial(port, { noDelay: false });
  } catch (err) {
    return `connecting: ${(err as Error).message}`;
  }
  try {
    await conn.send(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(PIPELINED)));
    const got = await conn.receive({ ms: 5_000, limit: READ_BEFORE_LEAVING });
    const first = new TextDecoder().decode(got.bytes.subarray(0, 200)).split("\r\n")[0];
    if (first.startsWith("HTTP/1.1 200 ") && got.bytes.length === READ_BEFORE_LEAVING) return null;
    const after = got.eof
      ? ", then the server closed"
      : got.timedOut
      ? ", then nothing for 5 s"
      : "";
    return `${JSON.stringify(first)} and ${got.bytes.length} bytes in all${after}${
      got.error ? ` (${got.error})` : ""
    }`;
  } catch (err) {
    return (err as Error).message;
  } finally {
    conn.close(); // unread bytes in the socket: the kernel sends a reset
  }
}

/** The no-crash probe's last part: clients that leave in the middle of a big response. */
async function clientsLeavingMidResponse(
  ctx: ProbeContext,
  server: ServerHandle,
): Promise<Verdict | null> {
  // Letters only: what is checked here is staying up, not bytes surviving (endpoints does that).
  const big = randomBytes(ctx, BIG).map((b) => 97 + (b % 26)), path = kv("big");
  const put = await request(ctx, server.port, "PUT", path, { body: big, ms: 10_000 });
  if (put.status !== 200) {
    return ctx.fail({
      what: `PUT ${path} with a 1 MiB body`,
      expected: "200",
      got: showAnswer(put),
    });
  }
  let wrong: string | null = null;
  for (let i = 0; i < LEAVERS && wrong === null && !server.exited(); i++) {
    wrong = await leaveMidResponse(ctx, server.port, path);
  }
  await within(server.status, 600, null); // an unhandled rejection ends the process a moment later
  const what =
    `${LEAVERS} clients, one after another, each sent ${PIPELINED} pipelined GET ${path}` +
    ` (a 1 MiB value) at once, read the status line and ${READ_BEFORE_LEAVING} bytes, and reset` +
    " the connection in the middle of a response";
  const crashed = stillUp(
    ctx,
    server,
    what,
    "writing to a client that left fails: a response body you stream yourself needs a catch",
  );
  if (crashed) return crashed;
  if (wrong === null) return null;
  return ctx.fail({
    what: `${what}; one of them`,
    expected: `"HTTP/1.1 200 OK" and the first ${READ_BEFORE_LEAVING} bytes of the value`,
    got: wrong,
  });
}

const noCrash: Probe = {
  name: "no-crash",
  title:
    "Backend garbage, bad input and clients that leave mid-request or mid-response never crash the server",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §8 Errors and status codes",
  async run(ctx) {
    await using fake = startFakeBackend({ kind: "garbage" });
    const server = await startApp(ctx, fake.port, ["--timeout-ms", "2000"]);
    const garbage = await request(ctx, server.port, "GET", kv("g"), { ms: 5_000 });
    await delay(300); // an unhandled rejection ends the process a moment later
    const crashed = stillUp(ctx, server, 'the backend answered GET with "HELLO THERE"');
    if (crashed) return crashed;
    if (garbage.status !== 502) {
      return ctx.fail({
        what: `the backend answers every command with "HELLO THERE"; GET ${kv("g")}`,
        expected: "502",
        got: showAnswer(garbage),
      });
    }
    fake.mode = { kind: "answer", delayMs: 300 };
    const rude = [
      `GET ${kv("gone")} HTTP/1.1\r\nHost: x\r\n\r\n`, // closes before the backend answers
      `PUT ${kv("half")} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly some`, // body cut short
      "GET /kv?keys=a,,b HTTP/1.1\r\nHost: x\r\n\r\n",
      "HELLO\r\n\r\n",
    ];
    await Promise.all(rude.map((r) => hitAndRun(ctx, server.port, r)));
    for (const path of ["/kv/%ZZ", "/hash?data=x&rounds=-1", "/kv?keys=" + ",".repeat(200)]) {
      await request(ctx, server.port, "GET", path, { ms: 5_000 });
    }
    await delay(600);
    const after = stillUp(ctx, server, "clients that left mid-request and malformed requests");
    if (after) return after;
    fake.mode = { kind: "answer", delayMs: 0 };
    const leaving = await clientsLeavingMidResponse(ctx, server);
    if (leaving) return leaving;
    const fine = await request(ctx, server.port, "GET", kv("fine"), { ms: 5_000 });
    if (fine.status !== 200) {
      return ctx.fail({
        what: `after all that, GET ${kv("fine")}`,
        expected: `200 ${valueOf("fine")}`,
        got: showAnswer(fine),
      });
    }
    return ctx.pass();
  },
};

const SHUTDOWN_DELAY_MS = 1_500;

/** Opens a TCP connection to `port` and closes it: "refused", "accepted", or what went wrong. */
async function tryConnect(ctx: ProbeContext, port: number): Promise<string> {
  try {
    const connecting = ctx.dial(port, { noDelay: false });
    const conn = await within(connecting, 1_000, null);
    if (conn === null) {
      connecting.then((c) => c.close(), () => {});
      return "no answer to the connection within 1 s";
    }
    conn.close();
    return "accepted: the server still listens";
  } catch (err) {
    return err instanceof Deno.errors.ConnectionRefused ? "refused" : (err as Error).message;
  }
}

const gracefulShutdown: Probe = {
  name: "graceful-shutdown",
  title: "SIGTERM: in-flight requests finish, new connections are refused, exit 0",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §10 Shutting down gracefully",
  async run(ctx) {
    await using fake = startFakeBackend({ kind: "answer", delayMs: SHUTDOWN_DELAY_MS });
    const server = await startApp(ctx, fake.port, ["--timeout-ms", "10000"]);
    const keys = ["s1", "s2", "s3", "s4", "s5"];
    const inFlight = keys.map((k) => request(ctx, server.port, "GET", kv(k), { ms: 10_000 }));
    await delay(400);
    if (server.exited()) {
      await Promise.all(inFlight);
      return ctx.fail({
        what: "5 GETs were sent; before the probe sent SIGTERM, the server had exited",
        expected: "the server running until SIGTERM",
        output: server.output(),
      });
    }
    Deno.kill(server.pid, "SIGTERM");
    const what =
      `5 GETs were waiting for a backend that answers after ${SHUTDOWN_DELAY_MS} ms when the server got SIGTERM`;
    await delay(300);
    // A raw connect, not a request: a request would wait on the slow backend and time out
    // whether or not the server still accepts.
    const late = await tryConnect(ctx, server.port);
    const answers = await Promise.all(inFlight);
    const cut = answers.findIndex((a, i) =>
      a.status !== 200 || new TextDecoder().decode(a.body) !== valueOf(keys[i])
    );
    if (cut >= 0) {
      return ctx.fail({
        what,
        expected: `every one answered: 200 ${valueOf(keys[cut])}`,
        got: `GET ${kv(keys[cut])}: ${showAnswer(answers[cut])}`,
        note: "await server.shutdown() before closing anything",
      });
    }
    if (late !== "refused") {
      return ctx.fail({
        what: `${what}; 300 ms after SIGTERM a new client connected to port ${server.port}`,
        expected: "the connection refused: a server shutting down accepts nobody new",
        got: late,
        note: "server.shutdown() closes the listening socket at once, then waits for the rest",
      });
    }
    const answeredAt = performance.now();
    const status = await within(server.status, 5_000, null);
    const exitMs = performance.now() - answeredAt;
    if (status === null || status.code !== 0) {
      return ctx.fail({
        what: `${what}; all 5 were answered`,
        expected: "the server to exit with status 0 within 5 s of answering them",
        got: status === null
          ? "still running after 5 s"
          : `exit code ${status.code}${status.signal ? `, signal ${status.signal}` : ""}`,
        note: "close the backend connections and the Workers, then exit",
      });
    }
    return ctx.pass(`exit 0 ${Math.round(exitMs)} ms after the last answer, bound 5000 ms`);
  },
};

/**
 * The 05-async probes, in the order they run. Three pairs run at the same time, each on its own
 * server and backend: probes that mostly wait on a backend's delays, and whose bounds are a second
 * or more beyond what a correct server takes. The probes that load the CPU (`event-loop`,
 * `many-clients`) run alone.
 */
export const probes: Probe[] = gatedBy(endpoints, [
  curlClient,
  overlap,
  { ...timeout, alongside: overlap.name },
  backendDown,
  poolBound,
  { ...poolRecovers, alongside: poolBound.name },
  eventLoop,
  manyClients,
  noCrash,
  { ...gracefulShutdown, alongside: noCrash.name },
]);
