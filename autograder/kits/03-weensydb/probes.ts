/**
 * Probes for 03-weensydb: the protocol probes every WeensyDB kit shares, then the ones about
 * threads: a thread per connection (seen in /proc), slow clients (stalled mid-command, or not
 * reading their replies), races, deadlocks, the lock-order report, and 1,000 connections under a
 * thread cap. Each names the bug it catches; the buggy
 * variants beside this file (variants/) prove that it does.
 *
 * Races are made to happen, not hoped for: many clients pipeline thousands of commands each, so
 * several Workers run the same few keys at once on every core.
 *
 * @module
 */
import type { Probe, ProbeContext, Verdict } from "../../kit.ts";
import { delay, listenerOn, tcpSockets, threadCount, threadNames } from "../../kit.ts";
import { concat, gatedBy } from "../../kit.ts";
import {
  encodeLine,
  encodeSet,
  KvClient,
  latin1,
  type Reply,
  showReply,
} from "../_weensydb/client.ts";
import {
  type Expect,
  matches,
  protocolProbes,
  runScript,
  startDb,
  type Step,
} from "../_weensydb/protocol_probes.ts";
import { bucketOf, findCycles, type LockOrderEvent } from "../../../shared/mod.ts";
import { linearizableProbe } from "./_linearizable.ts";

const encoder = new TextEncoder();

/**
 * (*) The probes about threads and memory store 7-bit bytes (CR, LF and NUL included): they are
 * about races and limits, and a server that decodes values as text must fail `binary-values`,
 * which says so, rather than these, which would send its author looking for a race.
 */
function sevenBit(bytes: Uint8Array): Uint8Array {
  return bytes.map((b) => b & 0x7f);
}

/** Waits until `check()` holds, re-checking every 50 ms, for at most `ms`; its last value. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** A key other than `key` in the same bucket of the course table (1024 buckets, FNV-1a). */
export function sameBucketKey(key: string, prefix = "twin"): string {
  const want = bucketOf(encoder.encode(key));
  for (let i = 0;; i++) {
    const other = `${prefix}${i}`;
    if (other !== key && bucketOf(encoder.encode(other)) === want) return other;
  }
}

/** Two keys in different buckets, the first in the lower bucket. */
function twoBuckets(a: string, b: string): [string, string] {
  return bucketOf(encoder.encode(a)) < bucketOf(encoder.encode(b)) ? [a, b] : [b, a];
}

async function dialAll(ctx: ProbeContext, port: number, n: number): Promise<KvClient[]> {
  const clients: KvClient[] = [];
  try {
    for (let i = 0; i < n; i += 100) {
      const batch = Math.min(100, n - i);
      clients.push(
        ...await Promise.all(Array.from({ length: batch }, () => KvClient.dial(ctx, port))),
      );
    }
    return clients;
  } catch (err) {
    clients.forEach((c) => c.close());
    throw err;
  }
}

/** Pipelines `commands` on `client` and reads one reply per command; stops at the first miss. */
async function pipeline(
  client: KvClient,
  commands: Uint8Array[],
  ms: number,
): Promise<{ replies: Reply[]; stuckAt: number | null }> {
  const sending = client.send(concat(commands));
  sending.catch(() => {});
  const replies: Reply[] = [];
  for (let i = 0; i < commands.length; i++) {
    const reply = await client.reply(ms);
    replies.push(reply);
    if (reply.kind === "timeout" || reply.kind === "closed") return { replies, stuckAt: i };
  }
  return { replies, stuckAt: null };
}

/**
 * The server's Worker threads, from /proc: Deno names each Worker's thread `worker-<n>` in
 * `/proc/<pid>/task/<tid>/comm`. Counted by name because the total in /proc/<pid>/status also
 * moves with the runtime's own pool threads (started on demand, ended after 10 s idle), by
 * several at a time on a busy machine.
 */
function workerThreads(pid: number): number {
  return threadNames(pid).filter((name) => /^worker-\d+$/.test(name)).length;
}

/** One client sends GET warm and leaves (the server's first Worker); a failure if no END. */
async function warmUp(ctx: ProbeContext, port: number): Promise<Verdict | null> {
  const warm = await KvClient.dial(ctx, port);
  try {
    const got = await warm.call("GET warm", 10_000);
    if (got.kind === "end") return null;
    return ctx.fail({ what: "one client sent GET warm", expected: "END", got: showReply(got) });
  } finally {
    warm.close();
  }
}

const threadPerConnection: Probe = {
  name: "thread-per-connection",
  title: "Each open connection has its own thread, and the thread ends when the client leaves",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §4 A thread per connection",
  async run(ctx) {
    const server = await startDb(ctx);
    const tasks = `/proc/${server.pid}/task/*/comm`;
    const idle = workerThreads(server.pid);
    const cold = await warmUp(ctx, server.port);
    if (cold) return cold;
    if (!(await eventually(() => workerThreads(server.pid) <= idle, 15_000))) {
      return ctx.fail({
        what: "one client connected, sent GET warm, got its reply, and closed its connection",
        expected: `the Worker threads back to ${idle} within 15 s (named worker-N in ${tasks})`,
        got: `${workerThreads(server.pid)} Worker threads`,
        note: "a Worker must end (self.close()) when its client leaves, or threads pile up",
      });
    }
    const before = { workers: workerThreads(server.pid), all: threadCount(server.pid) };
    const clients = await dialAll(ctx, server.port, 8);
    let during = { workers: 0, all: 0 };
    try {
      for (const [i, c] of clients.entries()) {
        const got = await c.call(`GET k${i}`, 10_000);
        if (got.kind !== "end") {
          return ctx.fail({
            what: `client ${i + 1} of 8 sent GET k${i}`,
            expected: "END",
            got: showReply(got),
          });
        }
      }
      during = { workers: workerThreads(server.pid), all: threadCount(server.pid) };
    } finally {
      clients.forEach((c) => c.close());
    }
    // At least 8, not `before` + 8: a Worker counted in `before` may be one still ending (the
    // grader's readiness check connects once too).
    // Proven by the total too (/proc/<pid>/status, whatever the threads are named): one more
    // thread per connection.
    if (during.workers < 8 && during.all - before.all < 8) {
      return ctx.fail({
        what: "8 clients connected and each got a reply",
        expected: `at least 8 Worker threads (named worker-N in ${tasks}), or 8 more threads ` +
          "in all: one per open connection",
        got: `${during.workers} Worker threads (${before.workers} before they connected); ` +
          `${during.all} threads in all (${before.all} before)`,
        note: "each connection must be served by its own Worker",
      });
    }
    if (!(await eventually(() => workerThreads(server.pid) <= before.workers, 15_000))) {
      return ctx.fail({
        what: "8 clients connected, were served, and closed their connections",
        expected: `the Worker threads back to ${before.workers} within 15 s (${tasks})`,
        got: `${workerThreads(server.pid)} Worker threads (${during.workers} while they ` +
          "were connected)",
        note: "a Worker must end (self.close()) when its client leaves, or threads pile up",
      });
    }
    return ctx.pass(
      `Worker threads: ${before.workers} before, ${during.workers} with 8 clients, back after ` +
        `they left (threads in all: ${before.all}, then ${during.all})`,
    );
  },
};

const slowClients: Probe = {
  name: "slow-client",
  title: "A client stalled mid-command does not block others, even on the same bucket",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §6 Never hold a lock during I/O",
  async run(ctx) {
    const server = await startDb(ctx);
    const mate = sameBucketKey("stall");
    const [stalled, halfLine, other] = await dialAll(ctx, server.port, 3);
    try {
      const setup = await runScript(ctx, other, [
        { send: encodeSet(mate, "before"), expect: { kind: "stored" }, note: `SET ${mate}` },
        { send: encodeSet("stall", "old"), expect: { kind: "stored" }, note: "SET stall" },
      ]);
      if (setup) return setup;
      for (const c of [stalled, halfLine]) await c.call("GET nothing", 10_000); // threads running
      await stalled.send("SET stall 5\r\nab"); // 2 of 5 body bytes, then silence
      await halfLine.send("GET sta"); // half a line, then silence
      const what = 'one client sent "SET stall 5" and 2 of the 5 bytes, another half a line; ' +
        `meanwhile a third client (key ${mate} shares the bucket of stall) sent`;
      const checks: [string, Reply["kind"]][] = [
        ["GET unrelated", "end"],
        [`GET ${mate}`, "value"],
        [`EXCH ${mate} stall`, "exchanged"],
        [`DELETE ${mate}`, "deleted"],
        ["GET stall", "value"],
      ];
      for (const [command, kind] of checks) {
        const got = await other.call(command, 5_000);
        if (got.kind !== kind) {
          return ctx.fail({
            what: `${what} ${command}`,
            expected: `a reply (${kind.toUpperCase()}) at once`,
            got: showReply(got),
            note: got.kind === "timeout"
              ? "is a lock held (or the main thread busy) while waiting for a client's bytes?"
              : undefined,
          });
        }
      }
      await stalled.send("cde");
      const stored = await stalled.reply(5_000);
      if (stored.kind !== "stored") {
        return ctx.fail({
          what: "the stalled client sent the rest of its body",
          expected: "STORED",
          got: showReply(stored),
        });
      }
      return ctx.pass();
    } finally {
      [stalled, halfLine, other].forEach((c) => c.close());
    }
  },
};

/**
 * GETs of a 1 MiB value a client sends and never reads the replies of: 20 MiB, far more than
 * the kernel's buffers for one connection hold (about 4 MiB here), so its thread blocks in a
 * write and stays blocked.
 */
const UNREAD_GETS = 20;

/** The send queue of the server's end and the receive queue of the client's, from /proc. */
function socketQueues(serverPort: number, clientPort: number): { tx: number; rx: number } {
  const queues = { tx: 0, rx: 0 };
  for (const s of tcpSockets()) {
    if (s.localPort === serverPort && s.remotePort === clientPort) queues.tx = s.txQueue;
    if (s.localPort === clientPort && s.remotePort === serverPort) queues.rx = s.rxQueue;
  }
  return queues;
}

const lockWhileWriting: Probe = {
  name: "lock-while-writing",
  title: "A client that stops reading its replies does not block others, even on the same key",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §6 Never hold a lock during I/O",
  async run(ctx) {
    const server = await startDb(ctx);
    const mate = sameBucketKey("wk");
    const random = () =>
      Uint8Array.from({ length: 1024 * 1024 }, () => Math.floor(ctx.random() * 128)); // 7-bit (*)
    const [value, next] = [random(), random()];
    const [stuck, other] = await dialAll(ctx, server.port, 2);
    try {
      const setup = await runScript(ctx, stuck, [
        { send: encodeSet("wk", value), expect: { kind: "stored" }, note: "SET wk (1 MiB)" },
      ]);
      if (setup) return setup;
      await other.call("GET nothing", 10_000); // its thread is running
      await stuck.send("GET wk\r\n".repeat(UNREAD_GETS));
      // Replies piled up unread in both ends' buffers, in two checks 50 ms apart: the thread
      // writing them is then blocked in a write.
      let seen = 0;
      const piled = () => {
        const q = socketQueues(server.port, stuck.localPort);
        seen = q.tx > 0 && q.rx > 0 ? seen + 1 : 0;
        return seen >= 2;
      };
      if (!(await eventually(piled, 10_000))) {
        const q = socketQueues(server.port, stuck.localPort);
        return ctx.fail({
          what: `one client sent ${UNREAD_GETS} GET wk (a 1 MiB value) and read no reply`,
          expected: "the replies to pile up unread in the connection's buffers",
          got: `within 10 s, ${q.rx} bytes unread at the client, ${q.tx} queued at the server ` +
            "(/proc/net/tcp)",
        });
      }
      return await servedMeanwhile(ctx, other, { mate, value, next }) ??
        await readsAll(ctx, stuck, [value, next]) ?? ctx.pass();
    } finally {
      [stuck, other].forEach((c) => c.close());
    }
  },
};

/** While the stuck client's thread is blocked writing, another client works on its bucket. */
async function servedMeanwhile(
  ctx: ProbeContext,
  other: KvClient,
  { mate, value, next }: { mate: string; value: Uint8Array; next: Uint8Array },
): Promise<Verdict | null> {
  const whole = "VALUE wk (1048576 bytes, the value last stored)";
  const checks: [string, Uint8Array | string, Expect, string][] = [
    ["GET wk", "GET wk", { kind: "value", value }, whole],
    ["SET wk (1 MiB)", encodeSet("wk", next), { kind: "stored" }, "STORED"],
    [`GET ${mate}`, `GET ${mate}`, { kind: "end" }, "END"],
    [`SET ${mate}`, encodeSet(mate, "x"), { kind: "stored" }, "STORED"],
    ["GET wk", "GET wk", { kind: "value", value: next }, whole],
  ];
  for (const [label, command, want, shown] of checks) {
    const got = await other.call(command, 5_000);
    if (!matches(got, want)) {
      return ctx.fail({
        what: `one client sent ${UNREAD_GETS} GET wk (a 1 MiB value) and read no reply, so the ` +
          `thread writing them is blocked; meanwhile another client (key ${mate} shares the ` +
          `bucket of wk) sent ${label}`,
        expected: `a reply at once: ${shown}`,
        got: showReply(got),
        note: got.kind === "timeout"
          ? "is a lock held while a reply is written? Copy the value out, unlock, then write"
          : undefined,
      });
    }
  }
  return null;
}

/** The stuck client reads again: every reply is a whole GET of one of `values`. */
async function readsAll(
  ctx: ProbeContext,
  client: KvClient,
  values: Uint8Array[],
): Promise<Verdict | null> {
  for (let i = 0; i < UNREAD_GETS; i++) {
    const got = await client.reply(10_000);
    if (!values.some((value) => matches(got, { kind: "value", value }))) {
      return ctx.fail({
        what: `the client that had stopped reading read its replies: reply ${i + 1} of ` +
          UNREAD_GETS,
        expected: "VALUE wk (1048576 bytes), one of the two values stored",
        got: showReply(got),
      });
    }
  }
  return null;
}

/**
 * EXCH per client in the storm. An unlocked swap is a few instructions long, so overlaps are
 * rare per command: 6 x 12,000 commands catch an unlocked EXCH in every run we tried.
 */
const EXCH_PER_CLIENT = 12_000;

/** EXCH storms on 3 keys from 6 clients: the values must still be a permutation. */
const exchStorm: Probe = {
  name: "exch-storm",
  title: "Concurrent EXCH storms over three keys keep exactly the values that were stored",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §7 Exchange: two locks",
  async run(ctx) {
    const server = await startDb(ctx);
    const keys = ["ka", "kb", "kc"];
    const clients = await dialAll(ctx, server.port, 6);
    try {
      const setup = await runScript(
        ctx,
        clients[0],
        keys.map((k) => ({ send: encodeSet(k, `value of ${k}`), expect: { kind: "stored" } })),
      );
      if (setup) return setup;
      const results = await Promise.all(clients.map((c) => {
        // Distinct pairs only: any two EXCH running at once then share a key.
        const commands = Array.from({ length: EXCH_PER_CLIENT }, () => {
          const a = Math.floor(ctx.random() * 3);
          const b = (a + 1 + Math.floor(ctx.random() * 2)) % 3;
          return encodeLine(`EXCH ${keys[a]} ${keys[b]}`);
        });
        return pipeline(c, commands, 20_000);
      }));
      for (const [i, r] of results.entries()) {
        const bad = r.replies.findIndex((reply) => reply.kind !== "exchanged");
        if (bad >= 0) {
          return ctx.fail({
            what: `6 clients each sent ${EXCH_PER_CLIENT} EXCH over 3 keys at once: client ${
              i + 1
            }, reply ${bad + 1}`,
            expected: "EXCHANGED",
            got: showReply(r.replies[bad]),
          });
        }
      }
      const values = [];
      for (const k of keys) {
        const got = await clients[0].call(`GET ${k}`, 10_000);
        values.push(got.kind === "value" ? latin1(got.value) : showReply(got));
      }
      const expected = keys.map((k) => `value of ${k}`);
      if ([...values].sort().join("|") !== expected.join("|")) {
        return ctx.fail({
          what: `after ${6 * EXCH_PER_CLIENT} concurrent EXCH over ka, kb, kc, GET of each`,
          expected: `the three values, in any order: ${expected.join(", ")}`,
          got: values.join(", "),
          note: "a value was lost or duplicated: two EXCH touched one key at once without a lock",
        });
      }
      return ctx.pass();
    } finally {
      clients.forEach((c) => c.close());
    }
  },
};

/** A value that says what it must contain: "<writer>:<seq>:<length>:" then a pattern. */
function selfChecking(writer: number, seq: number, length: number): Uint8Array {
  const head = encoder.encode(`${writer}:${seq}:${length}:`);
  const out = new Uint8Array(length);
  out.set(head);
  for (let i = head.length; i < length; i++) out[i] = (writer * 31 + seq * 7 + i) % 128; // (*)
  return out;
}

/** Null when `value` is a whole value written by `selfChecking`, else what is wrong with it. */
function tornReason(value: Uint8Array): string | null {
  const head = /^(\d+):(\d+):(\d+):/.exec(latin1(value.subarray(0, 40)));
  if (head === null) return "it does not start with a writer's header";
  const [writer, seq, length] = head.slice(1).map(Number);
  if (value.length !== length) return `its header says ${length} bytes, it has ${value.length}`;
  const want = selfChecking(writer, seq, length);
  const at = value.findIndex((b, i) => b !== want[i]);
  return at < 0 ? null : `byte ${at} differs from what writer ${writer} wrote (mixed values)`;
}

/** GETs of `keys`, 200 pipelined at a time, until `done()`; every reply, or where it stopped. */
async function readUntil(
  client: KvClient,
  keys: string[],
  done: () => boolean,
): Promise<{ replies: Reply[]; stuckAt: number | null }> {
  const replies: Reply[] = [];
  const batch = Array.from({ length: 200 }, (_, i) => encodeLine(`GET ${keys[i % keys.length]}`));
  do {
    const r = await pipeline(client, batch, 20_000);
    replies.push(...r.replies);
    if (r.stuckAt !== null) return { replies, stuckAt: replies.length - 1 };
  } while (!done());
  return { replies, stuckAt: null };
}

/**
 * Rounds of the SET/GET storm. An unlocked GET tears only when a SET frees its block and another
 * SET reuses it during the copy: one round of 900 SETs misses that about one time in six on a
 * busy 2-core machine, four in a row almost never. A buggy server fails in the first round that
 * tears; a correct one runs all four (a few seconds).
 */
const TORN_ROUNDS = 4;
const SETS_PER_ROUND = 300;

const tornValues: Probe = {
  name: "torn-values",
  title: "Concurrent SETs and GETs of large values never return a torn or mixed value",
  points: 3,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §5 One lock per bucket",
  async run(ctx) {
    const server = await startDb(ctx);
    const keys = ["t0", "t1", "t2"];
    const [writers, readers] = [
      await dialAll(ctx, server.port, 3),
      await dialAll(ctx, server.port, 3),
    ];
    try {
      const setup = await runScript(
        ctx,
        writers[0],
        keys.map((k, i) => ({
          send: encodeSet(k, selfChecking(9, i, 5000)),
          expect: { kind: "stored" },
        })),
      );
      if (setup) return setup;
      // Every Worker running before the storm (each takes a while to start), so that the
      // readers and the writers really overlap.
      for (const c of [...writers, ...readers]) {
        const got = await c.call("GET t0", 10_000);
        if (got.kind !== "value") {
          return ctx.fail({
            what: "GET t0 on each of 6 clients",
            expected: "VALUE",
            got: showReply(got),
          });
        }
      }
      for (let round = 0; round < TORN_ROUNDS; round++) {
        const failed = await tornRound(ctx, writers, readers, keys, round);
        if (failed) return failed;
      }
      return ctx.pass();
    } finally {
      [...writers, ...readers].forEach((c) => c.close());
    }
  },
};

/** One storm: each writer pipelines SETs of 33-64 KB while the readers GET until it is over. */
async function tornRound(
  ctx: ProbeContext,
  writers: KvClient[],
  readers: KvClient[],
  keys: string[],
  round: number,
): Promise<Verdict | null> {
  let writersDone = false;
  const writing = writers.map((c, w) =>
    pipeline(
      c,
      Array.from({ length: SETS_PER_ROUND }, (_, i) => {
        const seq = round * SETS_PER_ROUND + i;
        // One size class of the arena (64 KB blocks), so that a freed block is reused at once.
        const length = 33_000 + Math.floor(ctx.random() * 31_000);
        return encodeSet(keys[seq % keys.length], selfChecking(w, seq, length));
      }),
      20_000,
    )
  );
  void Promise.all(writing).finally(() => (writersDone = true));
  // The readers keep reading until the last writer is done: the storm is read throughout.
  const reading = readers.map((c) => readUntil(c, keys, () => writersDone));
  const results = await Promise.all([...writing, ...reading]);
  for (const r of results) {
    for (const reply of r.replies) {
      if (reply.kind === "stored") continue;
      const why = reply.kind === "value" ? tornReason(reply.value) : showReply(reply);
      if (why !== null) {
        return ctx.fail({
          what: `3 clients SET 33-64 KB values on ${keys.join(", ")} while 3 others GET them`,
          expected: "every GET returns one whole value that some SET stored",
          got: reply.kind === "value" ? `a value where ${why}` : why,
          note: "a GET read the value while a SET replaced it: both must hold the bucket lock",
        });
      }
    }
    if (r.stuckAt !== null) {
      return ctx.fail({
        what: "a storm of SET and GET",
        expected: "a reply to every command",
        got: showReply(r.replies.at(-1)!),
      });
    }
  }
  return null;
}

/** Requests that must each finish by a deadline; on a stall, names the stuck ones. */
const deadlock: Probe = {
  name: "deadlock",
  title: "EXCH k k, two keys of one bucket, and EXCH a b against EXCH b a all complete",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §7 Exchange: two locks",
  async run(ctx) {
    const server = await startDb(ctx);
    const twin = sameBucketKey("dk");
    const [a, b] = twoBuckets("da", "db");
    const clients = await dialAll(ctx, server.port, 3);
    try {
      const setup = await runScript(ctx, clients[0], [
        ...["dk", twin, a, b].map((k) => ({
          send: encodeSet(k, k),
          expect: { kind: "stored" as const },
        })),
      ]);
      if (setup) return setup;
      for (const command of ["EXCH dk dk", `EXCH dk ${twin}`, `EXCH ${twin} dk`]) {
        const got = await clients[0].call(command, 10_000);
        if (got.kind === "timeout") return stuck(ctx, [`${command}: ${showReply(got)}`]);
        if (!matches(got, { kind: "exchanged" })) {
          return ctx.fail({
            what: `${command} (keys in one bucket)`,
            expected: "EXCHANGED",
            got: showReply(got),
          });
        }
      }
      const storms = [`EXCH ${a} ${b}`, `EXCH ${b} ${a}`].map((command, i) =>
        pipeline(clients[i + 1], Array.from({ length: 3000 }, () => encodeLine(command)), 10_000)
      );
      const results = await Promise.all(storms);
      const stalled = results.flatMap((r, i) =>
        r.stuckAt === null ? [] : [
          `client ${i + 1}: request ${r.stuckAt + 1} of 3000 (${
            i === 0 ? `EXCH ${a} ${b}` : `EXCH ${b} ${a}`
          }): ${showReply(r.replies.at(-1)!)}`,
        ]
      );
      if (stalled.length > 0) return stuck(ctx, stalled);
      return ctx.pass();
    } finally {
      clients.forEach((c) => c.close());
    }
  },
};

/** The deadlock failure, naming the stuck requests (the report adds the server's output). */
function stuck(ctx: ProbeContext, requests: string[], seconds = 10): Verdict {
  return ctx.fail({
    what: `deadlock: requests got no reply within ${seconds} s while the server was running`,
    expected: "every EXCH answered",
    got: `stuck: ${requests.join("; ")}`,
    note: "EXCH k k and two keys of one bucket need one lock; two buckets: lower number first",
  });
}

/** Reads the lock-order report (JSON lines) the course library wrote. */
async function readReport(path: string): Promise<LockOrderEvent[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").flatMap((line) => {
    try {
      return line.trim() === "" ? [] : [JSON.parse(line) as LockOrderEvent];
    } catch {
      return [];
    }
  });
}

const lockOrder: Probe = {
  name: "lock-order",
  title: "The lock-order checker finds no cycle and no self-deadlock (even if none happened)",
  points: 3,
  visibility: "visible",
  deadlineMs: 40_000,
  hint: "README.md §8 Lock order, checked",
  async run(ctx) {
    const report = await Deno.makeTempFile({ prefix: "weensydb-lock-order-" });
    try {
      const server = await ctx.startServer({
        env: { COURSE_SHORT_COUNTS: String(ctx.seed), COURSE_LOCK_ORDER_REPORT: report },
      });
      const [a, b] = twoBuckets("oa", "ob");
      const twin = sameBucketKey(a);
      // Two pairs whose key order and bucket order disagree: locking in key order (rather than
      // bucket order) takes the two buckets one way for the first pair, the other way for the
      // second.
      const [low, high] = [a, b].sort();
      const [c, d] = [sameBucketKey(high, "m"), sameBucketKey(low, "n")]; // c < d
      const client = await KvClient.dial(ctx, server.port);
      let failed: Verdict | null = null; // judged after the report: a self-deadlock comes first
      try {
        const steps: Step[] = [a, b, twin, c, d].map((k) => ({
          send: encodeSet(k, k),
          expect: { kind: "stored" },
        }));
        for (
          const command of [
            `EXCH ${a} ${b}`,
            `EXCH ${b} ${a}`,
            `EXCH ${a} ${a}`,
            `EXCH ${a} ${twin}`,
            `EXCH ${low} ${high}`,
            `EXCH ${c} ${d}`,
          ]
        ) {
          steps.push({ send: command, expect: { kind: "exchanged" }, note: command });
        }
        failed = await runScript(ctx, client, steps);
        failed ??= await contendedExch(ctx, server.port, a, b);
      } finally {
        client.close();
      }
      await server.stop();
      const events = await readReport(report);
      const orders = events.filter((e) => e.event === "order").length;
      return judgeReport(ctx, events) ?? failed ??
        ctx.pass(`${orders} lock orders recorded, no cycle, no self-deadlock`);
    } finally {
      await Deno.remove(report);
    }
  },
};

/** EXCH per client of the contended storm in `lock-order`: enough for many busy second locks. */
const CONTENDED_EXCH = 1500;

/**
 * EXCH a b from two clients and EXCH b a from two others, all at once: the second lock is often
 * busy. A thread that then waits for it while holding the first (blocking, or retrying tryLock
 * without letting go) leaves its order in the report; one that lets go and backs off leaves
 * none. The report judges; a stall here is reported only when the report shows nothing.
 */
async function contendedExch(
  ctx: ProbeContext,
  port: number,
  a: string,
  b: string,
): Promise<Verdict | null> {
  const clients = await dialAll(ctx, port, 4);
  try {
    // Every thread running first (each takes a while to start), so that the storms overlap.
    for (const c of clients) await c.call("GET nothing", 10_000);
    const commands = [`EXCH ${a} ${b}`, `EXCH ${b} ${a}`];
    const results = await Promise.all(
      clients.map((c, i) =>
        pipeline(
          c,
          Array.from({ length: CONTENDED_EXCH }, () => encodeLine(commands[i % 2])),
          5_000,
        )
      ),
    );
    const stalled = results.flatMap((r, i) =>
      r.stuckAt === null ? [] : [
        `client ${i + 1}: request ${r.stuckAt + 1} of ${CONTENDED_EXCH} (${commands[i % 2]}): ` +
        showReply(r.replies.at(-1)!),
      ]
    );
    return stalled.length === 0 ? null : stuck(ctx, stalled, 5);
  } finally {
    clients.forEach((c) => c.close());
  }
}

/** The failure the report shows (a self-deadlock, or a cycle), or null. */
function judgeReport(ctx: ProbeContext, events: LockOrderEvent[]): Verdict | null {
  const name = (group: string, lock: number) => `${group}[${lock}]`;
  const self = events.find((e) => e.event === "self");
  if (self?.event === "self") {
    return ctx.fail({
      what: `self-deadlock: a thread acquired ${name(self.group, self.lock)} while holding it`,
      note: "EXCH of two keys in one bucket (or a key with itself) must take that lock once",
    });
  }
  // Lock numbers are per group: a submission with two groups must not have their edges mixed.
  const orders = events.flatMap((e) => e.event === "order" ? [e] : []);
  for (const group of new Set(orders.map((e) => e.group))) {
    const cycles = findCycles(orders.filter((e) => e.group === group));
    if (cycles.length === 0) continue;
    const path = cycles[0].map((l) => name(group, l)).join(" -> ");
    return ctx.fail({
      what: "potential deadlock: locks were taken in both orders (the run may not have deadlocked)",
      got: `held-then-acquired: ${path}`,
      note: "two threads doing these at once wait for each other forever: take locks in one " +
        "global order (lower bucket number first), or never wait for a lock while holding " +
        "another (a tryLock retried without letting go is waiting too)",
    });
  }
  return null;
}

/** `count` keys, each in a bucket of its own and of none of `taken`, named `<prefix><n>`. */
function keysInOwnBuckets(prefix: string, count: number, taken: Set<number>): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) {
    const b = bucketOf(encoder.encode(`${prefix}${n}`));
    if (!taken.has(b)) [taken.add(b), keys.push(`${prefix}${n}`)];
  }
  return keys;
}

const bucketLocks: Probe = {
  name: "bucket-locks",
  title: "Each command locks its key's bucket (one lock per bucket, not one for the whole table)",
  points: 3,
  visibility: "visible",
  deadlineMs: 30_000,
  hint: "README.md §5 One lock per bucket",
  async run(ctx) {
    const report = await Deno.makeTempFile({ prefix: "weensydb-lock-use-" });
    try {
      const server = await ctx.startServer({
        env: { COURSE_SHORT_COUNTS: String(ctx.seed), COURSE_LOCK_ORDER_REPORT: report },
      });
      const taken = new Set<number>();
      const [s, g, d, e] = ["s", "g", "d", "e"].map((p) => keysInOwnBuckets(`lk${p}`, 4, taken));
      const commands = [
        ...s.map((k) => ({ label: `SET ${k}`, send: encodeSet(k, k), keys: [k] })),
        ...g.map((k) => ({ label: `GET ${k}`, send: `GET ${k}`, keys: [k] })),
        ...d.map((k) => ({ label: `DELETE ${k}`, send: `DELETE ${k}`, keys: [k] })),
        { label: `EXCH ${e[0]} ${e[1]}`, send: `EXCH ${e[0]} ${e[1]}`, keys: [e[0], e[1]] },
        { label: `EXCH ${e[2]} ${e[3]}`, send: `EXCH ${e[2]} ${e[3]}`, keys: [e[2], e[3]] },
      ];
      const client = await KvClient.dial(ctx, server.port);
      try {
        for (const c of commands) {
          const got = await client.call(c.send, 10_000);
          if (got.kind === "timeout" || got.kind === "closed") {
            return ctx.fail({ what: c.label, expected: "a reply", got: showReply(got) });
          }
        }
      } finally {
        client.close();
      }
      await server.stop();
      return judgeUse(ctx, commands, await readReport(report));
    } finally {
      await Deno.remove(report);
    }
  },
};

/** Every command whose keys' bucket locks the report never saw taken, or a pass. */
function judgeUse(
  ctx: ProbeContext,
  commands: { label: string; keys: string[] }[],
  events: LockOrderEvent[],
): Verdict {
  const bucket = (k: string) => bucketOf(encoder.encode(k));
  const want = new Set(commands.flatMap((c) => c.keys.map(bucket)));
  // The group that covers most of them: the bucket locks (a submission may have other groups).
  const used = new Map<string, Set<number>>();
  for (const e of events) {
    if (e.event === "use") used.set(e.group, (used.get(e.group) ?? new Set()).add(e.lock));
  }
  const covered = (g: Set<number>) => [...want].filter((b) => g.has(b)).length;
  const [group, locks] = [...used].sort((x, y) => covered(y[1]) - covered(x[1]))[0] ??
    ["bucket", new Set<number>()];
  const missed = commands.flatMap((c) => {
    const not = c.keys.map(bucket).filter((b) => !locks.has(b));
    return not.length === 0 ? [] : [`${c.label}: ${not.map((b) => `${group}[${b}]`).join(", ")}`];
  });
  if (missed.length === 0) {
    return ctx.pass(
      `each of ${commands.length} commands took its keys' bucket locks ` +
        `(${want.size} buckets)`,
    );
  }
  const others = [...locks].filter((b) => !want.has(b)).slice(0, 5).map((b) => `${group}[${b}]`);
  return ctx.fail({
    what: `${commands.length} commands on keys in ${want.size} different buckets, one at a time`,
    expected: "each command to take the mutex of its key's bucket (table.bucketOf(key)), as " +
      "the lock-order report (COURSE_LOCK_ORDER_REPORT) records",
    got: `never taken: ${missed.join("; ")}` +
      (others.length > 0 ? `; taken instead: ${others.join(", ")}` : ""),
    note: "one lock for the whole table is correct but makes every command wait for every " +
      "other: lock the key's bucket",
  });
}

/** Worker threads allowed under --max-threads 8: the 8, and 2 still ending. */
const CAPPED_WORKERS = 8 + 2;

const manyConnections: Probe = {
  name: "many-connections",
  title: "1,000 connections at once under --max-threads 8: bounded threads, and still serving",
  points: 3,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §9 A cap on threads",
  async run(ctx) {
    const server = await startDb(ctx, ["--max-threads", "8"]);
    const cold = await warmUp(ctx, server.port);
    if (cold) return cold;
    const before = threadCount(server.pid);
    const clients = await dialAll(ctx, server.port, 1000);
    // The most Worker threads seen at once: watched all through round 1, when no client has
    // left yet (so no Worker is ending), then once at the end of round 2.
    let most = 0;
    const workers = () => (most = Math.max(most, workerThreads(server.pid)));
    const over = (round: number) => (round === 1 && workers() > CAPPED_WORKERS) || server.exited();
    try {
      await Promise.all(clients.map((c) => c.send("GET m\r\n")));
      const replies = clients.map((c) => c.reply(60_000).then((r) => r.kind === "end"));
      const answered = new Set<number>();
      replies.forEach((p, i) => p.then((ok) => ok && answered.add(i)));
      for (const round of [1, 2]) {
        const want = round * 8;
        const ok = await eventually(() => answered.size >= want || over(round), 30_000);
        // A server without a cap starts a Worker per connection it accepts: wait until it has
        // accepted them all (or keeps the rest queued in the kernel, which is a cap too).
        if (round === 1) {
          await eventually(() => listenerOn(server.port)?.rxQueue === 0 || over(1), 10_000);
        }
        workers();
        if (server.exited()) {
          return ctx.fail({
            what: "1,000 clients connected",
            expected: "the server to stay up",
            got: "it exited",
            output: server.output(),
          });
        }
        if (most > CAPPED_WORKERS) {
          return ctx.fail({
            what: "1,000 clients connected to a server started with --max-threads 8",
            expected: `at most 8 Worker threads (named worker-N in /proc/${server.pid}/task/)`,
            got: `${most} Worker threads at once; ${threadCount(server.pid)} threads in all ` +
              `(${before} before); ${answered.size} clients answered`,
            note: "connections over the cap must wait for a thread, not get one each",
          });
        }
        if (!ok) {
          return ctx.fail({
            what: `1,000 clients sent GET; ${want - 8} of those served closed their connections`,
            expected: `${want} replies (the clients that got a thread)`,
            got: `${answered.size} replies within 30 s`,
            note: "a waiting connection gets a thread when one becomes free",
          });
        }
        for (const i of answered) clients[i].close(); // frees threads for waiting clients
      }
      return ctx.pass(
        `at most ${most} Worker threads at once, bound ${CAPPED_WORKERS} (8 and 2 ` +
          "ending); 16 clients served",
      );
    } finally {
      clients.forEach((c) => c.close());
    }
  },
};

/** 1 MiB SETs `store-full` sends at most: the course table's arena is 256 MiB. */
const FILL_MAX = 400;

const storeFull: Probe = {
  name: "store-full",
  title: "A full table answers SET with SERVER_ERROR out of memory, stores nothing, and the " +
    "connection stays usable",
  points: 2,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §2 The protocol",
  async run(ctx) {
    const server = await startDb(ctx);
    const client = await KvClient.dial(ctx, server.port);
    try {
      const value = sevenBit(ctx.bytes(1024 * 1024));
      let stored = 0;
      for (let refused = false; !refused;) {
        if (stored === FILL_MAX) {
          return ctx.fail({
            what: `SET of ${FILL_MAX} different keys, 1 MiB each (the table holds 256 MiB)`,
            expected: "SERVER_ERROR out of memory once the table is full",
            got: `STORED ${FILL_MAX} times`,
          });
        }
        const got = await client.call(encodeSet(`full${stored}`, value), 10_000);
        if (got.kind === "stored") stored++;
        else if (got.kind === "server_error") refused = true;
        else {
          return ctx.fail({
            what: `SET full${stored} (1 MiB) after ${stored} such SETs`,
            expected: "STORED, or SERVER_ERROR out of memory once the table is full",
            got: showReply(got),
          });
        }
      }
      const problems = await fullChecks(ctx, client, stored, value);
      if (problems.length > 0) {
        return ctx.fail({
          what: `${stored} SETs of 1 MiB filled the table (the next got SERVER_ERROR); then`,
          expected: "SERVER_ERROR out of memory for a SET that does not fit, nothing stored " +
            "(the old value kept, a new key still absent), the connection usable",
          got: problems.join("\n"),
          note: "catch the table's RangeError around setValue, undo what it left, reply " +
            "SERVER_ERROR out of memory, and go on with the next command",
        });
      }
      return ctx.pass(`full after ${stored} SETs of 1 MiB; refused, kept, and usable`);
    } finally {
      client.close();
    }
  },
};

/** What must hold once the table is full; each problem found. */
async function fullChecks(
  ctx: ProbeContext,
  client: KvClient,
  stored: number,
  value: Uint8Array,
): Promise<string[]> {
  const other = sevenBit(ctx.bytes(1024 * 1024)).reverse();
  const error = { kind: "server_error" } as const;
  const steps: [string, Uint8Array | string, Expect | typeof error][] = [
    ["SET fullnew (a new key, 1 MiB)", encodeSet("fullnew", other), error],
    ["GET fullnew", "GET fullnew", { kind: "end" }],
    ["SET full0 (an existing key, another 1 MiB)", encodeSet("full0", other), error],
    ["GET full0", "GET full0", { kind: "value", value }],
    [`DELETE full${stored - 1}`, `DELETE full${stored - 1}`, { kind: "deleted" }],
    ["DELETE full1", "DELETE full1", { kind: "deleted" }],
    ["SET fullnew (after 2 MiB were freed)", encodeSet("fullnew", other), { kind: "stored" }],
    ["GET fullnew", "GET fullnew", { kind: "value", value: other }],
  ];
  const problems: string[] = [];
  for (const [label, send, want] of steps) {
    const got = await client.call(send, 10_000);
    if (want.kind === "server_error" ? got.kind !== want.kind : !matches(got, want)) {
      const shown = want.kind === "value" ? "VALUE (the 1 MiB stored)" : want.kind.toUpperCase();
      problems.push(`${label}: expected ${shown}, got ${showReply(got)}`);
      if (got.kind === "closed" || got.kind === "timeout") break;
    }
  }
  return problems;
}

/** The cap `thread-cap` starts the server with: small, so that N and N+1 are quick to reach. */
const CAP = 4;

/**
 * Opens `CAP` clients and has each served (a GET answered: it has its thread), then a client
 * more, which must wait (no reply, not refused) until one of the first leaves. Problems found,
 * each a sentence; the clients are closed.
 */
async function capHolds(ctx: ProbeContext, port: number, pid: number, when: string) {
  const problems: string[] = [];
  const clients = await dialAll(ctx, port, CAP + 1);
  try {
    const served = await Promise.all(
      clients.slice(0, CAP).map((c, i) => c.call(`GET cap${i}`, 10_000)),
    );
    const unserved = served.filter((r) => r.kind !== "end").length;
    if (unserved > 0) {
      problems.push(
        `${when}: ${CAP} clients each sent GET; ${unserved} got no END within 10 s ` +
          `(${CAP} may run at once)`,
      );
      return problems;
    }
    const extra = clients[CAP];
    const early = await extra.call("GET waiting", 1_500);
    const workers = workerThreads(pid);
    if (early.kind !== "timeout") {
      problems.push(
        `${when}: while ${CAP} clients were served, one more sent GET and got ` +
          `${showReply(early)} at once; it must wait for a thread (${workers} Worker threads)`,
      );
      return problems;
    }
    if (workers > CAP) problems.push(`${when}: ${workers} Worker threads with a cap of ${CAP}`);
    clients[0].close();
    const late = await extra.reply(10_000);
    if (late.kind !== "end") {
      problems.push(
        `${when}: one of the ${CAP} served clients left; the waiting one expected ` +
          `END (its GET) within 10 s, got ${showReply(late)}`,
      );
    }
    return problems;
  } finally {
    clients.forEach((c) => c.close());
  }
}

/** Sessions that end badly, `CAP` at a time (each served first): reset mid-SET, too long a line. */
async function badSessions(ctx: ProbeContext, port: number, rounds: number): Promise<string[]> {
  for (let round = 0; round < rounds; round++) {
    const clients = await dialAll(ctx, port, CAP);
    try {
      const served = await Promise.all(clients.map((c) => c.call("GET bad", 5_000)));
      const waiting = served.filter((r) => r.kind !== "end").length;
      if (waiting > 0) {
        return [
          `round ${round + 1} of ${rounds} of clients that leave badly: ${waiting} of ` +
          `${CAP} new clients got no reply to GET within 5 s, after ${round * CAP} such ` +
          "sessions: their threads' slots were not given back",
        ];
      }
      for (const [i, c] of clients.entries()) {
        if (i % 2 === 0) {
          c.conn.armReset();
          await c.send("SET bad 10\r\nabc");
          await delay(20);
          c.conn.reset(); // mid-body: the thread's read fails (ECONNRESET)
        } else {
          await c.send(`GET ${"x".repeat(2000)}`); // over the line limit: the server closes
        }
      }
      await Promise.all(clients.map((c) => c.reply(5_000)));
    } finally {
      clients.forEach((c) => c.close());
    }
  }
  return [];
}

const threadCap: Probe = {
  name: "thread-cap",
  title: `--max-threads ${CAP}: ${CAP} clients served, one more waits (not refused) until one ` +
    "leaves, and the same after clients that leave badly",
  points: 3,
  visibility: "visible",
  deadlineMs: 90_000,
  hint: "README.md §9 A cap on threads",
  async run(ctx) {
    const server = await startDb(ctx, ["--max-threads", String(CAP)]);
    const cold = await warmUp(ctx, server.port);
    if (cold) return cold;
    const problems = await capHolds(ctx, server.port, server.pid, "at first");
    if (problems.length === 0) {
      const bad = await badSessions(ctx, server.port, 4);
      problems.push(...bad);
      if (bad.length === 0) {
        problems.push(
          ...await capHolds(ctx, server.port, server.pid, `after ${4 * CAP} bad sessions`),
        );
      }
    }
    if (problems.length > 0) {
      return ctx.fail({
        what: `a server started with --max-threads ${CAP}`,
        expected: `${CAP} clients served at once, the next one waiting until one leaves; ` +
          "the same after clients reset mid-SET or sent too long a line",
        got: problems.join("\n"),
        note: "count a thread as free when its Worker ends, whatever way its session ended",
      });
    }
    return ctx.pass(
      `${CAP} of ${CAP} served, the ${CAP + 1}th waited; the same after ` +
        `${4 * CAP} bad sessions`,
    );
  },
};

/** The 03-weensydb probes, in the order they run. */
const [commands, ...protocol] = protocolProbes({
  protocol: "README.md §2 The protocol",
  binary: "README.md §2 The protocol (values are bytes)",
  limits: "README.md §3 Limits",
  pipelining: "README.md §2 The protocol (pipelining)",
  nodelay: "README.md §4 A thread per connection (TCP_NODELAY)",
});

export const probes: Probe[] = gatedBy(commands, [
  ...protocol,
  threadPerConnection,
  bucketLocks,
  slowClients,
  lockWhileWriting,
  exchStorm,
  tornValues,
  linearizableProbe,
  deadlock,
  lockOrder,
  manyConnections,
  threadCap,
  storeFull,
]);
