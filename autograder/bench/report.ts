/**
 * The benchmark's report: the measured points as plain data, the targets of the issue checked
 * against them, a markdown page, and SVG charts drawn by hand (no library: a chart is a few
 * dozen `<rect>`, `<polyline>` and `<text>` elements).
 *
 * @module
 */

/** One load run: a server, a connection count, and what the generator(s) measured. */
export interface LoadPoint {
  target: string;
  label: string;
  connections: number;
  /** Requests per batch (pipelining depth). */
  depth: number;
  op: string;
  generators: number;
  /** Open loop: the offered requests per second; undefined for closed loop. */
  rate?: number;
  /** Open-loop sweep: the offered rate as a fraction of the closed-loop saturation rate. */
  fraction?: number;
  /** Open-loop sweep: the closed-loop throughput (saturation) the rates are fractions of. */
  saturationRps?: number;
  /** Open-loop sweep: whose limit the saturation row showed ("generator": a lower bound). */
  saturationLimitedBy?: "server" | "generator";
  throughput: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  errors: number;
  unanswered: number;
  served: number;
  /** Server CPU time (all its processes and threads) per answered request, in µs. */
  serverCpuUsPerReq: number;
  /** CPU the generator processes used in the measured window, in % of one core (summed). */
  generatorCpuPct: number;
  /**
   * The busiest generator's JavaScript thread, on a CPU or waiting for one, in % of the window
   * (/proc/self/schedstat): at 90% or more it never waited on the server.
   */
  generatorBusyPct: number;
  /**
   * Time the server's threads spent runnable but queued for a CPU, summed over its threads, in %
   * of the window (/proc/<pid>/task/<tid>/schedstat): other programs on the server's CPU. Not a
   * limit of the generator; a reader weighs a row with a large figure as the machine's.
   */
  serverQueuedPct?: number;
  /** The CPUs the server's processes may run on, read from /proc while it ran. */
  serverCpus: number[];
  /** The CPUs the generator processes may run on, as each read it from /proc. */
  generatorCpus: number[];
  /** The same load from two generator processes (its connections split between them). */
  second?: { throughput: number; generatorCpuPct: number };
  /** Whose limit the row shows; a "generator" row draws no verdict. */
  limitedBy: "server" | "generator";
  /** Why the generator is the limit, when it is. */
  limitedWhy?: string;
}

/** A generator at or above this share of its CPUs (in %) is saturated. */
export const SATURATED_PCT = 90;
/** A second generator raising throughput by more than this factor shows the first was the limit. */
export const SECOND_GAIN = 1.1;

/**
 * Whose limit a row shows, as a respected load generator's authors would judge it: the generator
 * is the limit when its processes used 90% or more of the CPUs they could use (one process runs
 * JavaScript on one core, so `generators` processes can use at most that many), when its
 * JavaScript thread was on a CPU or queued for one 90% or more of the window (other load on a
 * shared machine took the CPU it needed), or when a second generator process raised throughput
 * by more than 10%. Otherwise the server is.
 */
export function classify(
  p: Pick<
    LoadPoint,
    | "generatorCpuPct"
    | "generatorBusyPct"
    | "generatorCpus"
    | "generators"
    | "throughput"
    | "second"
  >,
): { limitedBy: "server" | "generator"; limitedWhy?: string } {
  const cores = Math.min(p.generators, Math.max(1, p.generatorCpus.length));
  const share = p.generatorCpuPct / cores;
  if (share >= SATURATED_PCT) {
    return {
      limitedBy: "generator",
      limitedWhy: `generator at ${fmt(share)}% of ${cores === 1 ? "a core" : `${cores} cores`}`,
    };
  }
  if (p.generatorBusyPct >= SATURATED_PCT) {
    return {
      limitedBy: "generator",
      limitedWhy: `generator thread on or waiting for a CPU ${
        fmt(p.generatorBusyPct)
      }% of the time`,
    };
  }
  if (p.second && p.throughput > 0 && p.second.throughput > SECOND_GAIN * p.throughput) {
    return {
      limitedBy: "generator",
      limitedWhy: `a second generator: ×${fmt(p.second.throughput / p.throughput)}`,
    };
  }
  return { limitedBy: "server" };
}

/** The offered rates of an open-loop sweep, as fractions of the closed-loop saturation rate. */
export const SWEEP_FRACTIONS = [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.2];

/** The sweep's offered rates (whole requests per second, at least 1) for a saturation rate. */
export function sweepRates(
  saturationRps: number,
  fractions: number[] = SWEEP_FRACTIONS,
): { fraction: number; rate: number }[] {
  if (!(saturationRps > 0)) return [];
  return fractions.map((f) => ({ fraction: f, rate: Math.max(1, Math.round(f * saturationRps)) }));
}

/** One memory run: `held` connections open to a server, and its resident memory. */
export interface MemoryPoint {
  target: string;
  label: string;
  /** Connections the full test holds; a quick run holds fewer (`held`). */
  asked: number;
  held: number;
  /** Connections that answered a request while held (proof that the server serves them). */
  answered: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
}

/** Per-call cost of poll() and epoll_wait() with `fds` watched and one ready. */
export interface PollRow {
  fds: number;
  pollUs: number;
  epollUs: number;
  /** The kit's own measuring command (assignments/04-poll/measure.ts), run in the same run. */
  kitPollUs?: number;
  kitEpollUs?: number;
  /** What the course notes quote (assignments/04-poll/README.md), when they do. */
  notesPollUs?: number;
  notesEpollUs?: number;
}

/**
 * Reads a table of `| watched fds | poll() | ... | epoll_wait() |` rows (the format of
 * assignments/04-poll/measure.ts and of its handout) into fds → [poll µs, epoll µs]. The first
 * time column is poll's, the last epoll's; "10,000" and "12.5 µs" / "1.2 ms" are understood.
 */
export function parsePollTable(text: string): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim()).filter((c) => c !== "");
    const fds = Number(cells[0]?.replace(/[,_\s]/g, ""));
    const times = cells.slice(1).map(parseMicros);
    if (!Number.isInteger(fds) || fds <= 0 || times.length < 2 || times.some(Number.isNaN)) {
      continue;
    }
    out.set(fds, [times[0], times.at(-1)!]);
  }
  return out;
}

function parseMicros(cell: string): number {
  const m = cell.match(/^([\d.,]+)\s*(µs|us|ms|ns)$/);
  if (m === null) return NaN;
  const scale = { ns: 0.001, us: 1, "µs": 1, ms: 1000 }[m[2]]!;
  return Number(m[1].replace(/,/g, "")) * scale;
}

/** The same HTTP load from our generator and from wrk. */
export interface WrkRow {
  target: string;
  connections: number;
  oursRps: number;
  wrkRps: number | null;
  oursP99Us: number;
  /** Our generator's CPU (% of a core) and whose limit our row showed. */
  oursGeneratorCpuPct: number;
  oursLimitedBy: "server" | "generator";
  wrkP99Us: number | null;
  note?: string;
}

/** A server's pipelined throughput over memcached's, one ratio per alternating round. */
export interface Ratio {
  target: string;
  op: string;
  rounds: number[];
  /** Per round: true when either row of the round was limited by the generator. */
  limited: boolean[];
  /** The same rounds with servers and generator on any CPU (not pinned), when pinned. */
  unpinned?: number[];
}

/** The median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A target of the issue: reached, missed, or not measured (null), with the numbers. */
export interface Check {
  goal: string;
  reached: boolean | null;
  detail: string;
}

/** Everything one run of the benchmark measured. */
export interface BenchReport {
  command: string;
  quick: boolean;
  started: string;
  seconds: number;
  machine: Record<string, string>;
  /** Where servers and generator ran; null when not pinned (see `notes`). */
  pinning: { server: number[]; generator: number[] } | null;
  load: LoadPoint[];
  pipelined: LoadPoint[];
  /** Open-loop rate sweeps, from 10% of the closed-loop saturation rate to past it. */
  sweep: LoadPoint[];
  /** Throughput ratios to memcached from alternating rounds, both servers up at once. */
  ratios: Ratio[];
  /** Open loop: the same offered rate for every server. */
  openLoop: LoadPoint[];
  memory: MemoryPoint[];
  poll: PollRow[];
  wrk: WrkRow[];
  /** What was not measured, and why. */
  notes: string[];
  commands: Record<string, string>;
}

const MB = 1024 * 1024;

/** Formats a number for a table: 3 significant digits, thousands separated, "–" for none. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 10 ** digits) return Math.round(x).toLocaleString("en-US");
  return Number(x.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/** Formats microseconds as µs or ms. */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return "–";
  return us < 1000 ? `${fmt(us)} µs` : `${fmt(us / 1000)} ms`;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function find(points: LoadPoint[], target: string, connections?: number): LoadPoint | undefined {
  return points.find((p) =>
    p.target === target && (connections === undefined || p.connections === connections)
  );
}

/** Checks the issue's targets against the measured points; a generator-limited row decides none. */
export function checkTargets(r: BenchReport): Check[] {
  return [
    ratioCheck(r),
    p99Check(r),
    ...[["weensydb-poll", 100], ["weensydb-epoll", 100], ["gateway", 150]].map(([t, mb]) =>
      memoryCheck(r, t as string, mb as number)
    ),
    generatorCheck(r.pipelined),
  ];
}

/** epoll WeensyDB against memcached, from the alternating rounds the generator did not limit. */
function ratioCheck(r: BenchReport): Check {
  const goal = "epoll WeensyDB ≥ 50% of memcached -t 1 on pipelined 100-byte GETs";
  const ratio = r.ratios.find((x) => x.target === "weensydb-epoll" && x.op === "get");
  if (!ratio) return { goal, reached: null, detail: "not measured" };
  const fair = ratio.rounds.filter((_, i) => !ratio.limited[i]);
  const rounds = ratio.rounds.map((x, i) => `${fmt(100 * x)}%${ratio.limited[i] ? " (gen)" : ""}`);
  if (fair.length === 0) {
    return {
      goal,
      reached: null,
      detail: `no verdict: every round limited by the generator (rounds: ${rounds.join(", ")})`,
    };
  }
  return {
    goal,
    reached: median(fair) >= 0.5,
    detail: `median of ${fair.length} alternating rounds ${fmt(100 * median(fair))}% ` +
      `(rounds: ${rounds.join(", ")}; "(gen)": limited by the generator, left out)`,
  };
}

/** p99 at half the saturation rate, open loop, 1,000 connections (the sweep's 50% point). */
function p99Check(r: BenchReport): Check {
  const goal = "epoll WeensyDB p99 < 5 ms at 1,000 connections, half the saturation rate";
  const at = (t: string) =>
    r.sweep.find((p) => p.target === t && p.fraction === 0.5 && p.connections === 1000);
  const k = at("weensydb-epoll");
  if (!k) return { goal, reached: null, detail: "not measured (the full run measures it)" };
  const m = at("memcached");
  const bound = k.saturationLimitedBy === "generator" ? ", a generator-limited lower bound" : "";
  const detail =
    `offered ${fmt(k.rate ?? NaN)} req/s (half of ${
      fmt(k.saturationRps ?? NaN)
    }${bound}), server queued for a CPU ${queuedCell(k)} of the window, ` +
    `answered ${fmt(k.throughput)} req/s, p99 ${fmtUs(k.p99Us)}, ${k.served} of 1,000 ` +
    `connections answered` + (m ? `; memcached at half its rate: p99 ${fmtUs(m.p99Us)}` : "");
  if (k.limitedBy === "generator") {
    return { goal, reached: null, detail: `no verdict: ${k.limitedWhy}; ${detail}` };
  }
  return { goal, reached: k.p99Us < 5000 && k.served === 1000, detail };
}

function memoryCheck(r: BenchReport, target: string, mb: number): Check {
  const p = r.memory.find((x) => x.target === target);
  return {
    goal: `${target} holds 10,000 connections under ${mb} MB RSS`,
    reached: !p || p.held < p.asked && r.quick
      ? null
      : p.held >= 10_000 && p.answered >= 10_000 && p.rssAfterBytes < mb * MB,
    detail: p
      ? `${p.held} held${r.quick ? " (quick run)" : ""}, ${p.answered} answered, RSS ${
        fmt(p.rssAfterBytes / MB)
      } MB`
      : "not measured",
  };
}

/** Does a second generator raise memcached's pipelined GET throughput (the hardest row)? */
function generatorCheck(points: LoadPoint[]): Check {
  const goal =
    "the generator is not the bottleneck (a second generator does not raise memcached's pipelined GETs)";
  const one = points.find((p) => p.target === "memcached" && p.op === "get");
  if (!one?.second) return { goal, reached: null, detail: "not measured" };
  const gain = one.second.throughput / one.throughput;
  return {
    goal,
    reached: one.limitedBy === "server",
    detail:
      `1 generator ${fmt(one.throughput)} req/s (generator CPU ${
        fmt(one.generatorCpuPct)
      }% of a core), 2 generators ${fmt(one.second.throughput)} req/s (${
        fmt(one.second.generatorCpuPct)
      }%): ×${fmt(gain)}` + (one.limitedWhy ? `; ${one.limitedWhy}` : ""),
  };
}

/** "1 / 0" for server CPUs 1 and generator CPU 0; "any" for a process not pinned. */
function cpusCell(p: LoadPoint, all: number): string {
  const list = (c: number[]) => c.length === 0 || c.length === all ? "any" : c.join(",");
  return `${list(p.serverCpus)} / ${list(p.generatorCpus)}`;
}

/** The server's threads' run-queue wait, % of the window: other programs on its CPU. */
function queuedCell(p: LoadPoint): string {
  return p.serverQueuedPct === undefined || !Number.isFinite(p.serverQueuedPct)
    ? "–"
    : `${fmt(p.serverQueuedPct)}%`;
}

function limitCell(p: LoadPoint): string {
  return p.limitedBy === "generator" ? `**generator** (${p.limitedWhy})` : "server";
}

function loadRows(points: LoadPoint[], cpus = 0): string[][] {
  return points.map((p) => [
    p.label,
    `${p.connections}`,
    `${p.depth}`,
    fmt(p.throughput),
    fmtUs(p.p50Us),
    fmtUs(p.p99Us),
    fmtUs(p.p999Us),
    fmt(p.serverCpuUsPerReq),
    `${fmt(p.generatorCpuPct)}% · ${fmt((p.generatorCpuPct * 1e4) / p.throughput)} · ${
      fmt(p.generatorBusyPct)
    }%`,
    p.second ? `×${fmt(p.second.throughput / p.throughput)}` : "–",
    queuedCell(p),
    cpusCell(p, cpus),
    limitCell(p),
    `${p.served}/${p.connections}`,
    `${p.errors + p.unanswered}`,
  ]);
}

const LOAD_HEAD = [
  "server",
  "conns",
  "depth",
  "req/s",
  "p50",
  "p99",
  "p99.9",
  "server CPU µs/req",
  "generator CPU: % of a core · µs/req · busy",
  "2 generators",
  "server queued",
  "CPUs server / gen",
  "limited by",
  "conns answered",
  "errors + unanswered",
];

function sweepRows(points: LoadPoint[], cpus: number): string[][] {
  return points.map((p) => [
    p.label,
    `${p.connections}`,
    `${fmt(100 * (p.fraction ?? NaN))}%`,
    fmt(p.rate ?? NaN),
    fmt(p.throughput),
    fmtUs(p.p50Us),
    fmtUs(p.p99Us),
    fmtUs(p.p999Us),
    fmt(p.serverCpuUsPerReq),
    `${fmt(p.generatorCpuPct)}% · ${fmt(p.generatorBusyPct)}%`,
    queuedCell(p),
    cpusCell(p, cpus),
    limitCell(p),
    `${p.served}/${p.connections}`,
  ]);
}

const SWEEP_HEAD = [
  "server",
  "conns",
  "of saturation",
  "offered req/s",
  "answered req/s",
  "p50",
  "p99",
  "p99.9",
  "server CPU µs/req",
  "generator CPU · busy",
  "server queued",
  "CPUs server / gen",
  "limited by",
  "conns answered",
];

function pinningText(r: BenchReport): string {
  const limited =
    [...r.load, ...r.pipelined, ...r.openLoop, ...r.sweep].filter((p) =>
      p.limitedBy === "generator"
    ).length;
  const all = r.load.length + r.pipelined.length + r.openLoop.length + r.sweep.length;
  const where = r.pinning
    ? `Servers pinned to CPU ${r.pinning.server.join(",")}, generators (and wrk) to CPU ${
      r.pinning.generator.join(",")
    } (taskset; read back from /proc in every row).`
    : "Servers and generators not pinned (see the notes): they share every CPU.";
  return `${where} ${limited} of ${all} rows are limited by the generator ` +
    `(its CPU ≥ ${SATURATED_PCT}% of what it may use; its JavaScript thread on a CPU or queued ` +
    `for one ≥ ${SATURATED_PCT}% of the window, the "busy" column; or a second generator raising ` +
    `throughput by more than ${
      fmt(100 * (SECOND_GAIN - 1))
    }%); no target verdict is drawn from them.`;
}

/** Renders the report as markdown; `charts` are the SVG file names to link. */
export function renderMarkdown(r: BenchReport, charts: string[] = []): string {
  const checks = checkTargets(r);
  const verdict = (c: Check) =>
    c.reached === null ? "no verdict" : c.reached ? "**reached**" : "**missed**";
  const memcached = find(r.pipelined, "memcached");
  const cpus = Number.parseInt(r.machine.cpu ?? "0");
  const parts = [
    `# Server architectures, measured${r.quick ? " (quick run)" : ""}`,
    `Command: \`${r.command}\`, started ${r.started}, took ${
      fmt(r.seconds)
    } s. Figures are from this one run.`,
    table(["machine", ""], Object.entries(r.machine).map(([k, v]) => [k, v])),
    pinningText(r),
    "## Targets",
    table(["target", "verdict", "measured"], checks.map((c) => [c.goal, verdict(c), c.detail])),
    "## Throughput and latency by connection count",
    "Closed loop: each connection sends a request when its last one is answered (latency from the send). " +
    '"2 generators": the same load from two generator processes, as a factor of one\'s throughput.',
    table(LOAD_HEAD, loadRows(r.load, cpus)),
    "## Open-loop rate sweep: latency against throughput",
    r.sweep.length === 0
      ? "Not measured."
      : "Each server's closed-loop throughput at this connection count is its saturation rate; " +
        "the generator then offers fixed fractions of it on a schedule, latency running from when " +
        "each request was due (no coordinated omission). See latency_throughput.svg.",
    r.sweep.length === 0 ? "" : table(SWEEP_HEAD, sweepRows(r.sweep, cpus)),
    "## Open loop: the same offered load for every server",
    r.openLoop.length === 0
      ? "Not measured."
      : `Each connection sends on a schedule, ${
        fmt(r.openLoop[0].rate ?? NaN)
      } requests per second in all; ` +
        "latency runs from when a request was due, not from when it went out, so a server that falls behind is charged for every request it delayed (no coordinated omission). " +
        "A server that cannot keep up shows req/s below the offered rate and a growing p99.",
    r.openLoop.length === 0 ? "" : table(LOAD_HEAD, loadRows(r.openLoop, cpus)),
    "## Pipelined GET and SET of 100-byte values, as a ratio to memcached",
    table(
      [...LOAD_HEAD, "× memcached"],
      loadRows(r.pipelined, cpus).map((row, i) => {
        const p = r.pipelined[i];
        const anchor = r.pipelined.find((q) => q.target === "memcached" && q.op === p.op);
        return [
          ...row.slice(0, 1).map((s) => `${s} ${p.op}`),
          ...row.slice(1),
          anchor ? fmt(p.throughput / anchor.throughput) : "–",
        ];
      }),
    ),
    memcached ? "" : "memcached was not measured, so there are no ratios.",
    "## Ratio to memcached, alternating rounds",
    "Both servers running at once; each round loads memcached, then the other server, with the same pipelined load, so drift in the machine's other load touches both alike. " +
    "When pinned, each round is also run with servers and generator moved onto every CPU (not pinned), in the same moment: the before and after of pinning.",
    r.ratios.length === 0 ? "Not measured." : table(
      ["server", "op", "ratio per round (pinned)", "median", "not pinned, same rounds", "median"],
      r.ratios.map((x) => [
        x.target,
        x.op,
        x.rounds.map((v, i) => `${fmt(v)}${x.limited[i] ? " (gen)" : ""}`).join(", "),
        `**${fmt(median(x.rounds))}**`,
        x.unpinned ? x.unpinned.map((v) => fmt(v)).join(", ") : "–",
        x.unpinned ? fmt(median(x.unpinned)) : "–",
      ]),
    ),
    "## Memory per open connection",
    "Connections held open and idle after one request each (HTTP/1.0 servers: no request, they close after one). RSS of the server and all its processes, from /proc.",
    table(
      ["server", "held", "answered", "RSS before", "RSS after", "per connection"],
      r.memory.map((m) => [
        m.label,
        `${m.held}`,
        `${m.answered}`,
        `${fmt(m.rssBeforeBytes / MB)} MB`,
        `${fmt(m.rssAfterBytes / MB)} MB`,
        m.held > 0 ? `${fmt((m.rssAfterBytes - m.rssBeforeBytes) / m.held / 1024)} KB` : "–",
      ]),
    ),
    "## poll() vs epoll_wait(): one call, one fd ready",
    "CPU columns: thread CPU time per call on eventfds, straight system calls (poll_cost.ts), which other load on the machine does not stretch. " +
    "The kit's measure.ts columns: wall-clock time on loopback sockets, through the course library (its `poll()` column), in the same run.",
    r.poll.length === 0 ? "Not measured." : table(
      [
        "watched fds",
        "poll() CPU",
        "epoll_wait() CPU",
        "poll / epoll",
        "kit's measure.ts: poll",
        "kit's measure.ts: epoll",
        "course notes: poll",
        "course notes: epoll",
      ],
      r.poll.map((p) => [
        `${p.fds}`,
        fmtUs(p.pollUs),
        fmtUs(p.epollUs),
        fmt(p.pollUs / p.epollUs),
        p.kitPollUs === undefined ? "–" : fmtUs(p.kitPollUs),
        p.kitEpollUs === undefined ? "–" : fmtUs(p.kitEpollUs),
        p.notesPollUs === undefined ? "–" : fmtUs(p.notesPollUs),
        p.notesEpollUs === undefined ? "–" : fmtUs(p.notesEpollUs),
      ]),
    ),
    "## HTTP cross-check against wrk",
    r.wrk.length === 0 ? "Not measured." : table(
      [
        "server",
        "conns",
        "ours req/s",
        "ours limited by",
        "wrk req/s",
        "ours p99",
        "wrk p99",
        "note",
      ],
      r.wrk.map((w) => [
        w.target,
        `${w.connections}`,
        fmt(w.oursRps),
        w.oursLimitedBy === "generator"
          ? `**generator** (${fmt(w.oursGeneratorCpuPct)}% of a core)`
          : `server (generator ${fmt(w.oursGeneratorCpuPct)}%)`,
        w.wrkRps === null ? "–" : fmt(w.wrkRps),
        fmtUs(w.oursP99Us),
        w.wrkP99Us === null ? "–" : fmtUs(w.wrkP99Us),
        w.note ?? "",
      ]),
    ),
    "## Not measured, and limits",
    r.notes.length === 0 ? "Nothing left out." : r.notes.map((n) => `- ${n}`).join("\n"),
    "## Commands",
    table(["server", "command"], Object.entries(r.commands).map(([k, v]) => [k, `\`${v}\``])),
    charts.length === 0 ? "" : "## Charts\n\n" + charts.map((c) => `![${c}](${c})`).join("\n\n"),
  ];
  return parts.filter((p) => p !== "").join("\n\n") + "\n";
}

/** One line of a line chart. */
export interface Series {
  name: string;
  points: [number, number][];
  /** A colour of its own (default: the next in the palette) and an SVG dash pattern. */
  color?: string;
  dash?: string;
  /** Per point: drawn hollow (a point that shows another limit than the one charted). */
  hollow?: boolean[];
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
];
const W = 720, H = 400, L = 70, R = 230, T = 40, B = 50;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Powers of ten from below `lo` to above `hi`: the ticks of a log axis. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/** A line chart with log-scaled axes (connection counts and rates span decades). */
export function lineChart(title: string, axes: { x: string; y: string }, series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (all.length === 0) return svg(title, [`<text x="${L}" y="${T + 20}">no data</text>`]);
  const xs = decades(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])));
  const ys = decades(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])));
  const sx = (x: number) =>
    L + ((Math.log10(x) - Math.log10(xs[0])) / Math.log10(xs.at(-1)! / xs[0] || 10)) * (W - L - R);
  const sy = (y: number) =>
    H - B -
    ((Math.log10(y) - Math.log10(ys[0])) / Math.log10(ys.at(-1)! / ys[0] || 10)) * (H - T - B);
  const body = [
    ...xs.map((x) => `<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle">${fmt(x)}</text>`),
    ...ys.map((y) =>
      `<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/><text x="${
        L - 6
      }" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`
    ),
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(axes.x)}</text>`,
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${
      (T + H - B) / 2
    })" text-anchor="middle">${esc(axes.y)}</text>`,
    ...series.flatMap((s, i) => {
      const c = s.color ?? COLORS[i % COLORS.length];
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
      const kept = s.points.map((p, k) => ({ p, hollow: s.hollow?.[k] === true }))
        .filter(({ p: [x, y] }) => x > 0 && y > 0);
      const pts = kept.map(({ p: [x, y] }) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
      return [
        `<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${pts.join(" ")}"/>`,
        ...pts.map((p, k) =>
          `<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="3" ${
            kept[k].hollow ? `fill="white" stroke="${c}"` : `fill="${c}"`
          }/>`
        ),
        `<line x1="${W - R + 8}" x2="${W - R + 22}" y1="${T + i * 18 + 5}" y2="${
          T + i * 18 + 5
        }" stroke="${c}" stroke-width="3"${dash}/>`,
        `<text x="${W - R + 25}" y="${T + i * 18 + 9}">${esc(s.name)}</text>`,
      ];
    }),
  ];
  return svg(title, body);
}

/** A horizontal bar chart on a linear axis. */
export function barChart(
  title: string,
  unit: string,
  bars: { label: string; value: number }[],
  options: { log?: boolean } = {},
): string {
  const values = bars.map((b) => b.value).filter((v) => Number.isFinite(v) && v > 0);
  const max = Math.max(1e-9, ...values);
  // On a log axis the bars start a decade below the smallest value, so the smallest still shows.
  const floor = Math.min(max, ...values) / 10;
  const scale = (v: number) =>
    options.log ? Math.log10(v / floor) / Math.log10(max / floor) : v / max;
  const rowH = 22, left = 300, width = W - left - 90;
  const body = bars.flatMap((b, i) => {
    const y = T + i * rowH;
    const w = Number.isFinite(b.value) && b.value > 0 ? scale(b.value) * width : 0;
    return [
      `<text x="${left - 6}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${
        COLORS[i % COLORS.length]
      }"/>`,
      `<text x="${left + w + 4}" y="${y + 14}">${esc(`${fmt(b.value)} ${unit}`)}</text>`,
    ];
  });
  return svg(title, body, T + bars.length * rowH + 20);
}

function svg(title: string, body: string[], height = H): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    ...body,
    "</svg>",
  ].join("\n") + "\n";
}

/**
 * The sweep's latency-throughput chart: for each server, p50 (solid), p99 (dashed) and p99.9
 * (dotted) against the throughput it answered, one point per offered rate. Where a curve turns
 * up is the server's knee.
 */
export function latencyThroughputChart(sweep: LoadPoint[]): string {
  const targets = [...new Set(sweep.map((p) => p.target))];
  const quantiles = [
    { name: "p50", dash: undefined, f: (p: LoadPoint) => p.p50Us },
    { name: "p99", dash: "6 3", f: (p: LoadPoint) => p.p99Us },
    { name: "p99.9", dash: "2 3", f: (p: LoadPoint) => p.p999Us },
  ];
  const series = targets.flatMap((t, i) =>
    quantiles.map((q) => ({
      name: `${t} ${q.name}`,
      color: COLORS[i % COLORS.length],
      dash: q.dash,
      hollow: sweep.filter((p) => p.target === t).map((p) => p.limitedBy === "generator"),
      points: sweep.filter((p) => p.target === t).map((p) =>
        [p.throughput, q.f(p)] as [
          number,
          number,
        ]
      ),
    }))
  );
  const chart = lineChart("Open-loop sweep: latency against throughput", {
    x: "answered requests/s",
    y: "latency (µs)",
  }, series);
  const note = `<text x="${W - R + 8}" y="${
    T + series.length * 18 + 12
  }">hollow: limited by the generator</text>`;
  return series.length === 0 ? chart : chart.replace("</svg>", `${note}\n</svg>`);
}

/** The report's charts, as file name and SVG text. */
export function charts(r: BenchReport): { name: string; svg: string }[] {
  const byTarget = new Map<string, LoadPoint[]>();
  // Series are named by target id: the full labels do not fit beside the plot.
  for (const p of r.load) byTarget.set(p.target, [...(byTarget.get(p.target) ?? []), p]);
  const series = (f: (p: LoadPoint) => number) =>
    [...byTarget].map(([name, ps]) => ({
      name,
      points: ps.map((p) => [p.connections, f(p)] as [number, number]),
    }));
  return [
    {
      name: "throughput.svg",
      svg: lineChart(
        "Throughput by connections",
        { x: "connections", y: "requests/s" },
        series((p) => p.throughput),
      ),
    },
    {
      name: "p99.svg",
      svg: lineChart(
        "p99 latency by connections",
        { x: "connections", y: "p99 latency (µs)" },
        series((p) => p.p99Us),
      ),
    },
    { name: "latency_throughput.svg", svg: latencyThroughputChart(r.sweep) },
    {
      name: "cpu_per_request.svg",
      svg: barChart(
        "Server CPU per request at 10 connections",
        "µs",
        r.load.filter((p) => p.connections === 10).map((p) => ({
          label: p.label,
          value: p.serverCpuUsPerReq,
        })),
      ),
    },
    {
      name: "pipelined.svg",
      svg: barChart(
        "Pipelined 100-byte requests",
        "req/s",
        r.pipelined.map((p) => ({ label: `${p.target} ${p.op}`, value: p.throughput })),
      ),
    },
    {
      name: "memory.svg",
      svg: barChart(
        "Memory per open connection (log scale)",
        "KB",
        r.memory.map((m) => ({
          label: `${m.target} (${m.held})`,
          value: (m.rssAfterBytes - m.rssBeforeBytes) / Math.max(1, m.held) / 1024,
        })),
        { log: true },
      ),
    },
    {
      name: "poll_epoll.svg",
      svg: lineChart("One poll() / epoll_wait() call, one fd ready", {
        x: "watched fds",
        y: "µs per call",
      }, [
        { name: "poll()", points: r.poll.map((p) => [p.fds, p.pollUs]) },
        { name: "epoll_wait()", points: r.poll.map((p) => [p.fds, p.epollUs]) },
      ]),
    },
  ];
}
