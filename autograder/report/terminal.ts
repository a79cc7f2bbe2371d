/**
 * The terminal report: a "…" line as each probe starts, one uniform PASS/FAIL line when it
 * ends (with the message and hint indented below a failure), then the totals. Colour only
 * when stdout is a terminal and NO_COLOR is unset.
 *
 * @module
 */

import type { Probe } from "../harness/probe.ts";
import type { ProbeResult, RunHooks, RunResult, RunStart } from "../harness/runner.ts";

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
  return lines.join("\n") + "\n";
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
    onResult: (r: ProbeResult) => write(formatProbe(r, color)),
  };
}
