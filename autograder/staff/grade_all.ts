/**
 * Batch grading for course staff:
 *
 * ```sh
 * deno task grade-all <assignment> <dir-of-submissions> [--jobs N] [--out DIR] [--repeat K]
 *                      [--seed N] [--only PROBE] [--timeout S]
 * ```
 *
 * Each sub-directory of `<dir-of-submissions>` is one student's submission. Each is graded by
 * its own grader process (so one crash, hang or hostile submission cannot stop the batch),
 * `--jobs` at a time, each under a time limit. The output directory gets `grades.csv` and, per
 * student, `results.json` (Gradescope's format), `report.html` and `log.txt`. With `--repeat K`
 * every submission is graded K times with the same seed (runs after the first write
 * `results-K.json` and `report-K.html`), and a probe whose verdict changed between runs, or a run
 * that produced no results when another did, is flagged as flaky in the CSV instead of one
 * verdict being picked silently. `--timeout` caps one grader run (default: the kit's budget
 * plus a minute); `--only` passes through. Every run is sandboxed (`grade --sandbox`, see
 * sandbox.ts): these are other people's programs, so there is no way to turn it off.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { cappedText, startChild, within } from "../harness/process.ts";
import type { LeaderboardEntry } from "../harness/probe.ts";
import { readRunRecord } from "../report/result.ts";
import { safeText } from "../report/terminal.ts";
import { candidateUsers } from "../sandbox/student_user.ts";
import { leaderboardCsv, leaderboardHtml } from "./leaderboard.ts";
import { loadKit, selectProbes } from "../harness/runner.ts";
import { REPO_ROOT } from "../harness/submission.ts";

const USAGE = "usage: deno task grade-all <assignment> <dir-of-submissions> [--jobs N] " +
  "[--out DIR] [--repeat K] [--seed N] [--only PROBE] [--timeout S]";

/** The validated command line of grade-all. */
export const BatchConfigSchema = z.object({
  assignment: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must look like 01-echo"),
  submissions: z.string(),
  out: z.string(),
  jobs: z.coerce.number().int().min(1).max(64),
  repeat: z.coerce.number().int().min(1).max(20),
  seed: z.coerce.number().int().nonnegative(),
  only: z.array(z.string()).default([]),
  timeoutS: z.coerce.number().positive().optional(),
  /** Where the kits are (tests use a fixture kit); default autograder/kits. */
  kitsDir: z.string(),
  /** Always true: other people's submissions are always contained. */
  sandbox: z.literal(true),
});

/** A validated grade-all command line. */
export type BatchConfig = z.infer<typeof BatchConfigSchema>;

/** What one run said of one probe: its score, verdict and message. */
export interface ProbeOutcome {
  score: number;
  passed: boolean;
  message: string;
}

/** One student's outcome: each probe's outcome from each run, or why grading failed. */
export interface StudentGrade {
  /** The name of the student's directory. */
  student: string;
  /** Per run (its run record), each probe's outcome by name; empty when no run produced one. */
  runs: Map<string, ProbeOutcome>[];
  /** The points the graded probes are worth together. */
  maxScore: number;
  /** Why no run produced results (the student could not be graded). */
  error?: string;
  /** Runs that produced no results while others did, e.g. "run 2: grader killed after 5 s". */
  lostRuns?: string[];
  /** The first run's leaderboard figures, when it measured them. */
  leaderboard?: LeaderboardEntry[];
}

/** Parses grade-all's command line; throws an Error whose message is one line. */
export function parseBatchArgs(argv: string[], cwd: string): BatchConfig {
  if (argv.includes("--no-sandbox")) {
    throw new Error(`grade-all always sandboxes: --no-sandbox is for one's own work (${USAGE})`);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      jobs: { type: "string" },
      out: { type: "string" },
      repeat: { type: "string" },
      seed: { type: "string" },
      only: { type: "string", multiple: true },
      timeout: { type: "string" },
      kits: { type: "string" },
    },
  });
  const [assignment, submissions, ...extra] = positionals;
  if (assignment === undefined || submissions === undefined || extra.length > 0) {
    throw new Error(USAGE);
  }
  const parsed = BatchConfigSchema.safeParse({
    assignment,
    submissions: resolve(cwd, submissions),
    out: resolve(cwd, values.out ?? `grades-${assignment}`),
    jobs: values.jobs ?? Math.max(1, Math.floor(navigator.hardwareConcurrency / 2)),
    repeat: values.repeat ?? 1,
    seed: values.seed ?? Math.floor(Math.random() * 2 ** 31),
    only: values.only?.flatMap((o) => o.split(",")),
    timeoutS: values.timeout,
    kitsDir: resolve(cwd, values.kits ?? join(REPO_ROOT, "autograder", "kits")),
    sandbox: true,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue.path.join(".")}: ${issue.message} (${USAGE})`);
  }
  return parsed.data;
}

/** Lists the student directories in `dir`, sorted by name. */
export function listStudents(dir: string): string[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isDirectory && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
}

/** Grades one student's submission `repeat` times in separate grader processes. */
export async function gradeStudent(
  config: BatchConfig,
  student: string,
  limitMs: number,
): Promise<StudentGrade> {
  const dir = join(config.out, student);
  await Deno.mkdir(dir, { recursive: true });
  const grade: StudentGrade = { student, runs: [], maxScore: 0 };
  const log: string[] = [];
  const lost: string[] = [];
  for (let k = 1; k <= config.repeat; k++) {
    const suffix = k === 1 ? "" : `-${k}`;
    const results = join(dir, `results${suffix}.json`);
    const record = join(dir, `record${suffix}.json`);
    const html = join(dir, `report${suffix}.html`);
    // Named relative to the batch: the reports, sent to the student, show "./alice", no staff path
    // (and a directory named like an option is still a directory).
    const outcome = await runGrader(config, `./${student}`, { results, record, html }, limitMs);
    log.push(`== run ${k} of ${config.repeat}: ${outcome.summary}`, outcome.output);
    // A grader killed at the limit may still have written results on its way out: not a grade.
    if (outcome.killed) {
      for (const file of [results, record]) await Deno.remove(file).catch(() => {});
    }
    const run = outcome.killed ? null : await readRunRecord(record);
    if (run === null) {
      lost.push(`run ${k}: ${outcome.summary}`);
      grade.error = outcome.summary;
      continue;
    }
    grade.maxScore = run.maxScore;
    if (grade.leaderboard === undefined && run.leaderboard) grade.leaderboard = run.leaderboard;
    grade.runs.push(
      new Map(
        run.probes.map((p) => [p.name, { score: p.score, passed: p.passed, message: p.message }]),
      ),
    );
  }
  // Some runs graded and some did not: as much a change of verdict as a probe's score changing.
  if (grade.runs.length > 0) grade.error = undefined;
  if (grade.runs.length > 0 && lost.length > 0) grade.lostRuns = lost;
  await Deno.writeTextFile(join(dir, "log.txt"), log.join("\n"));
  return grade;
}

async function runGrader(
  config: BatchConfig,
  submission: string,
  out: { results: string; record: string; html: string },
  limitMs: number,
): Promise<{ summary: string; output: string; killed: boolean }> {
  for (const file of Object.values(out)) await Deno.remove(file).catch(() => {});
  const args = [
    "run",
    "--allow-all",
    join(REPO_ROOT, "autograder", "harness", "grade.ts"),
    config.assignment,
    submission,
    "--results",
    out.results,
    "--json",
    out.record,
    "--html",
    out.html,
    "--seed",
    String(config.seed),
    ...config.only.flatMap((name) => ["--only", name]),
    "--sandbox",
    "--kits",
    config.kitsDir,
  ];
  const child = startChild(Deno.execPath(), args, {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", INIT_CWD: config.submissions },
    cap: 1 << 20,
  });
  const status = await within(child.status, limitMs, null);
  await child.stop(3_000); // time for a stopped grader to clean up its sandbox
  const output = cappedText(child.combined);
  if (status === null) {
    return { summary: `grader killed after ${limitMs / 1000} s`, output, killed: true };
  }
  const summary = status.code === 2
    ? `grader could not run: ${output.trim().split("\n").pop()}`
    : `grader exited ${status.code}`;
  return { summary, output, killed: false };
}

/**
 * A message with its numbers taken out (ports, pids, timings differ from run to run): two runs
 * that failed a probe for the same reason give the same text.
 */
export function messageShape(message: string): string {
  return message.replace(/\d+(\.\d+)?/g, "N");
}

/**
 * Probes whose outcome differed between runs: their score, their verdict, or the reason the
 * verdict gives (the message, numbers aside). A probe that failed twice, once on a timeout and
 * once on wrong bytes, is as unstable as one that passed once.
 */
export function flakyProbes(runs: Map<string, ProbeOutcome>[]): string[] {
  if (runs.length < 2) return [];
  const names = [...runs[0].keys()];
  const shape = (o: ProbeOutcome | undefined) =>
    o === undefined ? "missing" : `${o.score} ${o.passed} ${messageShape(o.message)}`;
  return names.filter((name) => new Set(runs.map((r) => shape(r.get(name)))).size > 1);
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Renders grades.csv: one row per student, a column per probe (its score, or
 * `flaky:2/0/2` listing every run's score), the total of the first run that produced results,
 * the seed, a status column (ok, flaky and why, or why grading failed), and the first line of
 * each failed probe's message in that run.
 */
export function gradesCsv(probes: string[], grades: StudentGrade[], seed: number): string {
  const header = ["student", ...probes, "total", "max", "seed", "status", "failures"];
  const rows = grades.map((g) => {
    const first = g.runs[0] ?? new Map<string, ProbeOutcome>();
    const flaky = flakyProbes(g.runs);
    const cells = probes.map((p) =>
      flaky.includes(p)
        ? `flaky:${g.runs.map((r) => r.get(p)?.score ?? 0).join("/")}`
        : first.get(p)?.score ?? 0
    );
    const total = [...first.values()].reduce((a, b) => a + b.score, 0);
    const unstable = [...flaky, ...(g.lostRuns ?? [])];
    const status = g.error ?? (unstable.length > 0 ? `flaky: ${unstable.join("; ")}` : "ok");
    const failures = [...first].filter(([, o]) => !o.passed)
      .map(([name, o]) => `${name}: ${o.message.split("\n")[0]}`).join("; ");
    return [g.student, ...cells, total, g.maxScore, seed, status, failures];
  });
  return [header, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

/** One line of progress: a bar, counts, and the time left at the pace so far. */
export function progressLine(done: number, total: number, failed: number, ms: number): string {
  const width = 24;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const eta = done === 0 ? "?" : `${Math.round(((total - done) * ms) / done / 1000)}s`;
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  return `[${bar}] ${done}/${total} graded, ${failed} could not be graded, ETA ${eta}`;
}

/** Runs `work` over `items` with at most `jobs` at once, in order of `items`. */
async function pool<T, R>(items: T[], jobs: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return out;
}

/** Grades every submission in the batch; returns the exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    const config = parseBatchArgs(argv, Deno.env.get("INIT_CWD") || Deno.cwd());
    const kit = await loadKit(join(config.kitsDir, config.assignment));
    const selected = selectProbes(kit.probes, config.only); // an unknown --only fails here, once
    const students = listStudents(config.submissions);
    if (students.length === 0) throw new Error(`no submissions in ${config.submissions}`);
    // Student processes run as other users: they may not read the grades, nor each other's work.
    await Deno.mkdir(config.out, { recursive: true, mode: 0o750 });
    for (const dir of [config.submissions, config.out]) {
      if (Deno.uid() === 0 && ((Deno.statSync(dir).mode ?? 0) & 0o005) !== 0) {
        console.error(
          `grade-all: warning: ${dir} is open to other users: where bubblewrap is missing, a ` +
            `submission can read it (chmod o-rwx ${dir})`,
        );
      }
    }
    const started = Date.now();
    let done = 0, failed = 0;
    const tty = Deno.stdout.isTerminal();
    // Each concurrent grader needs a student uid of its own (see student_user.ts): where there is
    // one only (no course-student: nobody), the runs would wait for it, and overrun their limit.
    const slots = Deno.uid() === 0 ? candidateUsers().length : config.jobs;
    if (slots < config.jobs) {
      console.error(`grade-all: ${slots} student user(s) here: --jobs ${slots} (run setup.sh)`);
    }
    const grades = await pool(students, Math.min(config.jobs, slots), async (student) => {
      const limitMs = config.timeoutS ? config.timeoutS * 1000 : kit.manifest.budgetMs + 60_000;
      const grade = await gradeStudent(config, student, limitMs);
      done++;
      if (grade.error) failed++;
      const line = progressLine(done, students.length, failed, Date.now() - started);
      // On a terminal the bar redraws itself; a student who could not be graded stays above it.
      // A directory's name is the student's choice: no control byte of it reaches the terminal.
      const said = safeText(`${student}: ${grade.error ?? "graded"}`);
      const above = grade.error ? `\r\x1b[K${said}\n` : "\r";
      if (tty) await Deno.stdout.write(new TextEncoder().encode(`${above}${line}`));
      else console.log(`${said}  ${line}`);
      return grade;
    });
    if (tty) console.log();
    const probes = selected.map((p) => p.name);
    // A student who could not be graded still scored 0 out of the assignment's points.
    const maxScore = selected.reduce((sum, p) => sum + p.points, 0);
    for (const g of grades) if (g.runs.length === 0) g.maxScore = maxScore;
    await Deno.writeTextFile(
      join(config.out, "grades.csv"),
      gradesCsv(probes, grades, config.seed),
    );
    console.log(`wrote ${join(config.out, "grades.csv")} (seed ${config.seed})`);
    const board = grades.filter((g) => g.leaderboard)
      .map((g) => ({ student: g.student, entries: g.leaderboard! }));
    if (board.length > 0) {
      await Deno.writeTextFile(join(config.out, "leaderboard.csv"), leaderboardCsv(board));
      await Deno.writeTextFile(
        join(config.out, "leaderboard.html"),
        leaderboardHtml(config.assignment, board),
      );
      console.log(`wrote ${join(config.out, "leaderboard.csv")} and leaderboard.html`);
    }
    return failed > 0 ? 1 : 0;
  } catch (e) {
    console.error(`grade-all: ${(e as Error).message.split("\n")[0]}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
