/**
 * Probes for 01-echo. Each names one bug it catches; the buggy variants
 * beside this file (variants/) prove that it does.
 *
 * Every server probe runs the student's server with short-count injection on
 * (COURSE_SHORT_COUNTS): the course library's read and write then move fewer
 * bytes than asked now and then, as the kernel is allowed to.
 *
 * @module
 */
import type { Probe, ProbeContext, ProgramResult, ServerHandle, Verdict } from "../../kit.ts";
import { openFdCount, tcpSockets } from "../../kit.ts";
import { within } from "../../kit.ts";
import { type Received, sameBytes } from "../../kit.ts";
import { haveProgram, type Peer, startEchoPeer, startSocatEcho } from "./_peers.ts";
import { missingCalls } from "./_lesson.ts";

const encoder = new TextEncoder();

/** Starts the student's server with short counts injected from the run's seed. */
function startEcho(ctx: ProbeContext): Promise<ServerHandle> {
  return ctx.startServer({ env: shortCounts(ctx) });
}

function shortCounts(ctx: ProbeContext): Record<string, string> {
  return { COURSE_SHORT_COUNTS: String(ctx.seed) };
}

/** Every byte value 0..255, twice, so NUL, CR, LF and non-UTF-8 bytes all appear. */
function allByteValues(): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < out.length; i++) out[i] = i % 256;
  return out;
}

/** Sends `bytes`, half-closes, and checks the exact echo followed by end of file. */
async function expectEcho(
  ctx: ProbeContext,
  server: ServerHandle,
  bytes: Uint8Array,
  ms: number,
): Promise<Verdict | null> {
  const conn = await ctx.dial(server.port);
  const got = await conn.exchange(bytes, { ms }).finally(() => conn.close());
  return judgeEcho(ctx, `${bytes.length} bytes sent, then a half-close`, bytes, got, ms);
}

/** Null when `got` is exactly `bytes` followed by end of file; else the failure, explained. */
function judgeEcho(
  ctx: ProbeContext,
  what: string,
  bytes: Uint8Array,
  got: Received,
  ms: number,
): Verdict | null {
  if (!sameBytes(got.bytes, bytes)) {
    const why = got.timedOut
      ? `the server stopped sending and did not close within ${ms / 1000} s`
      : got.error
      ? `the connection failed: ${got.error}`
      : "the server closed the connection";
    return ctx.fail({
      what: `${what}: the echo differs (${why})`,
      expected: bytes,
      got: got.bytes,
    });
  }
  if (!got.eof) {
    return ctx.fail({
      what: `${what}: every byte came back, but the server did not close the connection`,
      note: `waited ${ms / 1000} s for end of file: does the server close when read returns 0?`,
    });
  }
  return null;
}

/**
 * The stderr of a program that failed on purpose: one line, no stack trace,
 * naming the cause (`cause` matches, e.g. the errno name that SysError's
 * message carries), so "not written yet" does not pass for an error report.
 */
function oneClearLine(stderr: string, cause: RegExp): string | null {
  const lines = stderr.trim().split("\n").filter((line) => line.trim() !== "");
  if (lines.length === 0) return "it printed nothing on stderr";
  if (lines.some((line) => /^\s+at /.test(line) || line.includes("Uncaught"))) {
    return "it printed a stack trace instead of one clear line";
  }
  if (lines.length > 1) return `it printed ${lines.length} lines on stderr, not one`;
  if (!cause.test(lines[0])) return `its line does not say what went wrong (expected ${cause})`;
  return null;
}

const serverAllBytes: Probe = {
  name: "server-all-bytes",
  title: "Server echoes every byte value exactly",
  points: 2,
  visibility: "visible",
  deadlineMs: 15_000,
  hint: "README.md §2 The protocol (bytes, not text)",
  async run(ctx) {
    const server = await startEcho(ctx);
    return await expectEcho(ctx, server, allByteValues(), 5_000) ?? ctx.pass();
  },
};

const serverLargePayload: Probe = {
  name: "server-large-payload",
  title: "Server echoes an 8 MiB payload sent at once",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 Short counts",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await startEcho(ctx);
    return await expectEcho(ctx, server, ctx.bytes(8 << 20), 20_000) ?? ctx.pass();
  },
};

const serverInteractive: Probe = {
  name: "server-interactive",
  title: "Server echoes each byte as it arrives (10,000 one-byte writes)",
  points: 2,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 Short counts (read returns what is there)",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await startEcho(ctx);
    const conn = await ctx.dial(server.port);
    let slowest = 0;
    try {
      for (let i = 0; i < 10_000; i++) {
        const byte = Uint8Array.of(i % 256);
        const sent = Date.now();
        await conn.send(byte);
        const got = await conn.receive({ ms: 2_000, limit: 1 });
        slowest = Math.max(slowest, Date.now() - sent);
        if (!sameBytes(got.bytes, byte)) {
          return ctx.fail({
            what: `one-byte write number ${i + 1} was not echoed back within 2 s`,
            sent: byte,
            expected: byte,
            got: got.bytes,
            note: got.eof ? "the server closed the connection" : undefined,
          });
        }
      }
      await conn.closeWrite();
      const end = await conn.receive({ ms: 5_000 });
      if (!end.eof || end.bytes.length > 0) {
        return ctx.fail({
          what: "after 10,000 echoed bytes and a half-close, expected end of file",
          expected: "",
          got: end.bytes,
          note: end.timedOut ? "the server did not close within 5 s" : undefined,
        });
      }
      return ctx.pass(`slowest of 10,000 echoes ${slowest} ms, bound 2000 ms`);
    } finally {
      conn.close();
    }
  },
};

const serverHalfClose: Probe = {
  name: "server-half-close",
  title: "Server finishes the echo after the client half-closes, then closes",
  points: 2,
  visibility: "visible",
  deadlineMs: 15_000,
  hint: "README.md §5 Half-close",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await startEcho(ctx);
    // Everything is sent and the write side shut before a single byte is read back.
    const conn = await ctx.dial(server.port);
    const bytes = ctx.bytes(1 << 20);
    try {
      await conn.send(bytes.subarray(0, 50_000));
      const sending = conn.send(bytes.subarray(50_000)).then(() => conn.closeWrite());
      sending.catch(() => {});
      const got = await conn.receive({ ms: 5_000 });
      const what = "1 MiB sent and the write side shut before reading any reply";
      const failed = judgeEcho(ctx, what, bytes, got, 5_000);
      if (failed) return failed;
      return ctx.pass();
    } finally {
      conn.close();
    }
  },
};

/** `st` in /proc/net/tcp for TIME-WAIT. */
const TCP_TIME_WAIT = "06";

/** A session that ends on an error path: a reset mid-echo, or a close with nothing sent. */
async function rudeSession(ctx: ProbeContext, port: number, i: number): Promise<void> {
  if (i % 2 === 0) {
    await resetMidTransfer(ctx, port, ctx.bytes(256 * 1024), 5_000);
  } else {
    const conn = await ctx.dial(port);
    conn.close(); // a full close with nothing sent: the server reads end of file at once
  }
}

const serverFdLeak: Probe = {
  name: "server-fd-leak",
  title: "200 clients in a row, then 100 that reset or leave: the open-fd count does not grow",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §6 Closing what you open",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await startEcho(ctx);
    // Each session must end (the server closes); whether its bytes came back right is other
    // probes' business, so a short-count bug is not reported here as a leak.
    const session = async (i: number) => {
      const conn = await ctx.dial(server.port);
      const got = await conn.exchange(encoder.encode(`client ${i}\n`), { ms: 5_000 })
        .finally(() => conn.close());
      if (got.eof) return null;
      return ctx.fail({
        what: `client ${i + 1} sent a line and half-closed: the server did not close within 5 s`,
        note: `${i} clients were served before it: does the server close when read returns 0?`,
      });
    };
    for (let i = 0; i < 5; i++) { // warm-up: the runtime opens a few fds of its own at first
      const failed = await session(i);
      if (failed) return failed;
    }
    const counts = [openFdCount(server.pid)];
    const problems: string[] = [];
    for (let i = 5; i < 205; i++) {
      const failed = await session(i);
      if (failed) return failed;
    }
    counts.push(openFdCount(server.pid));
    if (counts[1] - counts[0] > 10) {
      problems.push(`200 clients echoed and closed: ${counts[0]} -> ${counts[1]} open fds`);
    }
    for (let i = 0; i < 100 && !server.exited(); i++) {
      await rudeSession(ctx, server.port, i).catch(() => {});
    }
    if (server.exited()) {
      return ctx.fail({
        what: "clients that reset mid-echo or closed without sending: the server exited",
        expected: "the server to close each such client's fd and go on (§7, then §6)",
        output: server.output().slice(-1500),
      });
    }
    // An iterative server serves this one only after every rude session has ended.
    const failed = await session(1_000);
    if (failed) return failed;
    counts.push(openFdCount(server.pid));
    if (counts[2] - counts[1] > 10) {
      problems.push(
        `100 clients that reset mid-echo or closed without sending: ${counts[1]} -> ${
          counts[2]
        } open fds`,
      );
    }
    if (problems.length > 0) {
      return ctx.fail({
        what: `the server's open fds (from /proc/${server.pid}/fd) grew: ${problems.join("; ")}`,
        expected: "at most 10 more than before each batch",
        note: "each accepted connection's fd must be closed on every path: after end of file " +
          "and after an error (close in a finally)",
      });
    }
    return ctx.pass(
      `open fds ${counts.join(" -> ")} over 200 clients then 100 rude ones, bound +10 each`,
    );
  },
};

const serverRestart: Probe = {
  name: "server-restart",
  title: "Stopped with clients connected, the server restarts at once on the same port",
  points: 1,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §3 The socket calls (Why SO_REUSEADDR)",
  needs: "server-all-bytes",
  async run(ctx) {
    const first = await startEcho(ctx);
    // A session in the middle of its echo: stopping the server makes the kernel close the
    // server's end first, so that end sits in TIME-WAIT on the server's port afterwards.
    const conn = await ctx.dial(first.port);
    const hello = encoder.encode("hello before the restart\n");
    await conn.send(hello);
    await conn.readExactly(hello.length, { ms: 5_000 });
    await first.stop();
    await conn.receive({ ms: 2_000 }); // the server's FIN
    conn.close();
    const waiting =
      tcpSockets().filter((s) => s.localPort === first.port && s.state === TCP_TIME_WAIT).length;
    let second: ServerHandle;
    try {
      second = await ctx.startServer({ port: first.port, env: shortCounts(ctx), readyMs: 5_000 });
    } catch (err) {
      return ctx.fail({
        what: `stopped the server and started it again on port ${first.port} at once, with ` +
          `${waiting} of its connections in TIME-WAIT`,
        expected: "the server to listen again",
        got: (err as Error).message,
        note: "set SO_REUSEADDR on the listening socket before bind",
      });
    }
    const failed = await expectEcho(ctx, second, hello, 5_000);
    return failed ?? ctx.pass(`restarted with ${waiting} connection(s) in TIME-WAIT on the port`);
  },
};

/**
 * Connects, sends `bytes` (until the buffers are full: the write is left pending), waits up
 * to `ms` for the first echoed byte, then resets the connection (SO_LINGER 0), which makes
 * the kernel send a reset (RST) instead of a normal close. The server learns
 * of it on its next read or write on that connection, whatever it is doing.
 * Returns whether the echo had started.
 */
async function resetMidTransfer(
  ctx: ProbeContext,
  port: number,
  bytes: Uint8Array,
  ms: number,
): Promise<boolean> {
  const conn = await ctx.dial(port);
  try {
    conn.armReset(); // before the transfer: the reset then leaves at once
    conn.send(bytes).catch(() => {}); // ends with an error when the reset closes it
    const echo = await conn.readSome({ ms });
    return echo.bytes.length > 0;
  } finally {
    conn.reset();
  }
}

const serverSurvivesReset: Probe = {
  name: "server-survives-reset",
  title: "A client that resets mid-transfer does not stop the server",
  points: 2,
  visibility: "visible",
  deadlineMs: 20_000,
  hint: "README.md §7 When things go wrong",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await startEcho(ctx);
    if (!await resetMidTransfer(ctx, server.port, ctx.bytes(1 << 20), 5_000)) {
      return ctx.fail({ what: "sent 1 MiB: expected the echo to start within 5 s", got: "" });
    }
    const next = encoder.encode("still there?\n");
    const failed = await expectEcho(ctx, server, next, 5_000).catch((err: Error) =>
      ctx.fail({ what: "after the reset, a new client could not connect", got: err.message })
    );
    if (failed) {
      await within(server.status, 1_000, null); // did it die of the reset?
    }
    if (server.exited()) {
      return ctx.fail({
        what: "a client reset its connection (RST) in the middle of the echo",
        expected: "the server to drop that client and serve the next one",
        got: "the server process exited",
        note: `server output:\n${server.output().slice(-1500)}`,
      });
    }
    return failed ?? ctx.pass();
  },
};

const serverBadArgs: Probe = {
  name: "server-bad-args",
  title: "Server: port in use or a bad port gives one clear line and a non-zero exit",
  points: 1,
  visibility: "visible",
  deadlineMs: 20_000,
  hint: "README.md §7 When things go wrong",
  async run(ctx) {
    using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const cases: [string[], RegExp][] = [
      [["--port", String(busy.addr.port)], /EADDRINUSE|in use/i],
      [["--port", "banana"], /port/i],
    ];
    for (const [args, cause] of cases) {
      const result = await ctx.runProgram("server", args, { timeoutMs: 8_000 });
      const what = `started the server with ${args.join(" ")}`;
      if (result.timedOut) {
        return ctx.fail({ what, expected: "a non-zero exit", got: "still running after 8 s" });
      }
      if (result.code === 0) return ctx.fail({ what, expected: "a non-zero exit", got: "exit 0" });
      const problem = oneClearLine(result.stderr, cause);
      if (problem) {
        return ctx.fail({ what: `${what}: ${problem}`, output: result.stderr });
      }
    }
    return ctx.pass();
  },
};

/** How a program run to completion ended: `exited with status 1`, `was killed by SIGKILL`. */
function howItEnded(result: ProgramResult): string {
  return result.signal ? `was killed by ${result.signal}` : `exited with status ${result.code}`;
}

/** The client's stderr for a failure message, or undefined when it printed nothing there. */
function stderrOf(result: ProgramResult): string | undefined {
  return result.stderr.trim() === "" ? undefined : result.stderr;
}

/** Runs the student's client against `peer` with `input` on stdin; checks stdout and exit. */
async function clientCopies(
  ctx: ProbeContext,
  peer: Peer,
  input: Uint8Array,
  host = "127.0.0.1",
): Promise<Verdict> {
  const args = ["--host", host, "--port", String(peer.port)];
  const result = await ctx.runProgram("client", args, {
    stdin: input,
    timeoutMs: 10_000,
    env: shortCounts(ctx),
  });
  const what = `client.ts ${args.join(" ")} with ${input.length} binary bytes on stdin`;
  if (result.timedOut) {
    return ctx.fail({
      what,
      expected: "the client to exit once the server closed",
      got: `still running after 10 s; stdout so far: ${result.stdout.length} bytes`,
      output: stderrOf(result),
      note: "at end of stdin the client must half-close (shutdown SHUT_WR), then read to EOF",
    });
  }
  if (!sameBytes(result.stdout, input)) {
    // The exit status and stderr say why: a crash, "not written yet", a lost connection.
    return ctx.fail({
      what: `${what}: stdout differs from stdin (the client ${howItEnded(result)})`,
      expected: input,
      got: result.stdout,
      output: stderrOf(result),
    });
  }
  if (result.code !== 0) {
    return ctx.fail({
      what,
      expected: "exit 0",
      got: howItEnded(result),
      output: result.stderr,
    });
  }
  return ctx.pass();
}

const clientBinary: Probe = {
  name: "client-binary",
  title: "Client copies binary stdin through an echo server and back",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §8 The client",
  async run(ctx) {
    const peer = startEchoPeer();
    try {
      const input = new Uint8Array([...allByteValues(), ...ctx.bytes(1 << 20)]);
      return await clientCopies(ctx, peer, input);
    } finally {
      await peer.close();
    }
  },
};

const clientSocat: Probe = {
  name: "client-socat",
  title: "Client works against socat, a third-party echo server that answers after EOF",
  points: 2,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §8 The client",
  async run(ctx) {
    if (!haveProgram("socat")) {
      return ctx.fail({
        what: "this probe needs socat",
        note: "install it (deno task setup, or: sudo apt-get install socat) and grade again",
      });
    }
    const scratch = await Deno.makeTempDir({ prefix: "echo-socat-" });
    try {
      const peer = await startSocatEcho(await ctx.freePort(), `${scratch}/held`, 5_000);
      try {
        return await clientCopies(ctx, peer, ctx.bytes(512 * 1024));
      } finally {
        await peer.close();
      }
    } finally {
      await Deno.remove(scratch, { recursive: true });
    }
  },
};

const clientRefused: Probe = {
  name: "client-refused",
  title: "Client: connection refused gives one clear line and a non-zero exit",
  points: 1,
  visibility: "visible",
  deadlineMs: 15_000,
  hint: "README.md §7 When things go wrong",
  async run(ctx) {
    const port = await ctx.freePort(); // nothing listens there
    const args = ["--host", "127.0.0.1", "--port", String(port)];
    const result = await ctx.runProgram("client", args, {
      stdin: encoder.encode("hello\n"),
      timeoutMs: 8_000,
    });
    const what = `client.ts ${args.join(" ")} with no server listening`;
    if (result.timedOut) {
      return ctx.fail({ what, expected: "a non-zero exit", got: "still running after 8 s" });
    }
    if (result.code === 0) return ctx.fail({ what, expected: "a non-zero exit", got: "exit 0" });
    const problem = oneClearLine(result.stderr, /ECONNREFUSED|refused/i);
    if (problem) {
      return ctx.fail({ what: `${what}: ${problem}`, output: result.stderr });
    }
    return ctx.pass();
  },
};

const clientIpv6: Probe = {
  name: "client-ipv6",
  title: "Client connects to an IPv6 address (--host ::1)",
  points: 1,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §3 The socket calls",
  async run(ctx) {
    const peer = startEchoPeer("::1");
    try {
      const input = ctx.bytes(1 << 20);
      return await clientCopies(ctx, peer, input, "::1");
    } finally {
      await peer.close();
    }
  },
};

/** The socket calls each file must make itself (§3), the library's helpers aside. */
const REQUIRED_CALLS: Record<string, string[][]> = {
  "server.ts": [["socket"], ["bind"], ["listen"], ["accept"], ["read"], [
    "write",
    "writeAll",
  ], ["close"]],
  "client.ts": [["socket"], ["connect"], ["read"], ["write", "writeAll"], ["close", "shutdown"]],
};

const ownSocketCalls: Probe = {
  name: "own-socket-calls",
  title: "server.ts and client.ts make the socket calls themselves (read from the source)",
  points: 2,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §3 The socket calls",
  async run(ctx) {
    const problems: string[] = [];
    const unfinished: string[] = [];
    for (const [file, calls] of Object.entries(REQUIRED_CALLS)) {
      const text = await Deno.readTextFile(`${ctx.submission.dir}/${file}`);
      const { missing, todos } = missingCalls(file, text, calls);
      if (missing.length > 0) problems.push(`${file} never calls ${missing.join(", ")}`);
      if (todos.length > 0) unfinished.push(`${file} line ${todos.join(", ")}`);
    }
    if (problems.length > 0) {
      return ctx.fail({
        what: problems.join("; "),
        expected: "each call made by your own code, as §3 lists them",
        note: unfinished.length > 0
          ? `not written yet: todo(...) at ${unfinished.join("; ")}`
          : "helpers that make the calls for you (listenTcp, connectTcp) earn nothing here: " +
            "the calls are the lesson",
      });
    }
    const counted = Object.values(REQUIRED_CALLS).flat().length;
    return ctx.pass(`all ${counted} required calls found in server.ts and client.ts`);
  },
};

/** The 01-echo probes, in the order they run. */
export const probes: Probe[] = [
  serverAllBytes,
  serverLargePayload,
  serverInteractive,
  serverHalfClose,
  serverFdLeak,
  serverRestart,
  serverSurvivesReset,
  serverBadArgs,
  clientBinary,
  clientSocat,
  clientRefused,
  clientIpv6,
  ownSocketCalls,
];
