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
  throughput: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  unanswered: number;
  served: number;
  /** Server CPU time (all its processes and threads) per answered request, in µs. */
  serverCpuUsPerReq: number;
  /** CPU the generator processes used in the measured window, in % of one core (summed). */
  generatorCpuPct: number;
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
  wrkP99Us: number | null;
  note?: string;
}

/** A server's pipelined throughput over memcached's, one ratio per alternating round. */
export interface Ratio {
  target: string;
  op: string;
  rounds: number[];
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
  load: LoadPoint[];
  pipelined: LoadPoint[];
  generatorCheck: LoadPoint[];
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

/** Checks the issue's targets against the measured points. */
export function checkTargets(r: BenchReport): Check[] {
  const checks: Check[] = [];
  const e = find(r.pipelined, "weensydb-epoll"), m = find(r.pipelined, "memcached");
  const ratio = r.ratios.find((x) => x.target === "weensydb-epoll" && x.op === "get");
  checks.push(
    ratio
      ? {
        goal: "epoll WeensyDB ≥ 50% of memcached -t 1 on pipelined 100-byte GETs",
        reached: median(ratio.rounds) >= 0.5,
        detail:
          `median of ${ratio.rounds.length} alternating rounds ${
            fmt(100 * median(ratio.rounds))
          }% ` +
          `(rounds: ${ratio.rounds.map((x) => `${fmt(100 * x)}%`).join(", ")})`,
      }
      : e && m
      ? {
        goal: "epoll WeensyDB ≥ 50% of memcached -t 1 on pipelined 100-byte GETs",
        reached: e.throughput >= 0.5 * m.throughput,
        detail: `${fmt(e.throughput)} vs ${fmt(m.throughput)} req/s: ${
          fmt((100 * e.throughput) / m.throughput)
        }%`,
      }
      : {
        goal: "epoll WeensyDB ≥ 50% of memcached -t 1 on pipelined 100-byte GETs",
        reached: null,
        detail: "not measured",
      },
  );
  const k = find(r.load, "weensydb-epoll", 1000);
  checks.push({
    goal: "epoll WeensyDB p99 < 5 ms at 1,000 connections",
    reached: k ? k.p99Us < 5000 && k.served === 1000 : null,
    detail: k
      ? `p99 ${fmtUs(k.p99Us)}, ${k.served} of 1,000 connections answered` + anchorP99(r.load)
      : "not measured",
  });
  for (const t of ["weensydb-poll", "weensydb-epoll", "gateway"]) {
    const p = r.memory.find((x) => x.target === t);
    checks.push({
      goal: `${t} holds 10,000 connections under 100 MB RSS`,
      reached: !p || p.held < p.asked && r.quick
        ? null
        : p.held >= 10_000 && p.answered >= 10_000 && p.rssAfterBytes < 100 * MB,
      detail: p
        ? `${p.held} held${r.quick ? " (quick run)" : ""}, ${p.answered} answered, RSS ${
          fmt(p.rssAfterBytes / MB)
        } MB`
        : "not measured",
    });
  }
  checks.push(generatorCheck(r.generatorCheck));
  return checks;
}

/** memcached's p99 at 1,000 connections in the same run, as a yardstick for the machine. */
function anchorP99(load: LoadPoint[]): string {
  const m = find(load, "memcached", 1000);
  return m ? `; memcached in the same run: p99 ${fmtUs(m.p99Us)}` : "";
}

function generatorCheck(points: LoadPoint[]): Check {
  const goal =
    "the generator is not the bottleneck (a second generator does not raise memcached's throughput)";
  const one = points.find((p) => p.generators === 1), two = points.find((p) => p.generators === 2);
  if (!one || !two) return { goal, reached: null, detail: "not measured" };
  const gain = two.throughput / one.throughput;
  return {
    goal,
    reached: gain < 1.1,
    detail:
      `1 generator ${fmt(one.throughput)} req/s (generator CPU ${
        fmt(one.generatorCpuPct)
      }% of a core), ` +
      `2 generators ${fmt(two.throughput)} req/s (${fmt(two.generatorCpuPct)}%): ×${fmt(gain)}`,
  };
}

function loadRows(points: LoadPoint[]): string[][] {
  return points.map((p) => [
    p.label,
    `${p.connections}`,
    `${p.depth}`,
    fmt(p.throughput),
    fmtUs(p.p50Us),
    fmtUs(p.p99Us),
    fmt(p.serverCpuUsPerReq),
    `${fmt(p.generatorCpuPct)}% · ${fmt((p.generatorCpuPct * 1e4) / p.throughput)}`,
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
  "server CPU µs/req",
  "generator CPU: % of a core · µs/req",
  "conns answered",
  "errors + unanswered",
];

/** Renders the report as markdown; `charts` are the SVG file names to link. */
export function renderMarkdown(r: BenchReport, charts: string[] = []): string {
  const checks = checkTargets(r);
  const verdict = (c: Check) =>
    c.reached === null ? "not measured" : c.reached ? "**reached**" : "**missed**";
  const memcached = find(r.pipelined, "memcached");
  const parts = [
    `# Server architectures, measured${r.quick ? " (quick run)" : ""}`,
    `Command: \`${r.command}\`, started ${r.started}, took ${
      fmt(r.seconds)
    } s. Figures are from this one run.`,
    table(["machine", ""], Object.entries(r.machine).map(([k, v]) => [k, v])),
    "## Targets",
    table(["target", "verdict", "measured"], checks.map((c) => [c.goal, verdict(c), c.detail])),
    "## Throughput and latency by connection count",
    "Closed loop: each connection sends a request when its last one is answered (latency from the send).",
    table(LOAD_HEAD, loadRows(r.load)),
    "## Open loop: the same offered load for every server",
    r.openLoop.length === 0
      ? "Not measured."
      : `Each connection sends on a schedule, ${
        fmt(r.openLoop[0].rate ?? NaN)
      } requests per second in all; ` +
        "latency runs from when a request was due, not from when it went out, so a server that falls behind is charged for every request it delayed (no coordinated omission). " +
        "A server that cannot keep up shows req/s below the offered rate and a growing p99.",
    r.openLoop.length === 0 ? "" : table(LOAD_HEAD, loadRows(r.openLoop)),
    "## Pipelined GET and SET of 100-byte values, as a ratio to memcached",
    table(
      [...LOAD_HEAD, "× memcached"],
      loadRows(r.pipelined).map((row, i) => {
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
    "Both servers running at once; each round loads memcached, then the other server, with the same pipelined load, so drift in the machine's other load touches both alike.",
    r.ratios.length === 0 ? "Not measured." : table(
      ["server", "op", "ratio per round", "median"],
      r.ratios.map((
        x,
      ) => [
        x.target,
        x.op,
        x.rounds.map((v) => fmt(v)).join(", "),
        `**${fmt(median(x.rounds))}**`,
      ]),
    ),
    "## Is the generator the bottleneck?",
    table(
      ["generators", ...LOAD_HEAD],
      r.generatorCheck.map((p, i) => [`${p.generators}`, ...loadRows(r.generatorCheck)[i]]),
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
      ["server", "conns", "ours req/s", "wrk req/s", "ours p99", "wrk p99", "note"],
      r.wrk.map((w) => [
        w.target,
        `${w.connections}`,
        fmt(w.oursRps),
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
      const c = COLORS[i % COLORS.length];
      const pts = s.points.filter(([x, y]) => x > 0 && y > 0).map(([x, y]) =>
        `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`
      );
      return [
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(" ")}"/>`,
        ...pts.map((p) =>
          `<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="3" fill="${c}"/>`
        ),
        `<rect x="${W - R + 10}" y="${T + i * 18}" width="10" height="10" fill="${c}"/>`,
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
