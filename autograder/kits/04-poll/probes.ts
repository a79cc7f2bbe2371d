/**
 * Probes for 04-poll: the WeensyDB protocol probes shared with 03, then the ones about an event
 * loop: one thread (from /proc), 10,000 connections at once, no busy polling (CPU time from
 * /proc), commands split into single bytes, a client that never reads its replies
 * (backpressure, RSS from /proc), a client stalled mid-command, clients that leave (end of file,
 * reset), and fairness under a flood.
 *
 * Every probe runs twice, once per engine (`poll-…` with `--engine poll`, `epoll-…` with
 * `--engine epoll`): both engines must pass everything. The two runs of a probe come one after
 * the other, and at the same time where no timing is at stake. Each probe names the bug it catches; the
 * buggy variants beside this file (variants/) prove that it does.
 *
 * @module
 */
import {
  type Conn,
  cpuTimeMs,
  delay,
  firstDifference,
  gatedBy,
  listenerOn,
  openFdCount,
  type Probe,
  type ProbeContext,
  rssBytes,
  sameBytes,
  type ServerHandle,
  socketInodesOf,
  TCP_ESTABLISHED,
  tcpSockets,
  threadCount,
  threadNames,
  type Verdict,
  within,
} from "../../kit.ts";
import { encodeSet, KvClient, type Reply, showReply } from "../_weensydb/client.ts";
import { protocolProbes, runScript, startDb } from "../_weensydb/protocol_probes.ts";

const encoder = new TextEncoder();

/** The engines a submission must offer; every probe runs on each. */
export const ENGINES = ["poll", "epoll"] as const;
type EngineName = typeof ENGINES[number];

/**
 * p99 bound for an active client's round trips while 10,000 other connections are open, per
 * engine. Measured on the course machine (2 cores), the reference, 10-11 runs each: poll p99
 * 19-97 ms (every wait scans all 10,000 sockets, 7-12 ms), epoll p99 4-44 ms. The bounds
 * leave room (over 3x) for a loaded machine.
 */
export const C10K_P99_MS: Record<EngineName, number> = { poll: 400, epoll: 150 };
/** CPU a server may use while 1,000 connections sit idle, as a share of one core. */
export const IDLE_CPU_SHARE = 0.05;
/** How much a server's RSS may grow while one client leaves 200 MiB of replies unread. */
export const RSS_GROWTH_BYTES = 64 * 1024 * 1024;
/** Longest wait for a lone GET while another client floods the server. */
export const FAIR_REPLY_MS = 1_000;

/** Opens `n` connections, `batch` at a time; each is only held (no read pending: little memory). */
async function openMany(
  ctx: ProbeContext,
  port: number,
  n: number,
  batch = 250,
): Promise<Conn[]> {
  const conns: Conn[] = [];
  try {
    for (let i = 0; i < n; i += batch) {
      const size = Math.min(batch, n - i);
      const dial = () => ctx.dial(port, { noDelay: false });
      conns.push(...await settleAll(Array.from({ length: size }, dial)));
    }
    return conns;
  } catch (err) {
    closeAll(conns);
    throw err;
  }
}

/** Awaits every dial; when any failed, closes the ones that did not and throws the first error. */
async function settleAll<T extends { close(): void }>(dials: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(dials);
  const opened = settled.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    closeAll(opened);
    throw failed.reason;
  }
  return opened;
}

function closeAll(conns: { close(): void }[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // already closed
    }
  }
}

/** Sends `GET <key>` on a raw connection and reads the 5 bytes of `END\r\n`; false on timeout. */
async function getMissing(conn: Conn, key: string, ms: number): Promise<boolean> {
  const line = encoder.encode(`GET ${key}\r\n`);
  for (let at = 0; at < line.length;) at += await conn.write(line.subarray(at));
  const buf = new Uint8Array(5);
  const reading = (async () => {
    for (let at = 0; at < 5;) {
      const n = await conn.read(buf.subarray(at));
      if (n === null) return false;
      at += n;
    }
    return new TextDecoder().decode(buf) === "END\r\n";
  })();
  return await within(reading.catch(() => false), ms, false);
}

/** Sequential round trips on `client`; the sorted latencies in ms, or the reply that failed. */
async function latencies(client: KvClient, n: number): Promise<number[] | Reply> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const got = await client.call(`GET active`, 5_000);
    if (got.kind !== "value") return got;
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

const oneThread: Probe = {
  name: "one-thread",
  title: "One thread: the thread count does not grow with 300 connections, and no Worker runs",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §8 One thread",
  async run(ctx) {
    const server = await startDb(ctx);
    const first = await KvClient.dial(ctx, server.port);
    try {
      await first.call("GET warm", 5_000);
      const before = threadCount(server.pid);
      const conns = await openMany(ctx, server.port, 300);
      try {
        const answered = await Promise.all(conns.map((c, i) => getMissing(c, `k${i}`, 10_000)));
        const missing = answered.filter((ok) => !ok).length;
        const during = threadCount(server.pid);
        const workers = threadNames(server.pid).filter((n) => /^worker-\d+$/.test(n));
        if (during > before + 2 || workers.length > 0) {
          const shown = workers.length > 5 ? [...workers.slice(0, 5), "..."] : workers;
          return ctx.fail({
            what: `300 clients connected and sent a GET each (${300 - missing} answered)`,
            expected: `about ${before} threads in /proc/${server.pid}/status, as with 1 client, ` +
              "and no Worker thread (a thread named worker-N)",
            got: `${during} threads (${before} with 1 client); ${workers.length} Worker threads` +
              (workers.length > 0 ? ` (${shown.join(", ")})` : ""),
            note: "one thread serves every connection: no Worker, no thread per client",
          });
        }
        if (missing > 0) {
          return ctx.fail({
            what: `300 clients each sent GET k<i>: ${missing} got no END within 10 s`,
            expected: "every client answered",
          });
        }
        return ctx.pass(
          `threads: ${before} with 1 client, ${during} with 301 (bound ` +
            `${before + 2}); no Worker`,
        );
      } finally {
        closeAll(conns);
      }
    } finally {
      first.close();
    }
  },
};

/** The soft open-file limit of `pid` ("self": the grader), from /proc/<pid>/limits; 0 if unknown. */
function openFileLimit(pid: number | "self"): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/limits`);
    const line = text.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    return soft === "unlimited" ? Infinity : Number(soft ?? 0);
  } catch {
    return 0;
  }
}

/** `st` of a socket whose peer has closed and which its owner has not closed yet. */
const TCP_CLOSE_WAIT = "08";

/**
 * The server's open fds once it has closed every connection whose client already left (the
 * grader's readiness check, say): none of its sockets in CLOSE_WAIT. Counted before that, a
 * close still to come would make the count one short later.
 */
async function settledFdCount(ctx: ProbeContext, server: ServerHandle): Promise<number> {
  const closing = () =>
    tcpSockets().filter((s) => s.localPort === server.port && s.state === TCP_CLOSE_WAIT).length;
  await ctx.eventually(closing, { until: (n) => n === 0, deadlineMs: 5_000, everyMs: 25 });
  return openFdCount(server.pid);
}

/** Established connections on the server's port whose sockets the server holds (from /proc). */
function heldOnPort(server: ServerHandle): number {
  const mine = socketInodesOf(server.pid);
  return tcpSockets().filter((s) =>
    s.localPort === server.port && s.state === TCP_ESTABLISHED && mine.has(s.inode)
  ).length;
}

/**
 * True when the server holds `clients` more connections than at `base` (its fd count then, with
 * `before` connections held): its fd count grew by as many, or, when it is a few short (an fd of
 * the runtime's own, counted in `base`, has closed since), its sockets say so.
 */
function holds(server: ServerHandle, base: number, before: number, clients: number): boolean {
  const fds = openFdCount(server.pid);
  if (fds >= base + clients) return true;
  return fds >= base + clients - 5 && heldOnPort(server) >= before + clients;
}

/** The C10K failure when the fds did not all show up: what the server accepted, held, closed. */
function notHeld(ctx: ProbeContext, server: ServerHandle, base: number): Verdict {
  const held = heldOnPort(server);
  const queued = listenerOn(server.port)?.rxQueue ?? 0;
  const fds = openFdCount(server.pid);
  return ctx.fail({
    what: `${C10K} clients connected`,
    expected: `${base + C10K} open fds in /proc/${server.pid}/fd: the ${base} it had, and one ` +
      "more per client (every one accepted and held open)",
    got: `${fds} open fds after 20 s (${fds - base} more); the server holds ${held} ` +
      `connections on port ${server.port}, and ${queued} wait in the listener's accept queue`,
    note: queued > 0
      ? "connections wait unaccepted: accept until EAGAIN on each readiness report of the listener"
      : "none waits to be accepted: were connections closed (or fds used up) while their " +
        "clients were still there?",
  });
}

/** How many idle connections the C10K probe holds open, and round trips it times meanwhile. */
const C10K = 10_000;
const C10K_ROUND_TRIPS = 300;

function c10kProbe(engine: EngineName): Probe {
  const bound = C10K_P99_MS[engine];
  return {
    name: "c10k",
    title: `10,000 connections are accepted and held; an active client's p99 stays under ` +
      `${bound} ms`,
    points: 4,
    visibility: "visible",
    deadlineMs: 60_000,
    hint: "README.md §9 C10K",
    async run(ctx) {
      const server = await startDb(ctx);
      const active = await KvClient.dial(ctx, server.port);
      let conns: Conn[] = [];
      try {
        const stored = await active.call(encodeSet("active", "here"), 5_000);
        if (stored.kind !== "stored") {
          return ctx.fail({ what: "SET active", expected: "STORED", got: showReply(stored) });
        }
        const limits = { grader: openFileLimit("self"), server: openFileLimit(server.pid) };
        if (Math.min(limits.grader, limits.server) < C10K + 100) {
          return ctx.fail({
            what: "checked the open-file limits (Max open files in /proc/<pid>/limits)",
            expected: `over ${C10K + 100} for the grader and the server, to hold ${C10K} ` +
              "connections",
            got: `grader ${limits.grader}, server ${limits.server}`,
            note: "the grading machine's limit, not your code: raise the hard limit " +
              "(ulimit -Hn, or the container's nofile) and grade again",
          });
        }
        const base = await settledFdCount(ctx, server); // the runtime's own, listener, `active`
        conns = await openMany(ctx, server.port, C10K);
        // `base` counts `active`, the one connection held before.
        const held = (await ctx.eventually(() => holds(server, base, 1, C10K), {
          deadlineMs: 20_000,
          everyMs: 50,
        })).ok;
        if (!held) {
          return notHeld(ctx, server, base);
        }
        const timed = await latencies(active, C10K_ROUND_TRIPS);
        if (!Array.isArray(timed)) {
          return ctx.fail({
            what: `with ${C10K} other connections open, the active client sent GET active`,
            expected: "VALUE active ...",
            got: showReply(timed),
            note: "is the loop blocked somewhere other than poll()/epoll_wait()?",
          });
        }
        const p99 = timed[Math.floor(timed.length * 0.99) - 1];
        const sample = Array.from({ length: 20 }, (_, i) => conns[(i * 499) % conns.length]);
        const alive = await Promise.all(sample.map((c, i) => getMissing(c, `idle${i}`, 10_000)));
        if (p99 > bound || alive.includes(false)) {
          return ctx.fail({
            what: `with ${C10K} connections open, ${C10K_ROUND_TRIPS} GETs by one active client` +
              ", then a GET on 20 of the idle ones",
            expected: `p99 under ${bound} ms, and all 20 idle connections answered`,
            got: `p99 ${p99.toFixed(1)} ms (median ${timed[timed.length >> 1].toFixed(1)} ms); ` +
              `${alive.filter((a) => !a).length} of 20 idle connections not answered`,
          });
        }
        return ctx.pass(
          `p99 ${p99.toFixed(1)} ms, bound ${bound} ms, with ${C10K} connections ` +
            "open; 20 idle ones answered",
        );
      } finally {
        active.close();
        closeAll(conns);
      }
    },
  };
}

/** Clients that come and go before `idle-cpu` measures: half leave by end of file, half reset. */
const CHURN = 200;

/** `CHURN` clients each send a GET, get END, and leave; how many did not get their END. */
async function churn(ctx: ProbeContext, port: number): Promise<number> {
  let missed = 0;
  for (let i = 0; i < CHURN; i += 50) {
    const conns = await openMany(ctx, port, 50);
    const answered = await Promise.all(conns.map((c, j) => getMissing(c, `churn${i + j}`, 5_000)));
    missed += answered.filter((ok) => !ok).length;
    conns.forEach((c, j) => j % 2 === 0 ? c.reset() : c.close());
  }
  return missed;
}

const noBusyPolling: Probe = {
  name: "idle-cpu",
  title: `No busy polling: with 1,000 idle connections, after ${CHURN} clients came and went, ` +
    `2 s cost under ${IDLE_CPU_SHARE * 100}% of a core`,
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §3 The loop (block in poll, never spin)",
  async run(ctx) {
    const server = await startDb(ctx);
    const base = await settledFdCount(ctx, server);
    const conns = await openMany(ctx, server.port, 1_000);
    try {
      const missed = await churn(ctx, server.port);
      // Every client that left is closed, and the 1,000 are held: nothing is left to do.
      // (A few under: an fd of the runtime's own, counted in `base`, may have closed since; then
      // the sockets must say the 1,000 are held.)
      const settled = await ctx.eventually(() => openFdCount(server.pid), {
        until: (n) =>
          n === base + 1_000 ||
          (n < base + 1_000 && n >= base + 995 && heldOnPort(server) === 1_000),
        deadlineMs: 10_000,
        everyMs: 50,
      });
      if (!settled.ok || missed > 0) {
        return ctx.fail({
          what: `1,000 clients connected and stayed; ${CHURN} more each sent GET and left ` +
            "(half by end of file, half by a reset)",
          expected: `END for each of the ${CHURN}, and ${base + 1_000} open fds in ` +
            `/proc/${server.pid}/fd within 10 s (${base} before, and the 1,000)`,
          got: `${missed} of ${CHURN} got no END; ${settled.ok ? settled.value : settled.last} ` +
            "open fds",
        });
      }
      const [cpu0, t0] = [cpuTimeMs(server.pid), performance.now()];
      await delay(2_000);
      const [cpu1, t1] = [cpuTimeMs(server.pid), performance.now()];
      const share = (cpu1 - cpu0) / (t1 - t0);
      const figure = `${(share * 100).toFixed(1)}% of a core, bound ${IDLE_CPU_SHARE * 100}%`;
      if (share >= IDLE_CPU_SHARE) {
        return ctx.fail({
          what: `1,000 connections open, none sending anything, for 2 s (after ${CHURN} ` +
            "other clients came and went)",
          expected: `under ${IDLE_CPU_SHARE * 100}% of one core (CPU time from /proc/` +
            `${server.pid}/stat)`,
          got: `${figure} (${(cpu1 - cpu0).toFixed(0)} ms of CPU in ` +
            `${((t1 - t0) / 1000).toFixed(1)} s)`,
          note: "wait in poll()/epoll_wait() with timeout -1 (a timeout of 0 in a loop spins), " +
            "and stop watching a connection when you close it (poll reports a closed fd as " +
            "POLLNVAL on every call)",
        });
      }
      return ctx.pass(`idle CPU ${figure}`);
    } finally {
      closeAll(conns);
    }
  },
};

/** Sends `text` one byte per write, `pauseMs` apart (TCP_NODELAY: one segment each). */
async function trickle(client: KvClient, text: string, pauseMs: number): Promise<void> {
  for (const byte of encoder.encode(text)) {
    await client.send(Uint8Array.of(byte));
    await delay(pauseMs);
  }
}

/** The pause between the bytes `split-bytes` sends: long enough for the server to read each alone. */
const TRICKLE_MS = 5;

const splitBytes: Probe = {
  name: "split-bytes",
  title: "Commands sent one byte at a time, with pauses, are assembled and answered",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 A connection is a state machine (the input buffer)",
  async run(ctx) {
    const server = await startDb(ctx);
    const client = await KvClient.dial(ctx, server.port);
    const sent: string[] = [];
    try {
      const checks: [string, Reply["kind"]][] = [
        ["SET split 7\r\nab\r\ncde", "stored"],
        ["GET split\r\n", "value"],
        ["EXCH split split\r\n", "exchanged"],
        ["DELETE split\r\n", "deleted"],
      ];
      for (const [text, kind] of checks) {
        sent.push(text);
        await trickle(client, text, TRICKLE_MS);
        const got = await client.reply(5_000);
        if (
          got.kind !== kind || (kind === "value" && got.kind === "value" &&
            new TextDecoder().decode(got.value) !== "ab\r\ncde")
        ) {
          return ctx.fail({
            what: `a command sent one byte per write, ${TRICKLE_MS} ms apart`,
            sent: sent.join(""),
            expected: kind === "value"
              ? 'VALUE split (7 bytes: "ab\\r\\ncde")'
              : kind.toUpperCase(),
            got: showReply(got),
            note: "bytes of a command not yet complete must be kept until the rest arrives",
          });
        }
      }
      return ctx.pass();
    } finally {
      client.close();
    }
  },
};

/**
 * Stores the 1 MiB value `big` a probe needs before its own test; the failure, or null. A server
 * that cannot store it fails large-value too, and the failure says to fix that first.
 */
async function storeBig(ctx: ProbeContext, client: KvClient, value: Uint8Array) {
  const stored = await client.call(encodeSet("big", value), 10_000);
  if (stored.kind === "stored") return null;
  return ctx.fail({
    what: "SET big (1 MiB), before the rest of this probe",
    expected: "STORED",
    got: showReply(stored),
    note: "this probe needs a 1 MiB value stored first, the largest allowed; large-value checks " +
      "just that (§4, the input buffer): fix it first",
  });
}

/** GETs of the 1 MiB value the slow reader pipelines: 200 MiB of replies it does not read. */
const SLOW_GETS = 200;
/** How long the slow reader reads nothing: before the other client's commands, and after. */
const STALL_BEFORE_MS = 500, STALL_AFTER_MS = 1_000;

/** Runs `n` SET/GET pairs on `client`, each reply within `ms`; the failure, or null. */
async function stillServed(ctx: ProbeContext, client: KvClient, n: number, ms: number) {
  for (let i = 0; i < n; i++) {
    const failed = await runScript(ctx, client, [
      { send: encodeSet(`other${i}`, `v${i}`), expect: { kind: "stored" }, note: `SET other${i}` },
      { send: `GET other${i}`, expect: { kind: "value", value: `v${i}` }, note: `GET other${i}` },
    ], ms);
    if (failed) return failed;
  }
  return null;
}

const slowReader: Probe = {
  name: "slow-reader",
  title: "A client that stops reading its replies blocks no one, the server's memory stays " +
    "bounded, and every reply arrives once it reads again",
  points: 4,
  visibility: "visible",
  deadlineMs: 45_000,
  hint: "README.md §5 Backpressure",
  async run(ctx) {
    const server = await startDb(ctx);
    const [slow, other] = await settleAll([
      KvClient.dial(ctx, server.port),
      KvClient.dial(ctx, server.port),
    ]);
    try {
      // 7-bit bytes: this probe is about backpressure (`binary-values` checks every byte value).
      const value = Uint8Array.from({ length: 1024 * 1024 }, () => Math.floor(ctx.random() * 128));
      const unstored = await storeBig(ctx, slow, value);
      if (unstored) return unstored;
      await delay(200);
      const before = rssBytes(server.pid);
      const peak = await stalledReader(ctx, { server, slow, other, before });
      if (typeof peak !== "number") return peak;
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
      if (peak - before > RSS_GROWTH_BYTES) {
        return ctx.fail({
          what: `one client pipelined ${SLOW_GETS} GETs of a 1 MiB value and read none of the ` +
            `replies for ${(STALL_BEFORE_MS + STALL_AFTER_MS) / 1000} s`,
          expected: `the server's RSS (/proc/${server.pid}/status) to grow by under ` +
            mib(RSS_GROWTH_BYTES),
          got: `from ${mib(before)} to ${mib(peak)}`,
          note: "stop running a client's commands while its queued replies pass a limit",
        });
      }
      const late = await readsBack(ctx, slow, value);
      return late ??
        ctx.pass(
          `RSS grew ${mib(peak - before)} at most (${mib(before)} to ${mib(peak)}), bound ` +
            `${mib(RSS_GROWTH_BYTES)}; all ${SLOW_GETS} replies arrived`,
        );
    } finally {
      slow.close();
      other.close();
    }
  },
};

/**
 * `slow` pipelines the GETs and reads nothing; after STALL_BEFORE_MS (the kernel's buffers fill in
 * milliseconds) `other` must still be served. The server's peak RSS meanwhile, or the failure.
 */
async function stalledReader(
  ctx: ProbeContext,
  o: { server: ServerHandle; slow: KvClient; other: KvClient; before: number },
): Promise<number | Verdict> {
  const sending = o.slow.send("GET big\r\n".repeat(SLOW_GETS));
  sending.catch(() => {});
  let peak = o.before;
  const sampling = setInterval(() => peak = Math.max(peak, rssBytes(o.server.pid)), 50);
  try {
    await delay(STALL_BEFORE_MS);
    const failed = await stillServed(ctx, o.other, 20, 3_000);
    if (failed) {
      return withNote(
        failed,
        `another client had pipelined ${SLOW_GETS} GETs of 1 MiB and read none of the replies: ` +
          "is the loop stuck writing to it?",
      );
    }
    // Time for an unbounded buffer to fill: a server that queues every reply holds 200 MiB more
    // within 0.2 s (measured on the unbounded-output variant).
    await delay(STALL_AFTER_MS);
  } finally {
    clearInterval(sampling);
  }
  return Math.max(peak, rssBytes(o.server.pid));
}

/** The slow client reads again: all SLOW_GETS replies must arrive, each the whole value. */
async function readsBack(ctx: ProbeContext, slow: KvClient, value: Uint8Array) {
  for (let i = 0; i < SLOW_GETS; i++) {
    const got = await slow.reply(10_000);
    if (got.kind !== "value" || !sameBytes(got.value, value)) {
      const at = got.kind === "value" ? firstDifference(got.value, value) : -1;
      return ctx.fail({
        what: `the client that had stopped reading read its replies: reply ${
          i + 1
        } of ${SLOW_GETS}`,
        expected: "VALUE big (1048576 bytes), the value stored, every byte",
        got: showReply(got) + (at >= 0 ? `, differing from byte ${at}` : ""),
        note: got.kind === "timeout"
          ? "replies left queued must go out when the socket is writable again (POLLOUT), and " +
            "commands held back must run once the queue drains"
          : "a write the kernel took only part of: keep the rest, from where it stopped",
      });
    }
  }
  return null;
}

function withNote(v: Verdict, note: string): Verdict {
  return { passed: false, message: `${v.message}\n${note}` };
}

const stalledClient: Probe = {
  name: "stalled-client",
  title: "Clients that send half a command and stall block no one",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 A connection is a state machine",
  async run(ctx) {
    const server = await startDb(ctx);
    const clients = await settleAll([1, 2, 3].map(() => KvClient.dial(ctx, server.port)));
    const [halfBody, halfLine, other] = clients;
    try {
      await halfBody.send("SET stall 10\r\nabc"); // 3 of 10 body bytes, then silence
      await halfLine.send("GET sta"); // half a line, then silence
      await delay(200);
      const failed = await stillServed(ctx, other, 3, 2_000);
      if (failed) {
        return withNote(
          failed,
          'while one client had sent "SET stall 10" and 3 bytes, another "GET sta": ' +
            "does the loop wait for the rest of a command instead of returning to poll()?",
        );
      }
      await halfBody.send("defghij");
      await halfLine.send("ll\r\n");
      const [stored, value] = [await halfBody.reply(5_000), await halfLine.reply(5_000)];
      if (stored.kind !== "stored" || value.kind !== "value") {
        return ctx.fail({
          what: "the two stalled clients sent the rest of their commands",
          expected: "STORED, then VALUE stall (10 bytes)",
          got: `${showReply(stored)}, then ${showReply(value)}`,
        });
      }
      return ctx.pass();
    } finally {
      clients.forEach((c) => c.close());
    }
  },
};

/** Clients that leave after a GET and end of file, and clients that reset mid-reply. */
const LEAVE_EOF = 100;
const LEAVE_RESET = 20;

/** Sends `GET <key>` then end of file; true when END arrives and then the server's end of file. */
async function getThenEof(conn: Conn, key: string, ms: number): Promise<boolean> {
  const talking = (async () => {
    const line = encoder.encode(`GET ${key}\r\n`);
    for (let at = 0; at < line.length;) at += await conn.write(line.subarray(at));
    await conn.closeWrite();
    const got: number[] = [];
    const buf = new Uint8Array(64);
    for (let n; (n = await conn.read(buf)) !== null;) got.push(...buf.subarray(0, n));
    return new TextDecoder().decode(Uint8Array.from(got)) === "END\r\n";
  })();
  return await within(talking.catch(() => false), ms, false);
}

/**
 * Pipelines 4 GETs of the 1 MiB value `big`, reads the first bytes of the replies, and closes
 * with the rest unread: the kernel then sends a reset (RST), so the server's next read or write
 * on that connection fails (ECONNRESET, EPIPE). True when the replies had started.
 */
async function resetMidReply(ctx: ProbeContext, port: number, ms: number): Promise<boolean> {
  let conn: Conn;
  try {
    conn = await ctx.dial(port, { noDelay: false });
  } catch {
    return false; // the server is gone: the caller sees it
  }
  try {
    const line = encoder.encode("GET big\r\n".repeat(4));
    for (let at = 0; at < line.length;) at += await conn.write(line.subarray(at));
    const started = conn.read(new Uint8Array(16)).then((n) => n !== null);
    return await within(started.catch(() => false), ms, false);
  } finally {
    conn.close();
  }
}

const disconnects: Probe = {
  name: "disconnects",
  title: "Clients that leave, by end of file or by a reset mid-reply, are closed; the server " +
    "serves on",
  points: 2,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §4 A connection is a state machine (step 4, closing)",
  async run(ctx) {
    const server = await startDb(ctx);
    const client = await KvClient.dial(ctx, server.port);
    try {
      const unstored = await storeBig(ctx, client, new Uint8Array(1024 * 1024));
      if (unstored) return unstored;
      const before = openFdCount(server.pid);
      const leavers = await openMany(ctx, server.port, LEAVE_EOF);
      const done = await Promise.all(leavers.map((c, i) => getThenEof(c, `eof${i}`, 5_000)));
      closeAll(leavers);
      let resets = 0;
      while (resets < LEAVE_RESET && await resetMidReply(ctx, server.port, 5_000)) resets++;
      const after = await client.call("GET after", 5_000);
      if (after.kind !== "end") await within(server.status, 1_000, null); // did a leaver kill it?
      if (server.exited()) {
        return ctx.fail({
          what: `clients left: ${LEAVE_EOF} by end of file after a GET, then ` +
            `${resets} of ${LEAVE_RESET} by a reset (RST) while 4 MiB of replies were on their way`,
          expected: "the server to close those connections and serve the others",
          got: "the server process exited",
          note: "a read or write on a connection whose client is gone fails (ECONNRESET, " +
            `EPIPE): close that connection and carry on\nserver output:\n${
              server.output().slice(-1500)
            }`,
        });
      }
      if (resets < LEAVE_RESET) {
        return ctx.fail({
          what: `a client pipelined GET big (1 MiB) 4 times (after ${resets} others had, and left)`,
          expected: "the first bytes of the replies within 5 s",
          got: "nothing",
        });
      }
      const eofMissed = done.filter((ok) => !ok).length;
      if (eofMissed > 0) {
        return ctx.fail({
          what: `${LEAVE_EOF} clients each sent GET eof<i>, then end of file (shutdown SHUT_WR)`,
          expected: "END, then the server closing the connection (end of file), within 5 s",
          got: `${eofMissed} of ${LEAVE_EOF} clients did not get both`,
          note: "read() returning 0 is end of file: send what is queued, then close the fd",
        });
      }
      if (after.kind !== "end") {
        return ctx.fail({
          what: "after the other clients left, the first client sent GET after",
          expected: "END",
          got: showReply(after),
        });
      }
      const closed = (await ctx.eventually(() =>
        openFdCount(server.pid) <= before + 10, { deadlineMs: 5_000, everyMs: 50 })).ok;
      if (!closed) {
        return ctx.fail({
          what: `${LEAVE_EOF + resets} clients connected and left`,
          expected: `about ${before} open fds in /proc/${server.pid}/fd, as before they came`,
          got: `${openFdCount(server.pid)} open fds`,
          note: "close (and stop watching) each connection whose client has gone",
        });
      }
      return ctx.pass(`open fds: ${before} before, ${openFdCount(server.pid)} after`);
    } finally {
      client.close();
    }
  },
};

/** Pipelines GETs from `conn` until `stop` is aborted, reading and dropping every reply. */
function flood(
  conn: Conn,
  stop: AbortSignal,
): { started: Promise<void>; done: Promise<void> } {
  const batch = encoder.encode("GET flood\r\n".repeat(64 * 1024)); // 704 KiB per write
  let started!: () => void;
  const first = new Promise<void>((r) => started = r);
  const writing = (async () => {
    while (!stop.aborted) {
      for (let at = 0; at < batch.length && !stop.aborted;) {
        at += await conn.write(batch.subarray(at));
      }
    }
  })();
  const reading = (async () => {
    const buf = new Uint8Array(256 * 1024);
    while ((await conn.read(buf)) !== null) started();
  })();
  const done = Promise.allSettled([writing, reading]).then(() => {});
  return { started: first, done };
}

const fairness: Probe = {
  name: "fairness",
  title: `A client flooding pipelined requests does not starve another's single GET ` +
    `(answered within ${FAIR_REPLY_MS} ms)`,
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §6 Fairness",
  async run(ctx) {
    const server = await startDb(ctx);
    const lone = await KvClient.dial(ctx, server.port);
    let flooder: Conn;
    try {
      flooder = await ctx.dial(server.port, { noDelay: false });
    } catch (err) {
      lone.close();
      throw err;
    }
    const stop = new AbortController();
    const { started, done } = flood(flooder, stop.signal);
    try {
      if (!(await within(started.then(() => true), 10_000, false))) {
        return ctx.fail({
          what: "a client pipelined GETs as fast as it could",
          expected: "replies to them",
          got: "no reply within 10 s",
        });
      }
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        await delay(100);
        const start = performance.now();
        const got = await lone.call(`GET lone${i}`, FAIR_REPLY_MS);
        waits.push(performance.now() - start);
        if (got.kind !== "end") {
          return ctx.fail({
            what: `while another client pipelined GETs as fast as it could, one GET (try ${
              i + 1
            } of 5)`,
            expected: `END within ${FAIR_REPLY_MS} ms`,
            got: showReply(got),
            note: "give each ready connection one read per turn, then move on to the next",
          });
        }
      }
      return ctx.pass(
        `slowest lone GET ${Math.max(...waits).toFixed(0)} ms during the flood, ` +
          `bound ${FAIR_REPLY_MS} ms`,
      );
    } finally {
      stop.abort();
      lone.close();
      flooder.close();
      await done;
    }
  },
};

/** `probe`, run with `--engine <engine>` added to every server it starts. */
export function onEngine(engine: EngineName, probe: Probe): Probe {
  return {
    ...probe,
    name: `${engine}-${probe.name}`,
    ...(probe.needs === undefined ? {} : { needs: `${engine}-${probe.needs}` }),
    title: `[${engine}] ${probe.title}`,
    // The epoll engine is its own todo() in the starter, explained in §7.
    hint: engine === "epoll" && !probe.hint.includes("§7")
      ? `${probe.hint}; the epoll engine: README.md §7 poll() against epoll`
      : probe.hint,
    run: (ctx) =>
      probe.run({
        ...ctx,
        startServer: (o = {}): Promise<ServerHandle> =>
          ctx.startServer({ ...o, args: ["--engine", engine, ...(o.args ?? [])] }),
      }),
  };
}

/** The probes of one engine, in the order they run. */
function engineProbes(engine: EngineName): Probe[] {
  const [commands, ...protocol] = protocolProbes({
    protocol: "README.md §2 The protocol",
    binary: "README.md §2 The protocol",
    limits: "README.md §2 The protocol",
    pipelining: "README.md §4 A connection is a state machine",
    nodelay: "README.md §4 A connection is a state machine (TCP_NODELAY)",
  });
  return gatedBy(commands, [
    ...protocol,
    oneThread,
    splitBytes,
    stalledClient,
    disconnects,
    slowReader,
    fairness,
    noBusyPolling,
    c10kProbe(engine),
  ]);
}

/** Probes whose verdict is a timing: they run alone, never alongside the other engine's. */
const TIMED = new Set(["small-replies", "fairness", "c10k"]);

/**
 * `perEngine`'s probes once per engine, each probe's runs next to each other (poll-commands,
 * epoll-commands, ...). Where no timing is at stake, the epoll run goes alongside the poll run:
 * two servers, checked at the same time.
 */
export function onEachEngine(perEngine: (engine: EngineName) => Probe[]): Probe[] {
  const [poll, epoll] = ENGINES.map((e) => perEngine(e));
  return poll.flatMap((probe, j) => {
    const [first, second] = [onEngine("poll", probe), onEngine("epoll", epoll[j])];
    return TIMED.has(probe.name) ? [first, second] : [first, { ...second, alongside: first.name }];
  });
}

/** Every probe, once per engine. */
export const probes: Probe[] = onEachEngine(engineProbes);
