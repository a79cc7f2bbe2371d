/**
 * The terminal report: a "…" line as each probe starts and one uniform PASS/FAIL line when it
 * ends; then the totals and the next thing to do (for a starter: the `todo()` to write, file:line,
 * and its handout section); then each failure's message and hint, and the server's output folded
 * to its last lines. Colour only when stdout is a terminal and NO_COLOR is unset.
 *
 * @module
 */

import type { Probe } from "../harness/probe.ts";
import type { ProbeResult, RunHooks, RunResult, RunStart } from "../harness/runner.ts";
import { formatNextStep, nextStep } from "./next_step.ts";

/** How the report looks and where it goes. */
export interface ReportOptions {
  color?: boolean;
  write?(text: string): void;
}

const encoder = new TextEncoder();

/** Writes to stdout; a reader that went away (`grade | head`) must not stop the grading. */
export function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  try {
    while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** True when the report should use colour: stdout is a terminal and NO_COLOR is unset. */
export function useColor(): boolean {
  return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
}

/**
 * `text` safe to print on a terminal: every control character but newline and tab (C0, DEL, C1:
 * ESC sequences, NUL, carriage return, bell...) shown as an escape such as `\x1b`, so that no
 * output of a student program can move the cursor, recolour, retitle or clear the TA's terminal.
 */
export function safeText(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => {
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

function paint(on: boolean, code: number, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/**
 * Formats the one-line summary of a probe: `  PASS  name   2/2   0.31s`, and for a pass that
 * measured something, its figure and bound (`p99 38 ms, bound 150 ms`): how close it came.
 */
export function probeLine(r: ProbeResult, color = false): string {
  const tag = r.passed ? paint(color, 32, "PASS") : paint(color, 31, "FAIL");
  const pts = `${r.score}/${r.points}`.padStart(5);
  const line = `  ${tag}  ${r.name.padEnd(28)} ${pts}  ${(r.ms / 1000).toFixed(2).padStart(6)}s`;
  const margin = r.passed && r.message !== "ok" && r.message !== ""
    ? safeText(r.message.split("\n")[0])
    : "";
  return margin === "" ? line : `${line}  ${paint(color, 2, margin)}`;
}

function indent(text: string, prefix = "        "): string {
  return text.split("\n").map((l) => prefix + l).join("\n");
}

/** Formats a probe's full result: its line, and for a failure the message, hint and output. */
export function formatProbe(r: ProbeResult, color = false): string {
  const lines = [probeLine(r, color)];
  if (!r.passed) {
    lines.push(indent(safeText(r.message)));
    if (r.hint) lines.push(indent(`hint: ${safeText(r.hint)}`));
    if (r.serverOutput) {
      lines.push(indent("server output:"), indent(safeText(r.serverOutput), "          "));
    }
  }
  return lines.join("\n") + "\n";
}

/** Formats the totals (and any notes about processes the grader had to clean up). */
export function formatTotals(run: RunResult, color = false): string {
  const passed = run.probes.filter((p) => p.passed).length;
  const all = passed === run.probes.length;
  const lines = [
    "",
    paint(color, all ? 32 : 31, `  ${passed}/${run.probes.length} probes passed`) +
    `, score ${run.score}/${run.maxScore}, ${(run.ms / 1000).toFixed(1)}s, seed ${run.seed}`,
  ];
  for (const note of run.notes) lines.push(`  note: ${safeText(note)}`);
  if (run.leaderboard) {
    const figures = run.leaderboard.map((e) => `${safeText(e.name)} ${formatFigure(e.value)}`)
      .join("; ");
    lines.push(`  leaderboard (not part of the score): ${figures}`);
  }
  return lines.join("\n") + "\n";
}

/** Lines of server output shown under a failure in the terminal; the rest is folded. */
export const OUTPUT_TAIL_LINES = 12;

/** The last {@link OUTPUT_TAIL_LINES} lines of `text`, with a line saying how many were folded. */
export function foldOutput(text: string): string {
  const lines = text.trimEnd().split("\n");
  if (lines.length <= OUTPUT_TAIL_LINES) return lines.join("\n");
  const folded = lines.length - OUTPUT_TAIL_LINES;
  return [`… ${folded} earlier lines folded (--html or --json FILE keeps them)`]
    .concat(lines.slice(-OUTPUT_TAIL_LINES)).join("\n");
}

/**
 * The end of a run's report, for a student: the totals, then the next step (`files` are the
 * submission's, name -> text, to find the todo() to write), then each failed probe's message,
 * hint and folded server output.
 */
export function formatReport(run: RunResult, files: Record<string, string>, color = false): string {
  const next = safeText(formatNextStep(nextStep(run, files)));
  const parts = [formatTotals(run, color).trimEnd(), next, ""];
  const failed = run.probes.filter((p) => !p.passed);
  if (failed.length > 0) parts.push(paint(color, 1, "  What failed:"), "");
  for (const r of failed) {
    parts.push(probeLine(r, color), indent(safeText(r.message)));
    if (r.hint) parts.push(indent(`hint: ${safeText(r.hint)}`));
    if (r.serverOutput) {
      parts.push(
        indent("server output (its end):"),
        indent(safeText(foldOutput(r.serverOutput)), "          "),
      );
    }
    parts.push("");
  }
  return parts.join("\n") + "\n";
}

/** A figure with thousands separated and at most 3 significant decimals. */
function formatFigure(value: number): string {
  return value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : String(Number(value.toPrecision(3)));
}

/** Returns runner hooks that print live progress. */
export function progressHooks(options: ReportOptions = {}): RunHooks {
  const color = options.color ?? useColor();
  const write = options.write ?? writeStdout;
  return {
    onBegin: (s: RunStart) =>
      write(
        `Grading ${s.assignment}: ${s.title}\n  submission: ${
          safeText(s.submission)
        }\n  seed: ${s.seed}\n\n`,
      ),
    onStart: (p: Probe) => write(paint(color, 2, `  …     ${p.name}  ${p.title}`) + "\n"),
    // One line each while the run goes on: the details come after the next step, at the end.
    onResult: (r: ProbeResult) => write(probeLine(r, color) + "\n"),
  };
}
