/**
 * Probes for 02-forking. Each names one bug it catches; the buggy variants beside this file
 * (variants/) prove that it does. Which process serves a connection, how many children run,
 * and what they hold open come from /proc, never from what the server prints.
 *
 * @module
 */
import {
  capabilities,
  curl,
  delay,
  gatedBy,
  haveCurl,
  isAlive,
  listenerOn,
  openFdCount,
  type Probe,
  type ProbeContext,
  processGroup,
  processTree,
  readStat,
  type Received,
  sameBytes,
  type ServerHandle,
  type ServerOptions,
  socketInodesOf,
  socketOwners,
  type Verdict,
  zombieChildren,
} from "../../kit.ts";
import {
  contains,
  describeChildren,
  type DocRoot,
  finish,
  type HeldConnection,
  hold,
  type HttpResponse,
  liveChildren,
  makeDocRoot,
  owners,
  parseResponse,
  rawRequest,
  requestLine,
  settle,
} from "./_http.ts";

/** Starts the server on `doc` with short counts injected from the run's seed. */
function startOn(
  ctx: ProbeContext,
  doc: DocRoot,
  extra: string[] = [],
  options: ServerOptions = {},
): Promise<ServerHandle> {
  return ctx.startServer({
    ...options,
    args: ["--root", doc.root, ...extra],
    env: { COURSE_SHORT_COUNTS: String(ctx.seed) },
  });
}

/** What a response must be; `note` ends the message when the status is wrong. */
interface Wanted {
  status: number;
  body?: Uint8Array;
  type?: RegExp;
  headers?: Record<string, RegExp>;
  note?: string;
}

/** Sends `request`, parses the reply, and checks status, body and closing; null when right. */
async function expect(
  ctx: ProbeContext,
  server: ServerHandle,
  request: string,
  want: Wanted,
): Promise<HttpResponse | Verdict> {
  return check(ctx, request, await rawRequest(ctx, server.port, request, 15_000), want);
}

/** Checks what came back for `request` (status, body, closing) as {@link expect} does. */
function check(
  ctx: ProbeContext,
  request: string,
  got: Received,
  want: Wanted,
): HttpResponse | Verdict {
  const sent = request;
  const r = parseResponse(got);
  if (typeof r === "string") {
    const why = got.timedOut
      ? " (nothing more came within 15 s)"
      : got.error
      ? ` (${got.error})`
      : "";
    return ctx.fail({
      what: `${r}${why}`,
      sent,
      got: got.bytes.subarray(0, 400),
      note: want.note,
    });
  }
  if (r.status !== want.status) {
    return ctx.fail({
      what: "wrong status code",
      sent,
      expected: String(want.status),
      got: String(r.status),
      note: want.note,
    });
  }
  const length = r.headers.get("content-length");
  const isHead = request.startsWith("HEAD");
  // HEAD announces the length GET would send; only known here when the file is.
  const wantLength = isHead ? want.body?.length : r.body.length;
  if (length === undefined || (wantLength !== undefined && Number(length) !== wantLength)) {
    return ctx.fail({
      what: "Content-Length is missing or does not match the body",
      sent,
      expected: wantLength === undefined
        ? "a Content-Length header"
        : `Content-Length: ${wantLength}`,
      got: length === undefined ? "no Content-Length header" : `Content-Length: ${length}`,
    });
  }
  if (want.body !== undefined && !request.startsWith("HEAD") && !sameBytes(r.body, want.body)) {
    return ctx.fail({
      what: "the body differs from the file",
      sent,
      expected: want.body,
      got: r.body,
    });
  }
  if (request.startsWith("HEAD") && r.body.length > 0) {
    return ctx.fail({ what: "a HEAD response carried a body", sent, expected: "", got: r.body });
  }
  for (
    const [name, pattern] of Object.entries({
      ...want.headers,
      ...(want.type ? { "content-type": want.type } : {}),
    })
  ) {
    const value = r.headers.get(name);
    if (value === undefined || !pattern.test(value)) {
      return ctx.fail({
        what: `header ${name} is wrong`,
        sent,
        expected: String(pattern),
        got: value ?? "(missing)",
      });
    }
  }
  if (!r.eof) {
    return ctx.fail({
      what: "the response was complete but the connection was not closed",
      sent,
      note: "HTTP/1.0 here: one request per connection, then close. The connection ends when " +
        "every process holding it has closed it: the child, and the parent's copy too",
    });
  }
  return r;
}

function failed(x: HttpResponse | Verdict): x is Verdict {
  return "passed" in x;
}

/** Runs `work(i)` for i in 0..n-1 with at most `width` at once; stops at the first failure. */
async function inParallel(
  n: number,
  width: number,
  work: (i: number) => Promise<Verdict | null>,
): Promise<Verdict | null> {
  let next = 0;
  let failure: Verdict | null = null;
  const lane = async () => {
    while (failure === null && next < n) failure = await work(next++) ?? failure;
  };
  await Promise.all(Array.from({ length: width }, lane));
  return failure;
}

/** One GET of hello.txt that must succeed; null when it did. */
async function getHello(ctx: ProbeContext, server: ServerHandle, doc: DocRoot) {
  const r = await expect(ctx, server, requestLine("GET", "/hello.txt"), {
    status: 200,
    body: doc.files["/hello.txt"],
  });
  return failed(r) ? r : null;
}

const servesFiles: Probe = {
  name: "serves-files",
  title: "GET and HEAD: files byte-exact (text, 8 MiB binary), Content-Length, Content-Type",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §2 The service",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx, 8 << 20);
    const server = await startOn(ctx, doc);
    const cases: [string, string, RegExp][] = [
      ["GET", "/hello.txt", /^text\/plain/],
      ["GET", "/page.html", /^text\/html/],
      ["GET", "/sub/inner.txt", /^text\/plain/],
      ["GET", "/data.bin", /^application\/octet-stream/],
      ["HEAD", "/data.bin", /^application\/octet-stream/],
      ["HEAD", "/hello.txt", /^text\/plain/],
    ];
    for (const [method, path, type] of cases) {
      const r = await expect(ctx, server, requestLine(method, path), {
        status: 200,
        body: doc.files[path],
        type,
      });
      if (failed(r)) return r;
    }
    return ctx.pass();
  },
};

/** Runs curl with `args`; returns its stdout, or a failed Verdict. */
async function runCurl(ctx: ProbeContext, args: string[]): Promise<Uint8Array | Verdict> {
  const out = await curl(["--max-time", "20", ...args], { ms: 25_000 });
  if (out.code !== 0) {
    return ctx.fail({
      what: `curl ${args.join(" ")} failed (exit ${out.code})`,
      output: out.stderr,
    });
  }
  return out.stdout;
}

const curlClient: Probe = {
  name: "curl-client",
  title: "curl, a real client with real headers, downloads text and binary files",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §2 The service (a request head has headers)",
  async run(ctx) {
    if (!haveCurl()) {
      return ctx.fail({
        what: "this probe needs curl",
        note: "install it: sudo apt-get install curl",
      });
    }
    await using doc = await makeDocRoot(ctx, 2 << 20);
    const server = await startOn(ctx, doc);
    const base = `http://127.0.0.1:${server.port}`;
    for (const path of ["/hello.txt", "/data.bin"]) {
      const body = await runCurl(ctx, ["--http1.0", `${base}${path}`]);
      if (!(body instanceof Uint8Array)) return body;
      if (!sameBytes(body, doc.files[path])) {
        return ctx.fail({
          what: `curl ${base}${path}: the download differs`,
          expected: doc.files[path],
          got: body,
        });
      }
    }
    const codes = await runCurl(ctx, [
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{content_type}",
      `${base}/nothing-here`,
    ]);
    if (!(codes instanceof Uint8Array)) return codes;
    const text = new TextDecoder().decode(codes);
    if (!text.startsWith("404")) {
      return ctx.fail({ what: `curl ${base}/nothing-here`, expected: "status 404", got: text });
    }
    return ctx.pass();
  },
};

/**
 * The capabilities of `pid` (CapEff in /proc/<pid>/status) that let it read a file whatever its
 * mode: root has them unless they were dropped.
 */
function fileOverrides(pid: number): string[] {
  const effective = capabilities(pid)?.effective ?? 0n; // null: gone
  const names: [bigint, string][] = [[1n, "CAP_DAC_OVERRIDE"], [2n, "CAP_DAC_READ_SEARCH"]];
  return names.filter(([bit]) => (effective >> bit) & 1n).map(([, name]) => name);
}

/**
 * GET and HEAD of a file in the root that nobody may read (mode 000): 500, none of its bytes.
 * First checks in /proc that neither the server nor the process holding the connection could
 * read it anyway; if one could (the grader is root and setpriv is missing), it says so and
 * passes, since that is no fault of the submission.
 */
async function unreadable(ctx: ProbeContext, server: ServerHandle, doc: DocRoot) {
  const locked = new TextEncoder().encode(`LOCKED ${ctx.seed} never to be served\n`);
  const path = `${doc.root}/locked.txt`;
  await Deno.writeFile(path, locked);
  await Deno.chmod(path, 0o000);
  const request = requestLine("GET", "/locked.txt");
  using held = await holdMany(ctx, server.port, 1, "/locked.txt");
  const readers = new Set([server.pid, ...await owners(server, held[0])]);
  const able = [...readers].map((p) => [p, fileOverrides(p)] as const).filter(([, c]) => c.length);
  if (able.length > 0) {
    const who = able.map(([p, caps]) => {
      const role = p === server.pid ? "the server" : "the process serving it";
      return `${role} (pid ${p}) has ${caps.join(" and ")}`;
    });
    return `every other status right; 500 not checked: ${who.join(", ")} in /proc, and with ` +
      "that root reads a mode-000 file anyway. To check it, install setpriv (util-linux), or " +
      "bubblewrap for --sandbox: either drops them. Or run the grader as an ordinary user";
  }
  const note = "locked.txt exists but has mode 000: reading it fails (EACCES, in Deno " +
    "Deno.errors.PermissionDenied), and that is a 500, not a 404 and not a closed connection";
  const got = await finish(held[0], 15_000);
  if (contains(got.bytes, locked)) {
    return ctx.fail({ what: "the server sent a file that has no read permission", sent: request });
  }
  const r = check(ctx, request, got, { status: 500, note });
  if (failed(r)) return r;
  const head = await expect(ctx, server, requestLine("HEAD", "/locked.txt"), { status: 500, note });
  return failed(head) ? head : null;
}

const statusCodes: Probe = {
  name: "status-codes",
  title: "400 for malformed requests, 403, 404, 405 with Allow, 500 for an unreadable file",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §2 The service",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    // Without root's capabilities: root reads a mode-000 file, so no 500 could be provoked.
    const server = await startOn(ctx, doc, [], { dropCapabilities: true });
    const cases: [string, number, Record<string, RegExp>?][] = [
      ["garbage\r\n\r\n", 400],
      ["GET /hello.txt\r\n\r\n", 400],
      ["GET /hello.txt HTTP/1.0\r\nno colon here\r\n\r\n", 400],
      [`GET /${"a".repeat(20_000)} HTTP/1.0\r\n\r\n`, 400],
      ["GET /%zz HTTP/1.0\r\n\r\n", 400],
      [requestLine("GET", "/missing.txt"), 404],
      [requestLine("HEAD", "/missing.txt"), 404],
      [requestLine("GET", "/sub/"), 403], // a directory without index.html: no listing
      [requestLine("POST", "/hello.txt"), 405, { allow: /GET/ }],
      [requestLine("DELETE", "/hello.txt"), 405, { allow: /HEAD/ }],
    ];
    const problems: string[] = [];
    for (const [request, status, headers] of cases) {
      const r = await expect(ctx, server, request, { status, headers });
      if (failed(r)) problems.push(r.message);
    }
    const unresolvable = await unresolvablePaths(ctx, server, doc);
    problems.push(...unresolvable);
    const locked = await unreadable(ctx, server, doc);
    if (locked !== null && typeof locked !== "string") problems.push(locked.message);
    if (problems.length > 0) {
      return ctx.fail({
        what: `${problems.length} request(s) answered wrongly, each shown below`,
        output: problems.join("\n\n"),
      });
    }
    return ctx.pass(typeof locked === "string" ? locked : undefined);
  },
};

/**
 * Paths that cannot be resolved: a symlink loop (ELOOP) and, when the server runs without
 * root's file capabilities, a file in a directory nobody may search (EACCES). Each needs an
 * error response (403 or 500), not a child that crashes and closes the connection. Returns
 * what went wrong, one entry per path.
 */
async function unresolvablePaths(ctx: ProbeContext, server: ServerHandle, doc: DocRoot) {
  const paths = ["/loop"];
  const dir = `${doc.root}/private`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/notes.txt`, "private notes\n");
  await Deno.chmod(dir, 0o000);
  if (fileOverrides(server.pid).length === 0) paths.push("/private/notes.txt");
  const problems: string[] = [];
  try {
    for (const path of paths) {
      const request = requestLine("GET", path);
      const got = await rawRequest(ctx, server.port, request, 10_000);
      const r = parseResponse(got);
      if (typeof r === "string" || (r.status !== 403 && r.status !== 500)) {
        const what = typeof r === "string" ? r : `status ${r.status}`;
        problems.push(
          `${request.trim()}: expected an error response (403 or 500), got ${what}: ` +
            (path === "/loop"
              ? "loop is a symlink to itself, so realPathSync throws (ELOOP)"
              : "private/ has mode 000, so resolving the path fails (EACCES)"),
        );
      }
    }
  } finally {
    await Deno.chmod(dir, 0o755);
  }
  return problems;
}

const pathTraversal: Probe = {
  name: "path-traversal",
  title: "Paths that leave the root get 403 and not one byte of the file",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §3 Staying inside the root",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    const paths = [
      "/../secret.txt",
      "/sub/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/sub/%2e%2e/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/../no-such-file.txt", // leaves the root even though nothing is there: 403, not 404
      "/link",
      "/sub/up/secret.txt",
      "/neighbour", // to base/www-private: starts with the root's path, yet is outside it
      "/gone", // a symlink to a file outside that does not exist: still 403, not 404
      "/sub/../hello.txt", // ends inside, but any '..' segment is refused (§3's first check)
    ];
    const problems: string[] = [];
    for (const path of paths) {
      const request = requestLine("GET", path);
      const got = await rawRequest(ctx, server.port, request, 10_000);
      if (contains(got.bytes, doc.secret)) {
        problems.push(`${path}: the secret file's bytes came back`);
        continue;
      }
      const r = parseResponse(got);
      const status = typeof r === "string" ? r : String(r.status);
      if (status !== "403") problems.push(`${path}: ${status}`);
    }
    for (const path of ["/./hello.txt", "/%68ello.txt"]) { // inside the root after all
      const r = await expect(ctx, server, requestLine("GET", path), {
        status: 200,
        body: doc.files["/hello.txt"],
      });
      if (failed(r)) problems.push(`${path} (inside the root): ${r.message.split("\n")[0]}`);
    }
    if (problems.length > 0) {
      return ctx.fail({
        what: `${problems.length} of ${paths.length + 2} paths answered wrongly: ` +
          problems.join("; "),
        expected: "403 for each path with a '..' segment or that leaves the root (even to a " +
          "file that does not exist), 200 for the two that stay inside",
        note: "decode first, refuse '..', then compare the real path with the root's (§3)",
      });
    }
    return ctx.pass(`${paths.length} paths refused, 2 inside served`);
  },
};

/** Holds `n` connections open (half a request each); closes them all on dispose. */
async function holdMany(ctx: ProbeContext, port: number, n: number, path?: string) {
  const held: HeldConnection[] = [];
  for (let i = 0; i < n; i++) held.push(await hold(ctx, port, path));
  return Object.assign(held, {
    [Symbol.dispose]: () =>
      held.forEach((h) => {
        try {
          h.conn.close();
        } catch { /* closed */ }
      }),
  });
}

/** Finishes a held request and checks that hello.txt came back; null when it did. */
async function finishHello(ctx: ProbeContext, h: HeldConnection, doc: DocRoot, what: string) {
  const r = parseResponse(await finish(h, 15_000));
  if (typeof r === "string" || r.status !== 200 || !sameBytes(r.body, doc.files["/hello.txt"])) {
    return ctx.fail({
      what: `${what}: its request was not answered with the file`,
      got: typeof r === "string" ? r : `status ${r.status}, ${r.body.length} body bytes`,
    });
  }
  return null;
}

/**
 * Architecture first: the held connection `h` must be served by a child process of the server,
 * as /proc shows. Null when it is; else the failure. Every probe that measures children calls
 * it before measuring, so a server that serves in the parent (or in a thread of it) scores
 * nothing there, rather than passing a count of zero children for free.
 */
async function servedByChild(
  ctx: ProbeContext,
  server: ServerHandle,
  h: HeldConnection,
): Promise<Verdict | null> {
  const pids = await owners(server, h);
  const tree = processTree(server.pid);
  // A child must hold it; whether the parent keeps a copy too is closes-copy's business (§5).
  if (pids.some((p) => p !== server.pid && tree.includes(p))) return null;
  return ctx.fail({
    what: "a client sent half a request; /proc shows which process holds its socket",
    expected: "a child process of the server (this probe measures children: first, are there any?)",
    got: pids.length === 0
      ? "nobody holds it"
      : `pids ${pids.join(", ")} (the server is ${server.pid})`,
    note: "each connection is served by a process of its own, started by the parent (§4)",
  });
}

/** {@link servedByChild} on a connection of its own, which is then finished and checked. */
async function provesChildren(ctx: ProbeContext, server: ServerHandle, doc: DocRoot) {
  using held = await holdMany(ctx, server.port, 1);
  return await servedByChild(ctx, server, held[0]) ??
    await finishHello(ctx, held[0], doc, "the held connection");
}

const childServes: Probe = {
  name: "child-serves",
  title: "Each connection is served by its own process, not by the parent (seen in /proc)",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 A process per connection",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    using held = await holdMany(ctx, server.port, 2);
    const seen: number[][] = [];
    for (const h of held) seen.push(await owners(server, h));
    for (const pids of seen) {
      if (pids.length === 0 || pids.includes(server.pid)) {
        return ctx.fail({
          what: "two clients connected and sent half a request; /proc shows who holds each socket",
          expected: "a child process of the server, not the server itself",
          got: pids.length === 0
            ? "nobody holds it"
            : `pids ${pids.join(", ")} (server is ${server.pid})`,
          note: "the parent must hand the connection to a new process and close its own copy",
        });
      }
    }
    const tree = processTree(server.pid);
    if (!seen.every((pids) => pids.every((p) => tree.includes(p)))) {
      return ctx.fail({
        what: "the sockets are held by processes that are not the server's children",
        got: seen.join(" / "),
      });
    }
    if (seen[0].some((p) => seen[1].includes(p))) {
      return ctx.fail({
        what: "two connections are served by the same process",
        got: seen.join(" / "),
      });
    }
    for (const h of held) {
      const bad = await finishHello(ctx, h, doc, "a held connection");
      if (bad) return bad;
    }
    return ctx.pass(`served by pids ${seen.join(" and ")}`);
  },
};

const childNoListener: Probe = {
  name: "child-no-listener",
  title: "A child does not inherit the listening socket (close-on-exec)",
  points: 2,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §5 Inherited descriptors and close-on-exec",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    const inode = listenerOn(server.port)?.inode ?? null;
    if (inode === null) {
      return ctx.fail({ what: `no socket listens on port ${server.port} in /proc/net/tcp` });
    }
    using held = await holdMany(ctx, server.port, 1);
    const pids = await owners(server, held[0]);
    const children = pids.filter((p) => p !== server.pid);
    if (children.length === 0) {
      return ctx.fail({
        what: "no child process holds the connection",
        got: pids.join(", ") || "nobody",
      });
    }
    const leaky = children.filter((p) => socketInodesOf(p).has(inode));
    if (leaky.length > 0) {
      return ctx.fail({
        what: `child ${leaky.join(", ")} holds the listening socket (inode ${inode}) too`,
        note: "set FD_CLOEXEC on the listener (fcntl F_SETFD) or create it with SOCK_CLOEXEC",
      });
    }
    return await finishHello(ctx, held[0], doc, "the held connection") ?? ctx.pass();
  },
};

const concurrent: Probe = {
  name: "concurrent",
  title: "With 4 clients connected and silent, a new client is still served within 5 s",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §4 A process per connection",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    using held = await holdMany(ctx, server.port, 4);
    const architecture = await servedByChild(ctx, server, held[0]);
    if (architecture) return architecture;
    const started = Date.now();
    const got = await rawRequest(ctx, server.port, requestLine("GET", "/hello.txt"), 5_000);
    const r = parseResponse(got);
    if (typeof r === "string" || r.status !== 200 || !sameBytes(r.body, doc.files["/hello.txt"])) {
      return ctx.fail({
        what: "4 clients sent half a request and went silent; a fifth asked for /hello.txt",
        expected: "the file within 5 s",
        got: typeof r === "string" ? `${r} after ${Date.now() - started} ms` : `status ${r.status}`,
        note: "does the parent wait for a child before accepting the next connection?",
      });
    }
    return ctx.pass(`answered in ${Date.now() - started} ms, bound 5000 ms`);
  },
};

/** SIGKILL to `pid`; one that has exited already (ESRCH) is no error. */
function killIfAlive(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

const isolation: Probe = {
  name: "isolation",
  title: "SIGKILL to one child leaves the listener and the other connections working",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §7 Isolation",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    using held = await holdMany(ctx, server.port, 3);
    const victims = (await owners(server, held[0])).filter((p) => p !== server.pid);
    if (victims.length === 0) {
      return ctx.fail({ what: "no child process holds the first connection" });
    }
    victims.forEach(killIfAlive);
    // The parent hears of it when it reaps the victim: wait for that (bounded), then give a
    // parent that mishandles the news a moment to go down before looking.
    const end = Date.now() + 5_000;
    while (Date.now() < end && victims.some((p) => readStat(p) !== null)) await delay(25);
    await delay(300);
    if (server.exited()) {
      return ctx.fail({
        what: `after SIGKILL to child ${victims.join(", ")}, the server exited`,
        expected: "the parent goes on serving; a failed child is news, not an error",
        output: server.output().slice(-1500),
      });
    }
    for (const h of held.slice(1)) {
      const bad = await finishHello(
        ctx,
        h,
        doc,
        `after SIGKILL to child ${victims.join(", ")}, another connection`,
      );
      if (bad) return bad;
    }
    const fresh = await getHello(ctx, server, doc);
    if (fresh || server.exited()) {
      return ctx.fail({
        what: `after SIGKILL to child ${victims.join(", ")}, a new connection was not served`,
        got: server.exited() ? "the server exited" : fresh!.message,
        output: server.output().slice(-1500),
      });
    }
    return ctx.pass();
  },
};

/**
 * Waits (up to 10 s) for the children of `pid` to finish exiting, then returns the zombies seen
 * twice, 1 s apart: a child caught between its exit and its reaping is no bug; one still
 * unreaped a second later is.
 */
async function lastingZombies(pid: number): Promise<number[]> {
  const end = Date.now() + 10_000;
  while (Date.now() < end && liveChildren(pid).length > 0) await delay(50);
  const first = zombieChildren(pid);
  await delay(1_000);
  return zombieChildren(pid).filter((z) => first.includes(z));
}

/** Connections per round of the zombie probe, and rounds: more in all than --max-children's 64. */
const ZOMBIE_ROUND = 40;
const ZOMBIE_ROUNDS = 2;

const noZombies: Probe = {
  name: "no-zombies",
  title: `After ${ZOMBIE_ROUND * ZOMBIE_ROUNDS} connections no child is left a zombie`,
  points: 3,
  visibility: "visible",
  deadlineMs: 120_000, // 80 Deno starts: about 8 s on an idle 2-core machine, 40 s on a busy one
  hint: "README.md §6 Reaping: zombies",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    const architecture = await provesChildren(ctx, server, doc);
    if (architecture) return architecture;
    // In rounds, so a server that leaves zombies fails after the first; more connections in all
    // than the default --max-children, so reaping that breaks once 64 children have come and
    // gone (a table that fills up) fails too.
    const total = ZOMBIE_ROUND * ZOMBIE_ROUNDS;
    for (let served = ZOMBIE_ROUND; served <= total; served += ZOMBIE_ROUND) {
      const bad = await inParallel(ZOMBIE_ROUND, 6, () => getHello(ctx, server, doc));
      if (bad) return bad;
      const zombies = await lastingZombies(server.pid);
      if (zombies.length > 0) {
        return ctx.fail({
          what:
            `${served} connections served; /proc shows exited children still unreaped 1 s later`,
          expected: "0 zombie children",
          got: `${zombies.length} (state Z, parent ${server.pid})`,
          note: "a child is reaped when its status is collected; that needs the event loop to run",
        });
      }
    }
    return ctx.pass(
      `0 zombies after each of ${ZOMBIE_ROUNDS} rounds of ${ZOMBIE_ROUND} connections, bound 0`,
    );
  },
};

const closesCopy: Probe = {
  name: "closes-copy",
  title: "The parent closes its copy of each connection: clients see the close, fds do not grow",
  points: 2,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §5 Inherited descriptors and close-on-exec",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc);
    const architecture = await provesChildren(ctx, server, doc);
    if (architecture) return architecture;
    for (let i = 0; i < 3; i++) {
      const bad = await getHello(ctx, server, doc);
      if (bad) return bad;
    }
    await settle(server.pid);
    const before = openFdCount(server.pid);
    const bad = await inParallel(30, 4, () => getHello(ctx, server, doc));
    if (bad) return bad;
    await settle(server.pid);
    const after = openFdCount(server.pid);
    if (after - before > 10) {
      return ctx.fail({
        what: "30 more connections served",
        expected: `about ${before} open fds in the parent (/proc/${server.pid}/fd)`,
        got: `${after}: ${after - before} more`,
        note: "after starting the child, the parent must close the connection's fd",
      });
    }
    return ctx.pass(`parent fds: ${before} before, ${after} after 30 connections, bound +10`);
  },
};

/** The limit the max-children probe gives the server, and the clients it sends at once. */
const LIMIT = 3;
const CROWD = 7;

/**
 * One round of the max-children probe: {@link CROWD} clients hold a request open; the children
 * counted in /proc over 1.5 s must reach the limit exactly (N works) and never pass it; then
 * every client is answered (N+1 and on wait, they are not refused). Returns the peak, or the
 * failure, every unanswered client named.
 */
async function limitRound(ctx: ProbeContext, server: ServerHandle, doc: DocRoot, when: string) {
  using held = await holdMany(ctx, server.port, CROWD);
  const what = `${when}: ${CROWD} clients connected and sent half a request, with ` +
    `--max-children ${LIMIT}`;
  if ((await owners(server, held[0])).length === 0) { // a stall, named as such
    const accepted = held.filter((h) =>
      socketOwners({ port: server.port }, { port: h.localPort }).length > 0
    );
    return ctx.fail({
      what,
      expected: `${LIMIT} of them served by children at once`,
      got: `accepted ${accepted.length} of ${CROWD}, none for 3 s`,
      note: "is a child's place freed whenever it exits, however it exits (§8)?",
    });
  }
  const architecture = await servedByChild(ctx, server, held[0]);
  if (architecture) return architecture;
  let most = 0;
  // Children show in /proc from their spawn, before their Deno starts: a server that ignores the
  // limit has all 7 within milliseconds.
  for (const end = Date.now() + 1_500; Date.now() < end; await delay(50)) {
    most = Math.max(most, liveChildren(server.pid).length);
  }
  if (most !== LIMIT) {
    return ctx.fail({
      what,
      expected: `exactly ${LIMIT} children at the busiest moment (from /proc): never more, and ` +
        `no fewer while clients wait`,
      got: `at most ${most} children`,
      note: most < LIMIT
        ? "is a child's place freed whenever it exits, however it exits (§8)?"
        : undefined,
    });
  }
  const results = await Promise.all(
    held.map((h, i) => finishHello(ctx, h, doc, `client ${i + 1} of ${CROWD}`)),
  );
  const unanswered = results.filter((r) => r !== null);
  if (unanswered.length > 0) {
    return ctx.fail({
      what: `${what}: ${CROWD - unanswered.length} of ${CROWD} answered`,
      expected: "every client answered as children finish: the excess waits in the backlog",
      output: unanswered.map((r) => r!.message).join("\n"),
    });
  }
  return most;
}

/** A burst of failures: `n` children killed mid-request, then `n` clients that reset. */
async function failureBurst(ctx: ProbeContext, server: ServerHandle, n: number) {
  using held = await holdMany(ctx, server.port, n);
  const victims: number[] = [];
  for (const h of held) {
    victims.push(...(await owners(server, h)).filter((p) => p !== server.pid));
  }
  victims.forEach(killIfAlive);
  const end = Date.now() + 5_000;
  while (Date.now() < end && victims.some((p) => readStat(p) !== null)) await delay(25);
  for (let i = 0; i < n; i++) {
    using rude = await holdMany(ctx, server.port, 1);
    await owners(server, rude[0]);
    rude[0].conn.reset();
  }
  await settle(server.pid);
  return victims.length;
}

const maxChildren: Probe = {
  name: "max-children",
  title: `--max-children ${LIMIT}: exactly ${LIMIT} children at most (in /proc), the rest ` +
    "served later, the same after children crash",
  points: 3,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §8 Back-pressure: --max-children",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc, ["--max-children", String(LIMIT)]);
    await settle(server.pid);
    const first = await limitRound(ctx, server, doc, "first round");
    if (typeof first !== "number") return first;
    const killed = await failureBurst(ctx, server, LIMIT);
    const when = `after ${killed} children were killed and ${LIMIT} clients reset`;
    const second = await limitRound(ctx, server, doc, when);
    if (typeof second !== "number") return second;
    return ctx.pass(
      `children at most ${first} of ${LIMIT}, and ${second} of ${LIMIT} ${when}; ` +
        `all ${2 * CROWD} clients answered`,
    );
  },
};

/**
 * Starts the server with `extra`, holds `n` connections, sends SIGTERM to the parent only, and
 * checks in /proc that it and every process it started are gone within 5 s; null when they are.
 */
async function terminated(ctx: ProbeContext, doc: DocRoot, extra: string[], n: number) {
  // In the sandbox too, orphans must outlive the server, or they would pass for stopped.
  const server = await startOn(ctx, doc, extra, { keepLeftovers: true });
  using held = await holdMany(ctx, server.port, n);
  const architecture = await servedByChild(ctx, server, held[0]);
  if (architecture) return architecture;
  for (const h of held.slice(1)) await owners(server, h);
  const tree = processTree(server.pid);
  Deno.kill(server.pid, "SIGTERM");
  const end = Date.now() + 5_000;
  while (Date.now() < end && [...tree, ...processGroup(server.pid)].some(isAlive)) {
    await delay(50);
  }
  // The grader started the server as the leader of its own process group: anything it
  // started since the snapshot is in that group too.
  const left = [...new Set([...tree, ...processGroup(server.pid)])].filter(isAlive);
  if (left.length > 0) {
    const how = extra.length > 0 ? `, started with ${extra.join(" ")},` : "";
    return ctx.fail({
      what: `SIGTERM sent to the server (pid ${server.pid})${how} with ${n} connections open`,
      expected: `the server and its children (${tree.join(", ")}) gone within 5 s`,
      got: `still running: ${left.join(", ")}${left.includes(server.pid) ? "" : " (orphans)"}`,
      note: extra.length > 0
        ? "the pool's workers are children too: stop them as in §9"
        : undefined,
    });
  }
  return null;
}

const sigterm: Probe = {
  name: "sigterm",
  title: "SIGTERM to the parent ends it and every child within 5 s, pool workers too",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §9 Shutting down: SIGTERM",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    return await terminated(ctx, doc, [], 3) ??
      await terminated(ctx, doc, ["--prefork", "2"], 2) ?? ctx.pass();
  },
};

/** Serves `n` connections one at a time, noting the pid that held each. */
async function ownersInTurn(ctx: ProbeContext, server: ServerHandle, doc: DocRoot, n: number) {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    using held = await holdMany(ctx, server.port, 1);
    // Up to 10 s: when every worker has just retired, the connection waits for a new one.
    const pids = (await owners(server, held[0], 10_000)).filter((p) => p !== server.pid);
    if (pids.length !== 1) {
      return ctx.fail({
        what: `connection ${i + 1} to the pool: expected one worker to hold it (from /proc)`,
        got: pids.join(", ") || "nobody accepted it within 10 s",
        note: pids.length === 0 ? "are the workers that retire replaced?" : undefined,
      });
    }
    const bad = await finishHello(ctx, held[0], doc, `connection ${i + 1} to the pool`);
    if (bad) return bad;
    seen.push(pids[0]);
  }
  return seen;
}

const preforkReuses: Probe = {
  name: "prefork-reuses",
  title: "--prefork 3: connections are served by the same few workers, no new process each",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §10 Step 2: a pre-forked pool",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc, ["--prefork", "3"]);
    const seen = await ownersInTurn(ctx, server, doc, 9);
    if (!Array.isArray(seen)) return seen;
    const distinct = new Set(seen);
    if (distinct.size > 3) {
      return ctx.fail({
        what: "9 connections one after another to a pool of 3 (owners from /proc)",
        expected: "at most 3 different worker pids",
        got: `${distinct.size}: ${seen.join(", ")}`,
      });
    }
    return ctx.pass(`${distinct.size} worker pids of at most 3: ${seen.join(", ")}`);
  },
};

/**
 * The live children of `pid` once the pool has settled at `n`: the same `n` pids in two looks
 * 300 ms apart. A worker that has just retired (it exits after its last connection closes)
 * is still seen in one look and gone in the next, and its replacement appears a moment later,
 * so one look could catch the pool between the two. Waits up to 5 s; then returns the last look.
 */
async function settledPool(pid: number, n: number): Promise<number[]> {
  const end = Date.now() + 5_000;
  let last = liveChildren(pid);
  while (Date.now() < end) {
    await delay(300);
    const now = liveChildren(pid);
    if (now.length === n && last.length === n && now.every((p) => last.includes(p))) return now;
    last = now;
  }
  return last;
}

const preforkReplaces: Probe = {
  name: "prefork-replaces",
  title: "--prefork 2 --requests 3: workers retire after 3 connections and are replaced",
  points: 2,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §10 Step 2: a pre-forked pool",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await startOn(ctx, doc, ["--prefork", "2", "--requests", "3"]);
    const seen = await ownersInTurn(ctx, server, doc, 12);
    if (!Array.isArray(seen)) return seen;
    const counts = new Map<number, number>();
    for (const pid of seen) counts.set(pid, (counts.get(pid) ?? 0) + 1);
    const overworked = [...counts].filter(([, n]) => n > 3);
    if (overworked.length > 0) {
      return ctx.fail({
        what: "12 connections to a pool of 2 workers with --requests 3",
        expected: "no worker serves more than 3",
        got: overworked.map(([p, n]) => `pid ${p} served ${n}`).join(", "),
      });
    }
    const pool = await settledPool(server.pid, 2);
    if (pool.length !== 2) {
      return ctx.fail({
        what: "12 connections to a pool of 2 workers with --requests 3; then up to 5 s for the " +
          "workers that retired to be replaced",
        expected: "the same 2 live workers in two looks 300 ms apart (from /proc)",
        got: `${pool.length}; the server's children now: ${describeChildren(server.pid)}`,
        note: pool.length < 2
          ? "start a new worker as soon as one exits (§10)"
          : "keep exactly --prefork workers: one new worker for each that exits (§10)",
      });
    }
    const most = Math.max(...counts.values());
    return ctx.pass(
      `${counts.size} workers served 12, at most ${most} each of 3; 2 of 2 workers remain`,
    );
  },
};

/** The 02-forking probes, in the order they run. */
export const probes: Probe[] = gatedBy(servesFiles, [
  curlClient,
  statusCodes,
  pathTraversal,
  childServes,
  childNoListener,
  concurrent,
  isolation,
  noZombies,
  closesCopy,
  maxChildren,
  sigterm,
  preforkReuses,
  preforkReplaces,
]);
