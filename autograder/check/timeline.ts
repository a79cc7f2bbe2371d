/**
 * An ASCII timeline of concurrent operations, one row per client, for showing a student why a
 * history is not linearizable.
 *
 * The horizontal axis keeps the ORDER of calls and returns exactly (which is all that matters
 * for linearizability) but not their proportions: each bar is stretched until its label fits.
 *
 * @module
 */

import type { Operation } from "./linearizability.ts";

/** Options for {@link renderTimeline}. */
export interface TimelineOptions {
  /** First line, before "(times in ms from the first call)", e.g. `key "x"`. */
  title?: string;
  /** Maximum line length; defaults to 100. */
  width?: number;
}

interface Bar {
  client: number;
  call: number;
  return: number;
  label: string;
}

const NO_REPLY = Infinity;

/**
 * Renders operations as a text timeline: a header line, one row per client with each
 * operation drawn as `|--LABEL--|` from its call to its return (an operation that never
 * returned runs off the right edge as `--->`), then a row of call/return times in ms from the
 * first call. Lines stay ASCII and at most `width` columns: long labels are shortened, and a
 * history too wide even then is listed one operation per line instead.
 *
 * @example
 * ```ts
 * import { renderTimeline } from "./timeline.ts";
 * const ops = [
 *   { client: 1, input: "w1", call: 0, output: "ok", return: 2 },
 *   { client: 2, input: "r", call: 1, output: "2", return: 3 },
 * ];
 * console.log(renderTimeline(ops, (i, o) => `${i} -> ${o}`, { title: 'key "x"' }));
 * ```
 */
export function renderTimeline<I, O>(
  ops: readonly Operation<I, O>[],
  describe: (input: I, output: O) => string,
  options: TimelineOptions = {},
): string {
  const width = options.width ?? 100;
  const t0 = Math.min(...ops.map((op) => op.call));
  const bars = ops.map((op) => ({
    client: op.client,
    call: op.call - t0,
    return: op.return - t0,
    label: ascii(describe(op.input, op.output)),
  }));
  const header = (options.title ? options.title + "   " : "") + "(times in ms from the first call)";
  const rowLabels = lanes(bars).map(([client, lane], i, all) =>
    i > 0 && all[i - 1][0] === client ? ["", lane] as const : [`client ${client}`, lane] as const
  );
  const gutter = Math.max(0, ...rowLabels.map(([name]) => name.length)) + 2;
  const digits = decimals(bars);
  for (let max = longest(bars); max >= 8; max--) {
    const cols = columns(bars, max);
    if (gutter + cols.end + 1 > width) continue;
    const rows = rowLabels.map(([name, lane]) =>
      name.padEnd(gutter) + drawLane(lane, cols, max).trimEnd()
    );
    return [header, ...rows, " ".repeat(gutter) + axis(cols, digits).trimEnd()].join("\n");
  }
  return [header, ...listing(bars, digits, width)].join("\n");
}

/** Splits bars into rows: by client, and a second row for a client whose operations overlap. */
function lanes(bars: Bar[]): [number, Bar[]][] {
  const sorted = [...bars].sort((a, b) => a.client - b.client || a.call - b.call);
  const out: [number, Bar[]][] = [];
  for (const bar of sorted) {
    const fits = out.find(([c, lane]) => c === bar.client && lane.at(-1)!.return < bar.call);
    if (fits) fits[1].push(bar);
    else out.push([bar.client, [bar]]);
  }
  return out;
}

interface Columns {
  /** Column of each bar's call and of its return (bars without a reply end at `end`). */
  from: Map<Bar, number>;
  to: Map<Bar, number>;
  /** Times to print under the bars, by column. */
  ticks: [number, number][];
  end: number;
}

/**
 * Places calls and returns in columns in time order (a call before a return at the same time,
 * as the checker treats them as overlapping), leaving room for every label.
 */
function columns(bars: Bar[], max: number): Columns {
  const events = bars.flatMap((b) => [[b.call, 0, b], [b.return, 1, b]] as const)
    .filter(([t]) => t !== NO_REPLY).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const cols: Columns = { from: new Map(), to: new Map(), ticks: [], end: 0 };
  let col = 0, last: readonly [number, number, Bar] | undefined;
  for (const event of events) {
    const [t, kind, bar] = event;
    if (last && (last[0] !== t || last[1] !== kind)) col += 2;
    if (kind === 0) cols.from.set(bar, col);
    else col = Math.max(col, cols.from.get(bar)! + clip(bar.label, max).length + 5);
    if (kind === 1) cols.to.set(bar, col);
    if (cols.ticks.at(-1)?.[1] !== t) cols.ticks.push([col, t]);
    last = event;
  }
  cols.end = col;
  for (const b of bars) {
    if (b.return !== NO_REPLY) continue;
    cols.end = Math.max(cols.end, col + 2, cols.from.get(b)! + clip(b.label, max).length + 5);
  }
  return cols;
}

function drawLane(lane: Bar[], cols: Columns, max: number): string {
  const row = Array<string>(cols.end + 1).fill(" ");
  for (const b of lane) {
    const from = cols.from.get(b)!;
    const to = cols.to.get(b) ?? cols.end;
    row.fill("-", from, to + 1);
    row[from] = "|";
    row[to] = b.return === NO_REPLY ? ">" : "|";
    const label = clip(b.label, max);
    for (let i = 0; i < label.length; i++) row[from + 3 + i] = label[i];
  }
  return row.join("");
}

/** The row of times under the bars; a time that would touch the previous one is left out. */
function axis(cols: Columns, digits: number): string {
  let line = "";
  for (const [col, t] of cols.ticks) {
    if (line.length > 0 && col < line.length + 1) continue;
    line = line.padEnd(col) + t.toFixed(digits);
  }
  return line;
}

function listing(bars: Bar[], digits: number, width: number): string[] {
  return [...bars].sort((a, b) => a.call - b.call).map((b) => {
    const ret = b.return === NO_REPLY ? "(no reply)" : b.return.toFixed(digits);
    return `client ${b.client}  ${b.call.toFixed(digits)} .. ${ret}  ${b.label}`.slice(0, width);
  });
}

function decimals(bars: Bar[]): number {
  const span = Math.max(...bars.map((b) => (b.return === NO_REPLY ? b.call : b.return)));
  return span < 10 ? 2 : span < 1000 ? 1 : 0;
}

function longest(bars: Bar[]): number {
  return Math.max(8, ...bars.map((b) => b.label.length));
}

function clip(label: string, max: number): string {
  return label.length <= max ? label : label.slice(0, max - 2) + "..";
}

function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}
