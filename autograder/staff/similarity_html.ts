/**
 * The HTML side of the similarity report: an index page of ranked pairs and, for each listed
 * pair, a page with the two submissions' files side by side and the matched regions
 * highlighted. Pure functions from a {@linkcode SimilarityRun} and the submissions' text to
 * HTML strings; self-contained pages (inline CSS, no script, nothing fetched). Everything that
 * comes from a submission (names, file names, code) is escaped.
 *
 * @module
 */

import type { Match, PairResult, SimilarityRun, Submission } from "./compare.ts";

/** What every page says first: the report shows evidence to read, it decides nothing. */
export const NOT_A_VERDICT: string =
  "This report is for a human reader, not a verdict. It shows where " +
  "submissions share token sequences that are not in the starter code, after identifiers, " +
  "literals, comments and layout were ignored. Shared code can have innocent causes: the " +
  "handout's hints, lecture examples, common idioms, permitted collaboration. Read the matched " +
  "code side by side, and follow the course's procedure, before drawing any conclusion.";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const CSS = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.4em; margin-bottom: .3em; }
p.note { background: #fff6d6; border: 1px solid #e0c96b; padding: .6em .9em; max-width: 70em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sides { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1em; }
.side h2 { font-size: 1.1em; } .side h3 { font-size: 1em; margin: 1em 0 .3em; }
pre.code { font: 12px/1.4 ui-monospace, monospace; margin: 0; overflow-x: auto;
  border: 1px solid #ddd; }
pre.code span.l { display: block; white-space: pre; padding-right: .5em; }
pre.code span.n { display: inline-block; width: 3.5em; color: #888; text-align: right;
  margin-right: .8em; user-select: none; }
span.l.hl { background: var(--c); }
.m0 { --c: #ffd6d6; } .m1 { --c: #d6ecff; } .m2 { --c: #dcf5d0; } .m3 { --c: #f3dcff; }
.m4 { --c: #ffe8c7; } .m5 { --c: #d0f2ef; }
`;

function page(title: string, body: string): string {
  return [
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`,
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
    body,
    `</body></html>\n`,
  ].join("\n");
}

const percent = (x: number) => `${Math.round(x * 100)}%`;

/** The file name of the page of the pair ranked `rank` (1-based). */
export function pairPageName(rank: number): string {
  return `pair-${String(rank).padStart(4, "0")}.html`;
}

/** Options of {@linkcode renderIndex}. */
export interface IndexOptions {
  /** The kit's name, for the title. */
  kit: string;
  /** How many of the top pairs have a page (and a link); the rest are listed without. */
  pages: number;
}

/** The index page: the note, the parameters, and the ranked pairs with links to their pages. */
export function renderIndex(run: SimilarityRun, options: IndexOptions): string {
  const rows = run.pairs.map((p, i) => {
    const rank = i + 1;
    const link = rank <= options.pages
      ? `<a href="${pairPageName(rank)}">${escapeHtml(p.a)} ↔ ${escapeHtml(p.b)}</a>`
      : `${escapeHtml(p.a)} ↔ ${escapeHtml(p.b)}`;
    return `<tr class="pair"><td class="num">${rank}</td><td>${link}</td>` +
      `<td class="num">${percent(p.score)}</td><td class="num">${percent(p.aInB)}</td>` +
      `<td class="num">${percent(p.bInA)}</td><td class="num">${p.shared}</td>` +
      `<td class="num">${p.matches.length}</td></tr>`;
  });
  const subs = run.submissions.map((s) =>
    `<tr><td>${escapeHtml(s.name)}</td><td>${escapeHtml(s.files.join(", ") || "(no files)")}` +
    `</td><td class="num">${s.fingerprints}</td></tr>`
  );
  return page(
    `Similarity: ${options.kit}`,
    [
      `<h1>Code similarity for ${escapeHtml(options.kit)}: ${run.pairs.length} pairs</h1>`,
      `<p class="note">${NOT_A_VERDICT}</p>`,
      `<p>Score: fingerprints shared / fingerprints of the smaller submission. "A in B": the share `,
      `of A's fingerprints that B also has. Tokens per k-gram: ${run.k}; winnowing window: `,
      `${run.w} (any shared run of ${run.w + run.k - 1} tokens is found).</p>`,
      `<table class="pairs"><thead><tr><th>#</th><th>pair (A ↔ B)</th><th>score</th>`,
      `<th>A in B</th><th>B in A</th><th>shared</th><th>regions</th></tr></thead><tbody>`,
      ...rows,
      `</tbody></table>`,
      `<h2>Submissions</h2><table><thead><tr><th>name</th><th>files</th><th>fingerprints</th>`,
      `</tr></thead><tbody>${subs.join("")}</tbody></table>`,
    ].join("\n"),
  );
}

/** The colour class and match number of each highlighted line of one file, on one side. */
function highlights(matches: Match[], side: "a" | "b", file: string): Map<number, number> {
  const lines = new Map<number, number>();
  matches.forEach((m, i) => {
    const range = m[side];
    if (range.file !== file) return;
    for (let n = range.start; n <= range.end; n++) if (!lines.has(n)) lines.set(n, i);
  });
  return lines;
}

function renderFile(side: "a" | "b", index: number, name: string, text: string, matches: Match[]) {
  const marked = highlights(matches, side, name);
  const lines = text.split("\n").map((line, i) => {
    const n = i + 1;
    const match = marked.get(n);
    const cls = match === undefined ? "l" : `l hl m${match % 6}`;
    const data = match === undefined ? "" : ` data-match="${match + 1}"`;
    return `<span class="${cls}" id="${side}${index}-${n}"${data}><span class="n">${n}</span>` +
      `${escapeHtml(line)}</span>`;
  });
  return `<h3>${escapeHtml(name)}</h3><pre class="code">${lines.join("")}</pre>`;
}

function renderSide(side: "a" | "b", submission: Submission, matches: Match[]): string {
  const files = submission.files.map((f, i) => renderFile(side, i, f.name, f.text, matches));
  return `<div class="side"><h2>${side.toUpperCase()}: ${escapeHtml(submission.name)}</h2>` +
    `${files.join("\n")}</div>`;
}

/**
 * The page of one pair: its scores, a table of matched regions (each links to its lines on both
 * sides), and the two submissions' files side by side with the regions highlighted.
 */
export function renderPair(pair: PairResult, a: Submission, b: Submission, rank: number): string {
  const anchor = (s: Submission, side: "a" | "b", file: string, line: number) =>
    `#${side}${s.files.findIndex((f) => f.name === file)}-${line}`;
  const rows = pair.matches.map((m, i) =>
    `<tr class="match m${i % 6}"><td class="num">${i + 1}</td>` +
    `<td><a href="${anchor(a, "a", m.a.file, m.a.start)}">${escapeHtml(m.a.file)} ` +
    `${m.a.start}–${m.a.end}</a></td>` +
    `<td><a href="${anchor(b, "b", m.b.file, m.b.start)}">${escapeHtml(m.b.file)} ` +
    `${m.b.start}–${m.b.end}</a></td><td class="num">${m.fingerprints}</td></tr>`
  );
  return page(
    `#${rank}: ${a.name} ↔ ${b.name}`,
    [
      `<p><a href="report.html">← all pairs</a></p>`,
      `<h1>#${rank}: ${escapeHtml(a.name)} ↔ ${escapeHtml(b.name)}</h1>`,
      `<p class="note">${NOT_A_VERDICT}</p>`,
      `<p>Score ${percent(pair.score)}; ${pair.shared} shared fingerprints: ${percent(pair.aInB)} `,
      `of A's are in B, ${percent(pair.bInA)} of B's are in A.</p>`,
      `<table class="matches"><thead><tr><th>region</th><th>A</th><th>B</th>`,
      `<th>fingerprints</th></tr></thead><tbody>${rows.join("")}</tbody></table>`,
      `<div class="sides">${renderSide("a", a, pair.matches)}${renderSide("b", b, pair.matches)}`,
      `</div>`,
    ].join("\n"),
  );
}
