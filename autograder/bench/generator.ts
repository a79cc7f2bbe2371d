/**
 * The load generator: many connections to one server on loopback, each sending batches of
 * `depth` pipelined requests, for a warm-up and then a fixed measured duration.
 *
 * - Closed loop: a connection sends its next batch as soon as the last one is answered; a
 *   response's latency runs from the moment its batch was actually sent.
 * - Open loop: each connection has a schedule (`rate` requests per second shared by all
 *   connections); a batch goes out at its intended time (up to 1.5 ms early: timers are coarse),
 *   or as soon as the previous one is answered if the server is late, and latency runs from the
 *   *intended* time (from the send, if that was early). A server that stalls therefore shows its
 *   stall in every request it delayed, not just one (no coordinated omission).
 *
 * Every run stops by itself: after `warmupMs + durationMs` no new batch starts, and `graceMs` later
 * every connection is closed, whatever it was waiting for. Run as a program it reads its options as
 * JSON and prints one JSON result line, so the benchmark can run it as separate processes:
 *
 *     deno run --allow-all generator.ts '{"port":7000,"protocol":{"kind":"echo"},"connections":10}'
 *
 * @module
 */
import { cpuTimeMs } from "../observe/proc.ts";
import { allowedCpus, queuedMs } from "./cpus.ts";
import { type Histogram, histogram, type HistogramJson, record, toJson } from "./histogram.ts";
import { makeProtocol, type Protocol, type ProtocolSpec } from "./protocols.ts";

/** What to run. Plain JSON. */
export interface LoadOptions {
  port: number;
  protocol: ProtocolSpec;
  connections: number;
  /** Requests per batch, written in one write; 1 means no pipelining. */
  depth?: number;
  mode?: "closed" | "open";
  /** Open loop only: the requests per second of all connections together. */
  rate?: number;
  warmupMs?: number;
  durationMs?: number;
  /** How long after the end to wait for answers before closing everything. */
  graceMs?: number;
  /**
   * Wall-clock time (ms since the epoch) at which the warm-up starts: generator processes
   * started together measure the same window, whenever each finished starting.
   */
  startAt?: number;
  /**
   * Processes (the server's) whose threads' run-queue wait is read at the start and the end of
   * the measured window, so it covers exactly that window.
   */
  watchPids?: number[];
}

/** What a run measured, counting only responses that arrived inside the measured window. */
export interface LoadResult {
  responses: number;
  /** Every response, warm-up and grace included (what the server's CPU time was spent on). */
  allResponses: number;
  errors: number;
  /** Requests sent that were never answered by the time the run closed its connections. */
  unanswered: number;
  /** Connections that got at least one response in the measured window. */
  servedConnections: number;
  /** Connections that could not be opened or broke. */
  connectFailures: number;
  seconds: number;
  latency: HistogramJson;
  /** CPU time (user + system) the generator process used during the measured window. */
  generatorCpuMs: number;
  /** The CPUs the generator process may run on (`Cpus_allowed_list` in /proc). */
  generatorCpus: number[];
  /**
   * Time the generator's JavaScript thread spent on a CPU or waiting in the run queue for one
   * during the measured window (`/proc/self/schedstat`): near the window's length, the generator
   * had no idle moment, whether it did the work or waited on other load for a CPU.
   */
  generatorBusyMs: number;
  /** Run-queue wait of the threads of `watchPids` during the measured window, summed (ms). */
  watchedQueuedMs: number;
}

/**
 * How early an open-loop batch may go out (ms). Timers fire a millisecond or two late; waking
 * this much ahead keeps that lateness out of every latency, and a batch sent early is timed from
 * its send, so no latency is ever shorter than the round trip it measures.
 */
const TIMER_SLACK_MS = 1.5;

/** Shared state of one run. */
interface Run {
  protocol: Protocol;
  options: Required<LoadOptions>;
  hist: Histogram;
  measureFrom: number;
  end: number;
  responses: number;
  allResponses: number;
  errors: number;
  unanswered: number;
  connectFailures: number;
  served: Set<number>;
  conns: Set<Deno.Conn>;
}

const DEFAULTS = {
  depth: 1,
  mode: "closed",
  rate: 1000,
  warmupMs: 1000,
  durationMs: 3000,
  graceMs: 1000,
};

/** Runs the load described by `options` against 127.0.0.1 and returns what it measured. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const o = { ...DEFAULTS, ...options } as Required<LoadOptions>;
  const protocol = makeProtocol(o.protocol);
  if (protocol.preload.length > 0) await preload(o.port, protocol);
  const start = performance.now() + Math.max(0, (o.startAt ?? 0) - Date.now());
  await sleepUntil(start);
  const run: Run = {
    protocol,
    options: o,
    hist: histogram(),
    measureFrom: start + o.warmupMs,
    end: start + o.warmupMs + o.durationMs,
    responses: 0,
    allResponses: 0,
    errors: 0,
    unanswered: 0,
    connectFailures: 0,
    served: new Set(),
    conns: new Set(),
  };
  // The hard stop: closing a connection makes its pending read fail, so nothing outlives it.
  const stop = setTimeout(() => closeAll(run), o.warmupMs + o.durationMs + o.graceMs);
  // The generator's own use of the CPU over the measured window, from /proc.
  let atStart: Usage | null = null, atEnd: Usage | null = null;
  const watch = o.watchPids ?? [];
  const cpuTimer = setTimeout(() => atStart = usage(watch), o.warmupMs);
  const cpuEndTimer = setTimeout(() => atEnd = usage(watch), o.warmupMs + o.durationMs);
  try {
    await Promise.all(
      Array.from({ length: o.connections }, (_, i) => connectionLoop(run, i, start)),
    );
  } finally {
    clearTimeout(stop);
    clearTimeout(cpuTimer);
    clearTimeout(cpuEndTimer);
    closeAll(run);
  }
  const used = windowUsage(atStart, atEnd ?? usage(watch)); // no end reading: every loop ended early
  return {
    responses: run.responses,
    allResponses: run.allResponses,
    errors: run.errors,
    unanswered: run.unanswered,
    servedConnections: run.served.size,
    connectFailures: run.connectFailures,
    seconds: o.durationMs / 1000,
    latency: toJson(run.hist),
    generatorCpuMs: used.cpuMs,
    generatorCpus: allowedCpus(),
    generatorBusyMs: used.busyMs,
    watchedQueuedMs: used.queuedMs,
  };
}

/** CPU time of every thread, and on-CPU plus run-queue time of the main thread, in ms. */
interface Usage {
  cpuMs: number;
  busyMs: number;
  queuedMs: number;
}

function usage(watch: number[]): Usage {
  let busyMs = 0;
  try {
    const [run, wait] = Deno.readTextFileSync("/proc/self/schedstat").split(" ").map(Number);
    busyMs = (run + wait) / 1e6;
  } catch {
    // no schedstat (a kernel without CONFIG_SCHED_INFO): busy is not known
  }
  return { cpuMs: cpuTimeMs(Deno.pid), busyMs, queuedMs: queuedMs(watch) };
}

function windowUsage(from: Usage | null, to: Usage): Usage {
  return from === null ? { cpuMs: 0, busyMs: 0, queuedMs: 0 } : {
    cpuMs: to.cpuMs - from.cpuMs,
    busyMs: to.busyMs - from.busyMs,
    queuedMs: to.queuedMs - from.queuedMs,
  };
}

function closeAll(run: Run): void {
  for (const c of run.conns) {
    try {
      c.close();
    } catch {
      // already closed
    }
  }
  run.conns.clear();
}

/** Sends every preload request of `protocol` on one connection and waits for all the answers. */
export async function preload(port: number, protocol: Protocol): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const counter = protocol.counter();
    for (const req of protocol.preload) await writeAll(conn, req);
    const buf = new Uint8Array(64 * 1024);
    for (let got = 0; got < protocol.preload.length;) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("Cannot preload: the server closed the connection");
      got += counter.feed(buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

/** Writes all of `bytes`: one write may take fewer. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Connects, unless the run is over; a refused or broken attempt is counted, not thrown. */
async function open(run: Run): Promise<Deno.Conn | null> {
  if (performance.now() >= run.end) return null;
  try {
    const conn = await connectBy(run.options.port, run.end + run.options.graceMs);
    if (conn === null) return null;
    run.conns.add(conn);
    return conn;
  } catch {
    run.connectFailures++;
    return null;
  }
}

/**
 * Connects to 127.0.0.1:port, or gives up at `deadline` (a `performance.now()` time): a connect
 * to a server whose backlog is full can wait for SYN retries far longer than a run lasts.
 */
async function connectBy(port: number, deadline: number): Promise<Deno.Conn | null> {
  const pending = Deno.connect({ hostname: "127.0.0.1", port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) =>
    timer = setTimeout(() => r(null), deadline - performance.now())
  );
  try {
    const conn = await Promise.race([pending, late]);
    if (conn === null) pending.then((c) => c.close(), () => {});
    return conn;
  } finally {
    clearTimeout(timer);
  }
}

function forget(run: Run, conn: Deno.Conn | null): void {
  if (conn === null || !run.conns.delete(conn)) return;
  try {
    conn.close();
  } catch {
    // already closed by the hard stop
  }
}

/** One connection's life: batches until the end, reconnecting per batch when the server closes. */
async function connectionLoop(run: Run, id: number, start: number): Promise<void> {
  const { depth, mode, rate, connections } = run.options;
  const interval = (1000 * connections * depth) / rate; // ms between this connection's batches
  // Connections start their schedules spread over one interval, not all at once.
  const offset = mode === "open" ? (interval * id) / connections : 0;
  const batch = batchBytes(run.protocol, depth, id);
  const buf = new Uint8Array(64 * 1024);
  let conn: Deno.Conn | null = null;
  try {
    for (let k = 0;; k++) {
      const intended = mode === "open" ? start + offset + k * interval : performance.now();
      if (intended >= run.end) return;
      await sleepUntil(intended, mode === "open" ? TIMER_SLACK_MS : 0);
      conn ??= await open(run);
      if (conn === null) return pauseAfterFailure(run);
      const ok = await exchange(run, { conn, batch, buf, id }, mode === "open" ? intended : null);
      if (!ok || run.protocol.reconnect) forget(run, conn), conn = null;
    }
  } finally {
    forget(run, conn);
  }
}

/**
 * Sleeps until `time`: a timer may fire early, and fires up to a millisecond or two late (it
 * counts whole milliseconds), so an open-loop batch is woken TIMER_SLACK_MS ahead of its time.
 */
async function sleepUntil(time: number, slackMs = 0): Promise<void> {
  for (let wait = time - performance.now(); wait > slackMs; wait = time - performance.now()) {
    await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(wait - slackMs))));
  }
}

/** A refused connection (a full backlog, a server that died) is retried no faster than 10/s. */
async function pauseAfterFailure(run: Run): Promise<void> {
  if (performance.now() >= run.end) return;
  await new Promise((r) => setTimeout(r, 100));
}

/** `depth` requests cycling through the protocol's keys, starting at a key per connection. */
function batchBytes(protocol: Protocol, depth: number, id: number): Uint8Array {
  const reqs = protocol.requests;
  const parts = Array.from({ length: depth }, (_, i) => reqs[(id + i) % reqs.length]);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

interface Wire {
  conn: Deno.Conn;
  batch: Uint8Array;
  buf: Uint8Array;
  id: number;
}

/**
 * Sends one batch and reads until all of its responses are in. Each response's latency runs
 * from `intended` (open loop) or from the send (closed loop). Returns false if the connection
 * broke or ended before every answer came.
 */
async function exchange(run: Run, w: Wire, intended: number | null): Promise<boolean> {
  const { depth } = run.options;
  const counter = run.protocol.counter();
  const sent = performance.now();
  const from = latencyFrom(intended, sent);
  let got = 0;
  try {
    await writeAll(w.conn, w.batch);
    while (got < depth) {
      const n = await w.conn.read(w.buf);
      const done = n === null ? counter.end() : counter.feed(w.buf.subarray(0, n));
      if (done > 0) tally(run, w.id, done, from);
      got += done;
      if (n === null) break;
    }
  } catch {
    // reset, or closed by the hard stop: what is missing is counted below
  }
  run.errors += counter.errors;
  if (got < depth) run.unanswered += depth - got;
  return got === depth;
}

/**
 * Where a batch's latency starts: closed loop (`intended` null), at the send; open loop, at
 * whichever came first of when it was due and when it went out. A late batch is charged from
 * when it was due (no coordinated omission); one woken early by the timer slack, from its send
 * (no latency shorter than the round trip).
 */
export function latencyFrom(intended: number | null, sent: number): number {
  return intended === null ? sent : Math.min(intended, sent);
}

/** Counts `done` responses that arrived now, if now is inside the measured window. */
function tally(run: Run, id: number, done: number, from: number): void {
  const now = performance.now();
  run.allResponses += done;
  if (now < run.measureFrom || now > run.end) return;
  run.responses += done;
  run.served.add(id);
  record(run.hist, (now - from) * 1000, done);
}

/** Opens `n` connections and proves each is served with one request; returns them open. */
export async function holdConnections(
  port: number,
  n: number,
  options: { protocol?: ProtocolSpec; timeoutMs?: number } = {},
): Promise<{ conns: Deno.Conn[]; answered: number }> {
  const conns: Deno.Conn[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const protocol = options.protocol ? makeProtocol(options.protocol) : null;
  let answered = 0;
  const by = performance.now() + (options.timeoutMs ?? 30_000);
  for (let i = 0; i < n && Date.now() < deadline; i += 200) {
    const group = await Promise.allSettled(
      Array.from(
        { length: Math.min(200, n - i) },
        () => connectBy(port, by),
      ),
    );
    for (const r of group) if (r.status === "fulfilled" && r.value !== null) conns.push(r.value);
  }
  if (protocol !== null) {
    const replies = await Promise.all(conns.map((c) => pingOnce(c, protocol, deadline)));
    answered = replies.filter((x) => x).length;
  }
  return { conns, answered };
}

/** Sends one request on `conn` and waits for its answer until `deadline`. */
async function pingOnce(conn: Deno.Conn, protocol: Protocol, deadline: number): Promise<boolean> {
  const counter = protocol.counter();
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) =>
    timer = setTimeout(() => r(null), Math.max(0, deadline - Date.now()))
  );
  try {
    await writeAll(conn, protocol.requests[0]);
    while (true) {
      const n = await Promise.race([conn.read(buf), late]);
      if (n === null) return false;
      if (counter.feed(buf.subarray(0, n)) > 0) return true;
    }
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) {
  const result = await runLoad(JSON.parse(Deno.args[0]) as LoadOptions);
  console.log(JSON.stringify(result));
}
