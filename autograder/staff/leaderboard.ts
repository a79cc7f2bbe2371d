/**
 * The batch's leaderboard, from the run records `grade-all` reads back: one row per student whose
 * submission passed every probe and was measured (see `toolkit/load.ts`), ranked by each figure
 * in its own order. Written as `leaderboard.csv` and `leaderboard.html` beside `grades.csv`. It
 * ranks performance for interest; it never changes a score.
 *
 * @module
 */

import type { LeaderboardEntry } from "../harness/probe.ts";

/** One student's figures. */
export interface BoardRow {
  student: string;
  entries: LeaderboardEntry[];
}

/** The figures' names, in the order they first appear. */
function columns(rows: BoardRow[]): LeaderboardEntry[] {
  const seen = new Map<string, LeaderboardEntry>();
  for (const r of rows) for (const e of r.entries) if (!seen.has(e.name)) seen.set(e.name, e);
  return [...seen.values()];
}

/** Each student's rank per figure (1 is best; ties share a rank). */
export function ranks(rows: BoardRow[]): Map<string, Map<string, number>> {
  const out = new Map(rows.map((r) => [r.student, new Map<string, number>()]));
  for (const col of columns(rows)) {
    const values = rows
      .map((r) => ({
        student: r.student,
        value: r.entries.find((e) => e.name === col.name)?.value,
      }))
      .filter((v): v is { student: string; value: number } => v.value !== undefined);
    const better = (a: number, b: number) => col.order === "desc" ? b - a : a - b;
    const sorted = [...values].sort((a, b) => better(a.value, b.value));
    for (const v of values) {
      out.get(v.student)!.set(
        col.name,
        1 + sorted.filter((s) => better(s.value, v.value) < 0).length,
      );
    }
  }
  return out;
}

/** Rows sorted by the mean of their ranks (best first). */
function ordered(rows: BoardRow[]): BoardRow[] {
  const r = ranks(rows);
  const mean = (s: string) => {
    const all = [...r.get(s)!.values()];
    return all.length === 0 ? Infinity : all.reduce((a, b) => a + b, 0) / all.length;
  };
  return [...rows].sort((a, b) =>
    mean(a.student) - mean(b.student) || a.student.localeCompare(b.student)
  );
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** leaderboard.csv: student, then each figure and its rank. */
export function leaderboardCsv(rows: BoardRow[]): string {
  const cols = columns(rows);
  const r = ranks(rows);
  const header = ["student", ...cols.flatMap((c) => [c.name, `rank: ${c.name}`])];
  const lines = ordered(rows).map((row) => [
    row.student,
    ...cols.flatMap((c) => [
      row.entries.find((e) => e.name === c.name)?.value ?? "",
      r.get(row.student)!.get(c.name) ?? "",
    ]),
  ]);
  return [header, ...lines].map((l) => l.map(csvField).join(",")).join("\n") + "\n";
}

const escapeHtml = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );

/** leaderboard.html: the same table, best first, each figure with its rank. */
export function leaderboardHtml(assignment: string, rows: BoardRow[]): string {
  const cols = columns(rows);
  const r = ranks(rows);
  const head = cols.map((c) =>
    `<th>${escapeHtml(c.name)} <small>(${
      c.order === "desc" ? "more" : "less"
    } is better)</small></th>`
  ).join("");
  const body = ordered(rows).map((row) => {
    const cells = cols.map((c) => {
      const e = row.entries.find((x) => x.name === c.name);
      return e === undefined
        ? "<td></td>"
        : `<td>${e.value} <small>#${r.get(row.student)!.get(c.name)}</small></td>`;
    }).join("");
    return `<tr><td>${escapeHtml(row.student)}</td>${cells}</tr>`;
  }).join("\n");
  return `<!doctype html>
<meta charset="utf-8">
<title>${escapeHtml(assignment)} leaderboard</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}small{color:#666}</style>
<h1>${escapeHtml(assignment)}: leaderboard</h1>
<p>Submissions that passed every probe, measured after grading. Not part of any score.</p>
<table><tr><th>student</th>${head}</tr>
${body}
</table>
`;
}
