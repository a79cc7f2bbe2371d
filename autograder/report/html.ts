/**
 * An HTML report of one run, for a student or a TA: one self-contained file (inline CSS and SVG,
 * no script, nothing fetched) with the score, a table of probes, and for each failed probe its
 * message, hint, server output and a timeline of what the grader's clients did.
 *
 * The timeline has one lane per student process and one per grader-side connection. A bar runs
 * from a send to the reply that followed, or, in red, to the end of the lane when none came: a
 * server that serves one client at a time shows staggered bars, a stall a red bar to the
 * deadline. Everything that came from the student (output, messages) is escaped.
 *
 * @module
 */

import type { ProbeResult, RunResult } from "./result.ts";
import type { ProbeTrace, TraceEvent, TraceLane } from "../observe/trace.ts";

/**
 * Escapes text for HTML element content and attribute values. Colour codes are removed and
 * other control characters shown as `\xNN`, so any program output is safe to embed.
 */
export function escapeHtml(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const CSS = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em;
  color: #1b1b1b; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin: 0 0 .5em; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; margin: .5em 0; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.PASS { color: #1a7f37; font-weight: 600; } .FAIL { color: #c62828; font-weight: 600; }
section.failed { border: 1px solid #e5b3b3; border-left: 5px solid #c62828; border-radius: 4px;
  padding: .8em 1em; margin: 1.2em 0; }
details { border: 1px solid #ddd; border-radius: 4px; padding: .4em .8em; margin: .4em 0; }
details > summary { cursor: pointer; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .6em .8em; overflow-x: auto;
  white-space: pre; font: 13px/1.35 ui-monospace, monospace; }
.hint { background: #fff8e1; padding: .3em .6em; border-radius: 3px; }
.note { color: #555; font-size: .9em; }
svg.timeline { width: 100%; height: auto; border: 1px solid #e1e4e8; background: #fff; }
`;

/** Renders a run as one self-contained HTML page. */
export function renderHtml(run: RunResult): string {
  const failed = run.probes.filter((p) => !p.passed);
  const passed = run.probes.filter((p) => p.passed);
  const title = `${run.assignment}: ${run.score}/${run.maxScore}`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
    header(run),
    probeTable(run.probes),
    failed.length > 0 ? "<h2>Failed probes</h2>" : "",
    ...failed.map(failedSection),
    passed.length > 0 ? "<h2>Passed probes</h2>" : "",
    ...passed.map(passedDetails),
    "</body></html>",
    "",
  ].join("\n");
}

function header(run: RunResult): string {
  const ok = run.probes.filter((p) => p.passed).length;
  const rows: [string, string][] = [
    ["submission", run.submission],
    ["score", `${run.score}/${run.maxScore} (${ok}/${run.probes.length} probes passed)`],
    ["seed", `${run.seed} (replay with --seed ${run.seed})`],
    ["started", run.startedAt],
    ["time", `${(run.ms / 1000).toFixed(1)} s`],
  ];
  const notes = run.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("");
  return [
    `<h1>${escapeHtml(run.assignment)}: ${run.score}/${run.maxScore}</h1>`,
    `<dl class="meta">${
      rows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join("")
    }</dl>`,
    notes ? `<p class="note">Notes from the grader:</p><ul class="note">${notes}</ul>` : "",
  ].join("\n");
}

function anchor(p: ProbeResult): string {
  return `probe-${p.name.replace(/[^a-z0-9-]/gi, "_")}`;
}

function status(p: ProbeResult): string {
  return p.passed ? "PASS" : "FAIL";
}

function probeTable(probes: ProbeResult[]): string {
  const rows = probes.map((p) =>
    `<tr><td class="${status(p)}">${status(p)}</td>` +
    `<td><a href="#${anchor(p)}">${escapeHtml(p.name)}</a></td><td>${escapeHtml(p.title)}</td>` +
    `<td class="num">${p.score}/${p.points}</td><td class="num">${seconds(p.ms)}</td></tr>`
  );
  return `<table><thead><tr><th>result</th><th>probe</th><th>what it checks</th>` +
    `<th>points</th><th>time</th></tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table>`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function probeBody(p: ProbeResult): string {
  const parts = [`<pre class="message">${escapeHtml(p.message)}</pre>`];
  if (!p.passed && p.hint) parts.push(`<p class="hint">hint: ${escapeHtml(p.hint)}</p>`);
  if (p.serverOutput) {
    parts.push(`<p>server output:</p><pre class="output">${escapeHtml(p.serverOutput)}</pre>`);
  }
  if (p.trace) parts.push(timelineSection(p.trace, p.ms));
  return parts.join("\n");
}

function failedSection(p: ProbeResult): string {
  return `<section class="failed" id="${anchor(p)}">\n` +
    `<h2><span class="FAIL">FAIL</span> ${escapeHtml(p.name)}: ${escapeHtml(p.title)} ` +
    `<small>(0/${p.points}, ${seconds(p.ms)})</small></h2>\n${probeBody(p)}\n</section>`;
}

function passedDetails(p: ProbeResult): string {
  return `<details id="${anchor(p)}"><summary><span class="PASS">PASS</span> ` +
    `${escapeHtml(p.name)}: ${escapeHtml(p.title)} <small>(${p.score}/${p.points}, ` +
    `${seconds(p.ms)})</small></summary>\n${probeBody(p)}\n</details>`;
}

function timelineSection(trace: ProbeTrace, verdictMs: number): string {
  if (trace.connections.length === 0 && trace.processes.length === 0) {
    return `<p class="note">No connections or processes were recorded for this probe.</p>`;
  }
  return `<p class="note">Timeline: one lane per process the grader started and per connection ` +
    `it made. A bar runs from a send to the reply that followed; a red bar found no reply ` +
    `before the connection ended. A peer is a connection the grader served (for a client ` +
    `probe). Hover over a mark for its details.</p>\n` +
    timelineSvg(trace, { verdictMs });
}

/** Options for {@link timelineSvg}. */
export interface TimelineSvgOptions {
  /** When the probe reached its verdict (ms since it started); drawn as a dashed line. */
  verdictMs?: number;
  /** Connection lanes drawn at most (the first few and the last ones); defaults to 40. */
  maxLanes?: number;
}

const WIDTH = 1000;
const GUTTER = 200;
const RIGHT = 20;
const LANE = 20;
const TOP = 10;

interface Scale {
  x(t: number): number;
  end: number;
}

/**
 * Draws a probe's trace as an inline SVG: a lane per process and per connection (long lists are
 * cut to the first and last lanes, with a line saying how many were left out), and a time axis
 * in ms since the probe started.
 */
export function timelineSvg(trace: ProbeTrace, options: TimelineSvgOptions = {}): string {
  const end = Math.max(trace.ms, options.verdictMs ?? 0, 1);
  const scale: Scale = { x: (t) => GUTTER + (t / end) * (WIDTH - GUTTER - RIGHT), end };
  const rows = laneRows(trace, options.maxLanes ?? 40);
  const axisY = TOP + rows.length * LANE + 4;
  const height = axisY + 52;
  const body = [axis(scale, TOP, axisY), legend(axisY + 44)];
  rows.forEach((row, i) => {
    const y = TOP + i * LANE;
    body.push(typeof row === "string" ? skippedRow(row, y) : drawLane(row, y, scale));
  });
  if (options.verdictMs !== undefined) body.push(verdictLine(scale.x(options.verdictMs), axisY));
  return `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img" ` +
    `viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" ` +
    `font-family="ui-monospace, monospace" font-size="11">\n` +
    `<title>timeline of the probe's connections and processes</title>\n` +
    `${body.join("\n")}\n</svg>`;
}

interface Row {
  name: string;
  lane: TraceLane;
  process: boolean;
}

/**
 * True for a connection the grader dialed (a client of the student's server); false for one it
 * accepted or was handed (a peer serving the student's client), where sends are answers.
 */
function dialed(lane: TraceLane): boolean {
  return lane.events[0]?.kind === "connect";
}

/** Processes first, then connections, cut to `max` connection lanes; a string is a gap row. */
function laneRows(trace: ProbeTrace, max: number): (Row | string)[] {
  const rows: (Row | string)[] = trace.processes.map((lane) => ({
    name: lane.label,
    lane,
    process: true,
  }));
  const conns = trace.connections.map((lane) => ({
    name: `${dialed(lane) ? "client" : "peer"} ${lane.id}`,
    lane,
    process: false,
  }));
  const head = Math.min(conns.length, Math.max(1, Math.floor(max / 4)));
  const tail = conns.length > max ? max - head : conns.length - head;
  rows.push(...conns.slice(0, head));
  const skipped = conns.length - head - tail + trace.droppedConnections;
  if (skipped > 0) rows.push(`… ${skipped} more connections not drawn`);
  rows.push(...conns.slice(conns.length - tail));
  return rows;
}

function skippedRow(text: string, y: number): string {
  return `<text x="${GUTTER}" y="${y + 14}" fill="#777">${escapeHtml(text)}</text>`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function describe(e: TraceEvent): string {
  const what = e.bytes === undefined ? e.kind : `${e.kind} ${plural(e.bytes, "byte")}`;
  const times = e.count ? ` (${e.count} times, ${fmt(e.at)}–${fmt(e.until ?? e.at)} ms)` : "";
  const detail = e.detail ? `: ${e.detail}` : "";
  return `${what}${detail} at ${fmt(e.at)} ms${times}`;
}

/** When a lane ends: its close or exit, else the end of the trace. */
function laneEnd(lane: TraceLane, end: number): number {
  const last = lane.events.find((e) => e.kind === "close" || e.kind === "exit");
  return last?.at ?? end;
}

function drawLane(row: Row, y: number, scale: Scale): string {
  const { lane } = row;
  const mid = y + LANE / 2;
  const start = lane.events[0]?.at ?? 0;
  const end = laneEnd(lane, scale.end);
  const label = row.process ? row.name : `${row.name}  ${lane.label}`;
  const out = [
    `<g class="lane"><title>${escapeHtml(label)}</title>`,
    `<text x="4" y="${mid + 4}" fill="#333">${escapeHtml(clip(label, 30))}</text>`,
    `<line x1="${px(scale.x(start))}" x2="${px(scale.x(end))}" y1="${mid}" y2="${mid}" ` +
    `stroke="${row.process ? "#9e9e9e" : "#bbb"}" stroke-width="${row.process ? 6 : 1}"/>`,
  ];
  const client = !row.process && dialed(lane);
  if (client) out.push(...bars(lane, end).map((b) => bar(b, mid, scale)));
  if (lane.dropped > 0 && lane.gapAfter !== undefined) out.push(gap(lane, mid, scale));
  const marked = client ? lane.events.filter((e) => e.kind !== "send") : lane.events;
  out.push(...marked.map((e) => marker(e, mid, scale)).filter((m) => m !== ""));
  out.push("</g>");
  return out.join("\n");
}

function clip(text: string, n: number): string {
  return text.length <= n ? text : text.slice(0, n - 1) + "…";
}

function px(x: number): string {
  return x.toFixed(1);
}

/** A bar of a connection's lane: from a send (ms) to its reply, or to the lane's end. */
export interface Bar {
  /** When the first byte of the request was handed to the kernel. */
  from: number;
  /** When the first byte of the reply came, or the lane ended. */
  to: number;
  /** False when no reply came before the lane ended. */
  replied: boolean;
  /** Bytes sent in the request. */
  sent: number;
}

/** Bars from each send (or run of sends) to the receive that followed, or to the lane's end. */
export function bars(lane: TraceLane, laneEnd: number): Bar[] {
  const out: Bar[] = [];
  let open: Bar | undefined;
  lane.events.forEach((e, i) => {
    if (e.kind === "send") {
      if (open) open.sent += e.bytes ?? 0;
      else open = { from: e.at, to: laneEnd, replied: false, sent: e.bytes ?? 0 };
    } else if (e.kind === "receive" && open) {
      out.push({ ...open, to: e.at, replied: true });
      open = undefined;
    }
    if (i === lane.gapAfter && open) { // what happened in the gap is unknown: stop the bar
      out.push({ ...open, to: e.at, replied: true });
      open = undefined;
    }
  });
  if (open) out.push(open);
  return out;
}

function bar(b: Bar, mid: number, scale: Scale): string {
  const x = scale.x(b.from);
  const w = Math.max(1.5, scale.x(b.to) - x);
  const fill = b.replied ? "#4f8fd6" : "#d84343";
  const tip = b.replied
    ? `sent ${plural(b.sent, "byte")} at ${fmt(b.from)} ms; reply after ${fmt(b.to - b.from)} ms`
    : `sent ${plural(b.sent, "byte")} at ${fmt(b.from)} ms; no reply in the ${
      fmt(b.to - b.from)
    } ms that followed`;
  return `<rect x="${px(x)}" y="${mid - 5}" width="${px(w)}" height="10" fill="${fill}" ` +
    `rx="2"><title>${escapeHtml(tip)}</title></rect>`;
}

function gap(lane: TraceLane, mid: number, scale: Scale): string {
  const i = lane.gapAfter ?? 0;
  const from = scale.x(lane.events[i].at);
  const to = scale.x(lane.events[i + 1]?.at ?? scale.end);
  return `<rect x="${px(from)}" y="${mid - 7}" width="${px(Math.max(2, to - from))}" ` +
    `height="14" fill="#e0e0e0" opacity="0.8"><title>${lane.dropped} more events, not ` +
    `recorded one by one</title></rect>`;
}

const MARKS: Partial<Record<TraceEvent["kind"], (x: number, m: number) => string>> = {
  connect: (x, m) => `<circle cx="${x}" cy="${m}" r="3" fill="#555"/>`,
  send: (x, m) => `<path d="M${x} ${m - 7}l-4 7h8z" fill="#4f8fd6"/>`,
  receive: (x, m) => `<rect x="${x - 1}" y="${m - 7}" width="2" height="14" fill="#1b5e9e"/>`,
  "half-close": (x, m) => `<path d="M${x} ${m - 6}v12l6 -6z" fill="#7b1fa2"/>`,
  eof: (x, m) => `<rect x="${x - 4}" y="${m - 4}" width="8" height="8" fill="#2e7d32"/>`,
  timeout: (x, m) => `<path d="M${x - 5} ${m + 5}h10l-5 -10z" fill="#ef6c00"/>`,
  close: (x, m) => `<rect x="${x - 1.5}" y="${m - 8}" width="3" height="16" fill="#333"/>`,
  error: (x, m) =>
    `<path d="M${x - 5} ${m - 5}l10 10M${x + 5} ${m - 5}l-10 10" stroke="#c62828" ` +
    `stroke-width="2.5"/>`,
  ready: (x, m) => `<circle cx="${x}" cy="${m}" r="4" fill="#2e7d32"/>`,
  exit: (x, m) => `<rect x="${x - 4}" y="${m - 4}" width="8" height="8" fill="#333"/>`,
};

function marker(e: TraceEvent, mid: number, scale: Scale): string {
  const draw = MARKS[e.kind];
  if (draw === undefined) return "";
  const x = Number(px(scale.x(e.at)));
  return `<g>${draw(x, mid)}<title>${escapeHtml(describe(e))}</title></g>`;
}

/** A step of 1, 2 or 5 times a power of ten giving at most about 10 ticks. */
function tickStep(end: number): number {
  const raw = end / 10;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

function axis(scale: Scale, top: number, y: number): string {
  const step = tickStep(scale.end);
  const out = [
    `<line x1="${GUTTER}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#333"/>`,
  ];
  for (let t = 0; t <= scale.end + 1e-9; t += step) {
    const x = px(scale.x(t));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${top}" y2="${y}" stroke="#eee"/>`,
      `<text x="${x}" y="${y + 14}" text-anchor="middle" fill="#333">` +
        `${step >= 1 ? Math.round(t) : t.toFixed(1)}</text>`,
    );
  }
  out.push(`<text x="4" y="${y + 14}" fill="#333">ms since the probe started</text>`);
  return out.join("\n");
}

function verdictLine(x: number, y: number): string {
  return `<line x1="${px(x)}" x2="${px(x)}" y1="${TOP}" y2="${y}" stroke="#555" ` +
    `stroke-dasharray="4 3"><title>the probe's verdict</title></line>` +
    `<text x="${px(x)}" y="${y + 28}" text-anchor="middle" fill="#555">verdict</text>`;
}

const LEGEND: [TraceEvent["kind"], string][] = [
  ["connect", "connect"],
  ["send", "peer's send"],
  ["receive", "receive"],
  ["half-close", "half-close"],
  ["eof", "end of file"],
  ["timeout", "timed out"],
  ["close", "close"],
  ["error", "error"],
  ["ready", "server ready"],
];

function legend(y: number): string {
  const out = [
    `<rect x="4" y="${y - 5}" width="22" height="10" fill="#4f8fd6" rx="2"/>`,
    `<text x="30" y="${y + 4}">send → reply</text>`,
    `<rect x="120" y="${y - 5}" width="22" height="10" fill="#d84343" rx="2"/>`,
    `<text x="146" y="${y + 4}">no reply</text>`,
  ];
  let x = 230;
  for (const [kind, text] of LEGEND) {
    out.push(MARKS[kind]!(x, y), `<text x="${x + 9}" y="${y + 4}">${text}</text>`);
    x += 9 + text.length * 6.8 + 10;
  }
  return `<g class="legend" fill="#333">${out.join("")}</g>`;
}
