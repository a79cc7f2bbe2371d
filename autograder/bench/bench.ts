/**
 * `deno task bench [--quick] [--only ID,ID] [--out DIR]`: starts each reference server (and
 * memcached), loads it from separate generator processes over loopback, and writes a markdown
 * report and SVG charts to `results/bench-<date>/`. Every run stops by itself: each load has a
 * fixed duration and a hard stop, each server is stopped as a process group in a `finally`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { processTree } from "../observe/proc.ts";
import { delay } from "../harness/process.ts";
import { fromJson, histogram, merge, percentile, toJson } from "./histogram.ts";
import type { LoadOptions, LoadResult } from "./generator.ts";
import { holdConnections, preload } from "./generator.ts";
import { makeProtocol, type ProtocolSpec } from "./protocols.ts";
import { allowedCpus, cpuList, moveTo, onCpus, type Pinning, splitCpus } from "./cpus.ts";
import {
  type BenchReport,
  charts,
  checkTargets,
  classify,
  type LoadPoint,
  type MemoryPoint,
  parsePollTable,
  type PollRow,
  type Ratio,
  renderMarkdown,
  SWEEP_FRACTIONS,
  sweepRates,
  type WrkRow,
} from "./report.ts";
import {
  catalog,
  type Entry,
  hasCommand,
  present,
  type Running,
  startTarget,
  stopTarget,
  treeCpuMs,
  treePids,
  treeRss,
} from "./targets.ts";

const HERE = fileURLToPath(new URL("./", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** How long each load runs, and how much of the matrix a run covers. */
export interface Plan {
  quick: boolean;
  warmupMs: number;
  durationMs: number;
  graceMs: number;
  /** Connection counts are those of each target that are in this list. */
  connections: number[];
  /**
   * The memory test holds at most this many connections; a quick run skips servers that start
   * a process or thread per connection (their memory test alone takes longer than the run may).
   */
  maxHeld: number;
  /** Offered requests per second, and connections, of the open-loop comparison (0: none). */
  openRate: number;
  openConnections: number;
  /** The ratio rounds are run a second time, not pinned, beside the pinned ones. */
  compareUnpinned: boolean;
  /** Alternating rounds of the same-run ratio to memcached. */
  rounds: number;
  /** Operations of the pipelined comparison. */
  ops: ("get" | "set")[];
  /** Pipelining depth and connections of the pipelined comparison. */
  depth: number;
  pipelineConnections: number;
  pollFds: number[];
  only: string[] | null;
  /** Where servers and generators run; null: anywhere (one CPU, no taskset, or --no-pin). */
  pin: Pinning | null;
  /** Each closed-loop row is run again from two generator processes. */
  secondGenerator: boolean;
  /** Connections of the open-loop sweep, and its offered rates as fractions of saturation. */
  sweepConnections: number;
  sweepFractions: number[];
}

/** The servers the open-loop sweep covers. */
export const SWEPT = ["weensydb-epoll", "weensydb-poll", "memcached"];

/** The full run and the quick one (under 2 minutes). */
export function plan(
  quick: boolean,
  only: string[] | null = null,
  pin: Pinning | null = null,
): Plan {
  const common = { only, pin, secondGenerator: true };
  return quick
    ? {
      ...common,
      sweepConnections: 100,
      sweepFractions: [0.1, 0.5, 1.2],
      quick,
      // A smoke run (the test's): every row and chart made, no figure to trust.
      warmupMs: 100,
      durationMs: 300,
      graceMs: 200,
      connections: [1, 10],
      maxHeld: 1000,
      ops: ["get"],
      openRate: 1000,
      openConnections: 0, // the sweep measures open loop; the quick run has no time for both
      compareUnpinned: false,
      rounds: 1,
      depth: 16,
      pipelineConnections: 4,
      pollFds: [10, 100, 10_000],
    }
    : {
      ...common,
      sweepConnections: 1000,
      sweepFractions: SWEEP_FRACTIONS,
      quick,
      warmupMs: 1000,
      durationMs: 3000,
      graceMs: 1000,
      connections: [1, 10, 100, 1000],
      maxHeld: 10_000,
      ops: ["get", "set"],
      openRate: 5000,
      openConnections: 100,
      compareUnpinned: true,
      rounds: 3,
      depth: 32,
      pipelineConnections: 10,
      pollFds: [10, 100, 1000, 10_000],
    };
}

/**
 * Runs `count` generator processes of `options` each at once (on `cpus` when given) and merges
 * what they measured.
 */
export async function generate(
  options: LoadOptions,
  count = 1,
  cpus: number[] | null = null,
): Promise<LoadResult> {
  const limitMs = (options.warmupMs ?? 1000) + (options.durationMs ?? 3000) +
    (options.graceMs ?? 1000) + 20_000;
  const runs = await Promise.all(
    Array.from({ length: count }, () => runGenerator(options, limitMs, cpus)),
  );
  const h = histogram();
  for (const r of runs) merge(h, fromJson(r.latency));
  const sum = (f: (r: LoadResult) => number) => runs.reduce((n, r) => n + f(r), 0);
  return {
    responses: sum((r) => r.responses),
    allResponses: sum((r) => r.allResponses),
    errors: sum((r) => r.errors),
    unanswered: sum((r) => r.unanswered),
    servedConnections: sum((r) => r.servedConnections),
    connectFailures: sum((r) => r.connectFailures),
    seconds: runs[0].seconds,
    latency: toJson(h),
    generatorCpuMs: sum((r) => r.generatorCpuMs),
    generatorCpus: [...new Set(runs.flatMap((r) => r.generatorCpus))].sort((a, b) => a - b),
    // The busiest process: one saturated generator is enough to limit the load.
    generatorBusyMs: Math.max(...runs.map((r) => r.generatorBusyMs)),
    // Each process read the same server over the same window: one reading, not a sum.
    watchedQueuedMs: runs[0].watchedQueuedMs,
  };
}

/** One generator process, killed if it outlives `limitMs`. */
async function runGenerator(
  options: LoadOptions,
  limitMs: number,
  cpus: number[] | null,
): Promise<LoadResult> {
  const [cmd, ...args] = onCpus([
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-lock",
    `--config=${ROOT}deno.json`,
    `${HERE}generator.ts`,
    JSON.stringify(options),
  ], cpus);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success || text === "") {
      throw new Error(
        `Cannot run the generator: exit ${out.code}: ${
          new TextDecoder().decode(out.stderr).slice(-500)
        }`,
      );
    }
    return JSON.parse(text.split("\n").at(-1)!) as LoadResult;
  } finally {
    clearTimeout(timer);
  }
}

/** The shape of one load: what to send, how, and from how many generator processes. */
interface Shape {
  connections: number;
  depth: number;
  protocol: ProtocolSpec;
  generators?: number;
  /** Open loop at this many requests per second; closed loop without. */
  rate?: number;
  /** Closed loop: also run it from two generators (if the plan says so). */
  second?: boolean;
}

/** One load on a running server, from idle: what the generators measured, and the server's CPU. */
async function measure(r: Running, p: Plan, shape: Shape) {
  const generators = shape.generators ?? 1;
  await waitIdle(r); // a point starts on an idle server, not on the last point's leftovers
  const cpu0 = treeCpuMs(r);
  let serverCpus: number[] = [];
  // Read while it runs: the CPUs the server may use, from /proc, not from what we asked for.
  const probe = setTimeout(() => serverCpus = allowedCpus(r.child.pid), p.warmupMs);
  const res = await generate(
    {
      port: r.port,
      protocol: shape.protocol,
      connections: Math.ceil(shape.connections / generators),
      depth: shape.depth,
      mode: shape.rate === undefined ? "closed" : "open",
      rate: shape.rate,
      warmupMs: p.warmupMs,
      durationMs: p.durationMs,
      graceMs: p.graceMs,
      // Several processes start at different speeds: they begin together, a second from now.
      startAt: generators > 1 ? Date.now() + 1000 : undefined,
      // The server's run-queue wait (other programs on its CPU), read by the generator over
      // its own measured window.
      watchPids: treePids(r),
    },
    generators,
    p.pin?.generator ?? null,
  );
  clearTimeout(probe);
  const cpu = treeCpuMs(r) - cpu0;
  return {
    res,
    cpu,
    serverCpus: serverCpus.length > 0 ? serverCpus : allowedCpus(r.child.pid),
    // Negative when threads that had waited ended in the window (a process per connection).
    queuedPct: res.watchedQueuedMs >= 0 ? (100 * res.watchedQueuedMs) / p.durationMs : NaN,
  };
}

/**
 * Loads a running server once and turns the result into a report row: with `shape.second`, the
 * same load again from two generator processes, and the row says whose limit it shows.
 */
async function loadPoint(r: Running, p: Plan, shape: Shape): Promise<LoadPoint> {
  const generators = shape.generators ?? 1;
  const { res, cpu, serverCpus, queuedPct } = await measure(r, p, shape);
  const h = fromJson(res.latency);
  const point: LoadPoint = {
    target: r.target.id,
    label: r.target.label,
    connections: shape.connections,
    depth: shape.depth,
    op: shape.protocol.op ?? "get",
    generators,
    rate: shape.rate,
    throughput: res.responses / res.seconds,
    p50Us: percentile(h, 0.5),
    p99Us: percentile(h, 0.99),
    p999Us: percentile(h, 0.999),
    errors: res.errors,
    unanswered: res.unanswered,
    served: res.servedConnections,
    serverCpuUsPerReq: res.allResponses > 0 ? (cpu * 1000) / res.allResponses : NaN,
    generatorCpuPct: (100 * res.generatorCpuMs) / (res.seconds * 1000),
    generatorBusyPct: (100 * res.generatorBusyMs) / (res.seconds * 1000),
    serverQueuedPct: queuedPct,
    serverCpus,
    generatorCpus: res.generatorCpus,
    limitedBy: "server",
  };
  // One connection cannot be split between two generators.
  if (shape.second && p.secondGenerator && shape.rate === undefined && shape.connections > 1) {
    const two = (await measure(r, p, { ...shape, generators: 2 })).res;
    point.second = {
      throughput: two.responses / two.seconds,
      generatorCpuPct: (100 * two.generatorCpuMs) / (two.seconds * 1000),
    };
  }
  return { ...point, ...classify(point) };
}

/** Holds connections open, waits for the server's memory to settle, and reads it. */
export async function memoryPoint(r: Running, held: number, asked: number): Promise<MemoryPoint> {
  const before = treeRss(r);
  // HTTP/1.0 servers close after one answer: their connections are held without a request.
  const ping = r.target.protocol.kind === "http" && r.target.protocol.close
    ? undefined
    : r.target.protocol;
  const { conns, answered } = await holdConnections(r.port, held, {
    protocol: ping,
    timeoutMs: 30_000,
  });
  try {
    const now = await settledRss(r);
    return {
      target: r.target.id,
      label: r.target.label,
      held: conns.length,
      asked,
      answered,
      rssBeforeBytes: before,
      rssAfterBytes: now,
    };
  } finally {
    for (const c of conns) c.close();
    await waitIdle(r);
  }
}

/**
 * The server's RSS once it has stopped growing: unchanged (under 1%) for four reads 500 ms apart,
 * with no new process in between, or after 30 s. A process per connection takes a while to start
 * all its children on two cores.
 */
async function settledRss(r: Running): Promise<number> {
  const sample = () => ({ rss: treeRss(r), procs: processTree(r.child.pid).length });
  let last = sample(), stable = 0;
  for (let i = 0; i < 60 && stable < 4; i++) {
    await delay(500);
    const now = sample();
    stable = Math.abs(now.rss - last.rss) < now.rss / 100 && now.procs === last.procs
      ? stable + 1
      : 0;
    last = now;
  }
  return last.rss;
}

/** Waits (at most 20 s) until the server uses under 5% of a core: its children have finished. */
async function waitIdle(r: Running): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const cpu = treeCpuMs(r);
    await delay(500);
    if (treeCpuMs(r) - cpu < 25) return;
  }
}

/** Everything measured on one server, which is always stopped. */
async function measureTarget(t: Entry, p: Plan, report: BenchReport): Promise<void> {
  const r = await startTarget(t, 20_000, p.pin?.server ?? null);
  try {
    report.commands[t.id] = commandLine(t, r, p);
    // Memory first, on an idle server: after a load run, children and Workers are still exiting.
    const held = Math.min(t.memoryConnections, p.maxHeld);
    if (held > 0 && !(p.quick && t.memoryConnections < p.maxHeld)) {
      report.memory.push(await memoryPoint(r, held, t.memoryConnections));
    }
    if (t.backend) {
      await preload(r.backend!.port, makeProtocol({ kind: "weensydb", op: "get", size: 100 }));
    }
    for (const n of t.connections.filter((c) => p.connections.includes(c))) {
      report.load.push(
        await loadPoint(r, p, { connections: n, depth: 1, protocol: t.protocol, second: true }),
      );
    }
    if (SWEPT.includes(t.id)) report.sweep.push(...await sweep(r, p, report.load));
    // The same offered load for every server that keeps connections open (a process per HTTP
    // request cannot come near it, and the iterative echo server serves one connection).
    if (!t.protocol.close && t.id !== "echo" && p.openConnections > 0) {
      const shape = {
        connections: p.openConnections,
        depth: 1,
        protocol: t.protocol,
        rate: p.openRate,
      };
      report.openLoop.push(await loadPoint(r, p, shape));
    }
    if (t.protocol.kind === "weensydb" || t.protocol.kind === "memcached") {
      for (const op of p.ops) {
        const protocol = { ...t.protocol, op };
        report.pipelined.push(
          await loadPoint(r, p, {
            connections: p.pipelineConnections,
            depth: p.depth,
            protocol,
            second: true,
          }),
        );
      }
    }
    if (t.protocol.kind === "http") {
      if (hasCommand("wrk")) report.wrk.push(await wrkRow(r, p));
      else {report.notes.push(
          `${t.label}: no wrk cross-check: wrk not installed (setup.sh --bench)`,
        );}
    }
  } finally {
    await stopTarget(r);
  }
}

/**
 * The open-loop sweep of one server: its closed-loop throughput at `p.sweepConnections` (the load
 * table's row when there is one) is its saturation rate, and each of `p.sweepFractions` of it is
 * offered in turn, lowest first.
 */
async function sweep(r: Running, p: Plan, load: LoadPoint[]): Promise<LoadPoint[]> {
  const n = p.sweepConnections;
  const closed = load.find((x) => x.target === r.target.id && x.connections === n) ??
    await loadPoint(r, p, { connections: n, depth: 1, protocol: r.target.protocol });
  const out: LoadPoint[] = [];
  for (const { fraction, rate } of sweepRates(closed.throughput, p.sweepFractions)) {
    const point = await loadPoint(r, p, {
      connections: n,
      depth: 1,
      protocol: r.target.protocol,
      rate,
    });
    out.push({
      ...point,
      fraction,
      saturationRps: closed.throughput,
      saturationLimitedBy: closed.limitedBy,
    });
  }
  return out;
}

function commandLine(t: Entry, r: Running, p: Plan): string {
  const args = onCpus(t.command(r.port, r.backend?.port), p.pin?.server ?? null).map((a) =>
    a.replace(ROOT, "")
  );
  const exe = args.indexOf(Deno.execPath());
  if (exe >= 0) args[exe] = "deno";
  return args.join(" ");
}

/**
 * Our generator and then wrk, back to back on the same server, with the same connection count and
 * duration: a disagreement is the generator's (or wrk's), not the machine's drift.
 */
async function wrkRow(r: Running, p: Plan): Promise<WrkRow> {
  const ours = await loadPoint(r, p, { connections: 10, depth: 1, protocol: r.target.protocol });
  const seconds = Math.max(1, Math.round(p.durationMs / 1000));
  const path = r.target.protocol.path ?? "/";
  const [exe, ...args] = onCpus(
    ["wrk", "-t1", "-c10", `-d${seconds}s`, "--latency", `http://127.0.0.1:${r.port}${path}`],
    p.pin?.generator ?? null,
  );
  const cmd = new Deno.Command(exe, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => cmd.kill("SIGKILL"), seconds * 1000 + 15_000);
  try {
    const text = new TextDecoder().decode((await cmd.output()).stdout);
    const w = parseWrk(text);
    return {
      target: r.target.id,
      connections: 10,
      oursRps: ours.throughput,
      oursP99Us: ours.p99Us,
      oursGeneratorCpuPct: ours.generatorCpuPct,
      oursLimitedBy: ours.limitedBy,
      ...w,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads wrk's requests per second and its 99% latency (with --latency) from its output. */
export function parseWrk(
  text: string,
): { wrkRps: number | null; wrkP99Us: number | null; note?: string } {
  const rps = text.match(/Requests\/sec:\s+([\d.]+)/);
  const p99 = text.match(/^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m);
  const scale = { us: 1, ms: 1000, s: 1e6 } as const;
  const errors = text.match(/Socket errors:.*|Non-2xx or 3xx responses: \d+/g);
  return {
    wrkRps: rps ? Number(rps[1]) : null,
    wrkP99Us: p99 && Number(p99[1]) > 0 && rps && Number(rps[1]) > 0
      ? Number(p99[1]) * scale[p99[2] as keyof typeof scale]
      : null,
    note: errors ? errors.join("; ") : rps ? undefined : "wrk printed no result",
  };
}

/** Runs `deno run <script> ...args` with a time limit; returns its stdout, or throws. */
async function denoOutput(script: string, args: string[], limitMs = 60_000): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-lock", `--config=${ROOT}deno.json`, script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  try {
    const out = await child.output();
    if (!out.success) {
      throw new Error(`Cannot run ${script}: ${new TextDecoder().decode(out.stderr).slice(-300)}`);
    }
    return new TextDecoder().decode(out.stdout);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * poll/epoll per-call costs, from a process of their own (it opens up to 10,000 eventfds), next
 * to the 04-poll kit's own measuring command and the table its handout quotes, when present.
 */
async function pollRows(p: Plan, notes: string[]): Promise<PollRow[]> {
  const rows = JSON.parse(
    await denoOutput(`${HERE}poll_cost.ts`, p.pollFds.map(String)),
  ) as PollRow[];
  const kit = "assignments/04-poll/measure.ts", handout = "assignments/04-poll/README.md";
  if (present(kit)) {
    const measured = parsePollTable(
      await denoOutput(`${ROOT}${kit}`, p.quick ? ["--calls", "200"] : []),
    );
    for (const r of rows) [r.kitPollUs, r.kitEpollUs] = measured.get(r.fds) ?? [];
  } else notes.push(`poll/epoll: not measured with the kit's own command: ${kit} not present`);
  if (present(handout)) {
    const quoted = parsePollTable(Deno.readTextFileSync(`${ROOT}${handout}`));
    for (const r of rows) [r.notesPollUs, r.notesEpollUs] = quoted.get(r.fds) ?? [];
  } else notes.push(`poll/epoll: no course-notes figures to compare: ${handout} not present`);
  return rows;
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

function machine(): Record<string, string> {
  const read = (f: string) => {
    try {
      return Deno.readTextFileSync(f);
    } catch {
      return "";
    }
  };
  const model = read("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
  const mem = Number(read("/proc/meminfo").match(/MemTotal:\s*(\d+)/)?.[1] ?? 0);
  return {
    cpu: `${navigator.hardwareConcurrency} × ${model}`,
    memory: `${(mem / 1024 / 1024).toFixed(1)} GB`,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    "load average at start": loadAverage(),
  };
}

/**
 * memcached and the single-thread WeensyDBs up at once, loaded in turn with the same pipelined
 * load, `p.rounds` times: the ratios of one round saw the same machine. When pinned, each round
 * is run a second time with every server process and the generators free to use any CPU, so the
 * pinned and unpinned ratios are measured side by side.
 */
async function compareWithAnchor(all: Entry[], p: Plan, report: BenchReport): Promise<void> {
  const chosen = (t: Entry) => !t.missing && (p.only === null || p.only.includes(t.id));
  const anchor = all.find((t) => t.id === "memcached" && chosen(t));
  const others = all.filter((t) => ["weensydb-poll", "weensydb-epoll"].includes(t.id) && chosen(t));
  if (!anchor || others.length === 0) return;
  console.error(`bench: ratios to memcached, ${p.rounds} rounds`);
  const running: Running[] = [];
  const free = p.pin && p.compareUnpinned ? { ...p, pin: null } : null;
  const every = p.pin ? [...p.pin.generator, ...p.pin.server] : [];
  const pids = () => running.flatMap((r) => processTree(r.child.pid));
  try {
    for (const t of [anchor, ...others]) running.push(await startTarget(t, 20_000, p.pin?.server));
    for (const op of p.ops) {
      const ratios: Ratio[] = others.map((t) => ({ target: t.id, op, rounds: [], limited: [] }));
      const shape = (t: Entry) => ({
        connections: p.pipelineConnections,
        depth: p.depth,
        protocol: { ...t.protocol, op },
      });
      for (let round = 0; round < p.rounds; round++) {
        const base = await loadPoint(running[0], p, shape(anchor));
        for (const [i, r] of running.slice(1).entries()) {
          const x = await loadPoint(r, p, shape(others[i]));
          ratios[i].rounds.push(x.throughput / base.throughput);
          ratios[i].limited.push(x.limitedBy === "generator" || base.limitedBy === "generator");
        }
        if (free === null) continue;
        await moveTo(pids(), every);
        try {
          const b = await loadPoint(running[0], free, shape(anchor));
          for (const [i, r] of running.slice(1).entries()) {
            const x = await loadPoint(r, free, shape(others[i]));
            (ratios[i].unpinned ??= []).push(x.throughput / b.throughput);
          }
        } finally {
          await moveTo(pids(), p.pin!.server);
        }
      }
      report.ratios.push(...ratios);
    }
  } finally {
    for (const r of running) await stopTarget(r);
  }
}

/**
 * Where this run puts servers and generators: apart when this process may use two CPUs or more
 * and taskset is there, unless `noPin`; the reason goes to `notes` when not.
 */
export function choosePinning(noPin: boolean, notes: string[]): Pinning | null {
  const cpus = allowedCpus();
  const why = noPin
    ? "--no-pin given"
    : cpus.length < 2
    ? `this machine gives the benchmark ${cpus.length} CPU`
    : !hasCommand("taskset")
    ? "taskset (util-linux) not installed"
    : null;
  if (why === null) return splitCpus(cpus);
  notes.push(
    `Not pinned (${why}): servers and generators share CPUs ${cpuList(cpus)}, so a row can show ` +
      "the generator's or the scheduler's limit as much as the server's.",
  );
  return null;
}

/** Runs the benchmark of `p`; writes into `out`; returns the report. */
export async function runBench(
  p: Plan,
  out: string,
  command: string,
  notes: string[] = [],
): Promise<BenchReport> {
  const started = performance.now();
  const scratch = Deno.makeTempDirSync({ prefix: "bench-" });
  const report: BenchReport = {
    command,
    quick: p.quick,
    started: new Date().toISOString(),
    seconds: 0,
    machine: machine(),
    pinning: p.pin,
    load: [],
    pipelined: [],
    sweep: [],
    ratios: [],
    openLoop: [],
    memory: [],
    poll: [],
    wrk: [],
    notes: [...notes],
    commands: {},
  };
  // This process (memory tests, /proc reads) stays off the servers' CPUs too.
  if (p.pin) await moveTo([Deno.pid], p.pin.generator);
  try {
    const all = catalog({ scratch });
    for (const t of all) {
      if (p.only !== null && !p.only.includes(t.id)) continue;
      if (t.missing) {
        report.notes.push(`${t.label}: ${t.missing}`);
        continue;
      }
      if (t.limits) report.notes.push(`${t.label}: ${t.limits}`);
      console.error(`bench: ${t.id}`);
      try {
        await measureTarget(t, p, report);
      } catch (err) {
        report.notes.push(`${t.label}: failed: ${(err as Error).message}`);
      }
    }
    await compareWithAnchor(all, p, report);
    if (p.only === null || p.only.includes("poll")) report.poll = await pollRows(p, report.notes);
  } finally {
    Deno.removeSync(scratch, { recursive: true });
  }
  report.seconds = (performance.now() - started) / 1000;
  report.machine["load average at end"] = loadAverage();
  writeReport(report, out);
  return report;
}

function writeReport(report: BenchReport, out: string): void {
  Deno.mkdirSync(out, { recursive: true });
  const svgs = charts(report);
  for (const c of svgs) Deno.writeTextFileSync(`${out}/${c.name}`, c.svg);
  Deno.writeTextFileSync(`${out}/report.md`, renderMarkdown(report, svgs.map((c) => c.name)));
  Deno.writeTextFileSync(`${out}/report.json`, JSON.stringify(report, null, 2));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      out: { type: "string" },
      "no-pin": { type: "boolean" },
    },
  });
  if (!hasCommand("memcached") || !hasCommand("wrk")) {
    await new Deno.Command("bash", { args: [`${ROOT}autograder/setup.sh`, "--bench"] }).output();
  }
  const notes: string[] = [];
  const pin = choosePinning(values["no-pin"] === true, notes);
  const p = plan(values.quick === true, values.only?.split(",") ?? null, pin);
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, "-");
  const out = values.out ?? `${ROOT}results/bench-${stamp}`;
  const report = await runBench(p, out, `deno task bench ${Deno.args.join(" ")}`.trim(), notes);
  for (const c of checkTargets(report)) {
    console.log(
      `${
        c.reached === null ? "no verdict" : c.reached ? "reached" : "MISSED"
      }: ${c.goal}: ${c.detail}`,
    );
  }
  console.log(`bench: report in ${out}/report.md (${report.seconds.toFixed(0)} s)`);
}

if (import.meta.main) await main();
