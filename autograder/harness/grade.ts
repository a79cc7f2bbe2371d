/**
 * The grading CLI:
 *
 * ```sh
 * deno task grade <assignment> [submission-dir] [--results FILE] [--only PROBE] [--seed N]
 *                  [--junit FILE] [--autolab] [--html FILE] [--sandbox | --no-sandbox]
 * ```
 *
 * `--results` writes Gradescope's results.json, `--junit` JUnit XML, and `--autolab` prints
 * Autolab's autoresult JSON as the last line of output. `--html` writes a self-contained HTML
 * report with a timeline of each failed probe's connections.
 *
 * Someone else's code is contained by default: a submission directory other than the student's
 * own `assignments/<assignment>/` runs in the sandbox (sandbox.ts), and the grader itself in a
 * network namespace of its own where only loopback exists. `--sandbox` asks for it for the
 * student's own directory too; `--no-sandbox` turns it off, and every report says so. Either
 * way, a grader running as root runs student processes as an unprivileged user.
 *
 * Exit status: 0 when every probe passed, 1 when some failed (a submission missing a file, or
 * holding one the grader refuses, is graded at 0 with the reason in every probe), 2 when grading
 * could not run (bad arguments, unknown assignment), always with one line on stderr; 130 or 143
 * when stopped by SIGINT or SIGTERM, after cleaning up and writing results (every finished
 * probe's verdict, the others failed as not run). Reports are written last, once no student
 * process is left, each replacing its file atomically.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { toAutolab, toJunit } from "../report/formats.ts";
import { renderHtml } from "../report/html.ts";
import { describeZodError } from "./manifest.ts";
import { stopAll, within } from "./process.ts";
import { submissionFiles } from "../report/next_step.ts";
import { formatReport, progressHooks, useColor, writeStdout } from "../report/terminal.ts";
import { toGradescope } from "../report/gradescope.ts";
import {
  abandonRuns,
  GradingStopped,
  loadKit,
  partialRun,
  runKit,
  type RunResult,
  selectProbes,
} from "./runner.ts";
import type { ProbeResult } from "../report/result.ts";
import { watch } from "./watch.ts";
import { allPids, readStat } from "../observe/proc.ts";
import { networkNamespaceCommand } from "../sandbox/sandbox.ts";
import { REPO_ROOT } from "./submission.ts";

const USAGE =
  "usage: deno task grade <assignment> [submission-dir] [--watch] [--results FILE] [--json FILE] " +
  "[--only PROBE] [--seed N] [--junit FILE] [--autolab] [--html FILE] [--sandbox | --no-sandbox]";

/** What `--help` adds to the usage line. */
const HELP = `
  <assignment>      01-echo ... 05-async (a folder of autograder/kits/)
  [submission-dir]  the files to grade; default: your own assignments/<assignment>/
  --only PROBE      run one probe (repeat, or comma-separate, for more)
  --seed N          replay a run's payloads and injected short counts
  --watch           grade again each time a file of the submission is saved
  --results FILE    Gradescope's results.json; --json FILE the full run record;
                    --junit FILE, --html FILE, --autolab: the other report formats
  --sandbox         contain the student's processes (the default for any directory but your own)
  --no-sandbox      do not (said in every report)
Exit status: 0 all passed, 1 some failed, 2 could not grade. See docs/grading.md.
`;

/** A usage problem: reported as one line, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The validated command line. */
export const GradeConfigSchema = z.object({
  assignment: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must look like 01-echo"),
  submissionDir: z.string(),
  /** The submission as the user named it, for reports (never a staging path). */
  submissionLabel: z.string(),
  kitsDir: z.string(),
  results: z.string().optional(),
  json: z.string().optional(),
  junit: z.string().optional(),
  autolab: z.boolean().default(false),
  html: z.string().optional(),
  sandbox: z.boolean().default(true),
  /** True when --sandbox or --no-sandbox was given (else the default for the directory ran). */
  sandboxChosen: z.boolean().default(false),
  only: z.array(z.string()).default([]),
  seed: z.coerce.number().int().nonnegative().optional(),
  watch: z.boolean().default(false),
});

/** A validated command line. */
export type GradeConfig = z.infer<typeof GradeConfigSchema>;

/** The directory the user ran the command from (`deno task` runs in the repo, sets INIT_CWD). */
export function userCwd(): string {
  return Deno.env.get("INIT_CWD") || Deno.cwd();
}

/** Parses the command line into a {@link GradeConfig}; throws a {@link UsageError}. */
export function parseCommandLine(argv: string[], cwd = userCwd()): GradeConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        results: { type: "string" },
        json: { type: "string" },
        junit: { type: "string" },
        autolab: { type: "boolean" },
        html: { type: "string" },
        sandbox: { type: "boolean" },
        "no-sandbox": { type: "boolean" },
        only: { type: "string", multiple: true },
        seed: { type: "string" },
        kits: { type: "string" },
        watch: { type: "boolean" },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split("\n")[0]} (${USAGE})`);
  }
  const [assignment, submission, ...extra] = parsed.positionals;
  if (assignment === undefined) throw new UsageError(`missing <assignment> (${USAGE})`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (${USAGE})`);
  const v = parsed.values;
  if (v.sandbox && v["no-sandbox"]) {
    throw new UsageError(`--sandbox and --no-sandbox contradict each other (${USAGE})`);
  }
  const own = join(REPO_ROOT, "assignments", assignment);
  const submissionDir = resolve(cwd, submission ?? own);
  const result = GradeConfigSchema.safeParse({
    assignment,
    submissionDir,
    submissionLabel: submission ?? `assignments/${assignment}`,
    kitsDir: resolve(cwd, v.kits ?? join(REPO_ROOT, "autograder", "kits")),
    results: v.results === undefined ? undefined : resolve(cwd, v.results),
    json: v.json === undefined ? undefined : resolve(cwd, v.json),
    junit: v.junit === undefined ? undefined : resolve(cwd, v.junit),
    autolab: v.autolab,
    html: v.html === undefined ? undefined : resolve(cwd, v.html),
    // Contained unless asked otherwise, except for the student's own work in their checkout.
    sandbox: v.sandbox ?? (v["no-sandbox"] ? false : submissionDir !== own),
    sandboxChosen: v.sandbox !== undefined || v["no-sandbox"] !== undefined,
    only: v.only?.flatMap((o) => o.split(",")),
    seed: v.seed,
    watch: v.watch,
  });
  if (!result.success) throw new UsageError(describeZodError(result.error));
  return result.data;
}

/** Refuses an output file whose directory is missing, before a long run rather than after. */
function checkWritableDir(file: string): void {
  let isDir = false;
  try {
    isDir = Deno.statSync(dirname(file)).isDirectory;
  } catch {
    // missing: said below
  }
  if (!isDir) throw new UsageError(`cannot write ${file}: no directory ${dirname(file)}`);
}

/** Lists the assignments that have a kit (a directory with manifest.json) in `kitsDir`. */
export function knownAssignments(kitsDir: string): string[] {
  const names: string[] = [];
  try {
    for (const e of Deno.readDirSync(kitsDir)) {
      try {
        if (e.isDirectory && Deno.statSync(join(kitsDir, e.name, "manifest.json")).isFile) {
          names.push(e.name);
        }
      } catch {
        // no manifest: not a kit yet
      }
    }
  } catch {
    // no kits directory at all
  }
  return names.sort();
}

/**
 * Runs the grader for `argv`; returns the exit status. Never throws. When `signal` aborts, the
 * run stops and cleans up, and the results of what ran are written.
 */
export async function main(argv: string[], signal?: AbortSignal): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    writeStdout(`${USAGE}\n${HELP}`);
    return 0;
  }
  try {
    const config = parseCommandLine(argv);
    for (const file of [config.results, config.json, config.junit, config.html]) {
      if (file !== undefined) checkWritableDir(file);
    }
    const known = knownAssignments(config.kitsDir);
    if (!known.includes(config.assignment)) {
      const list = known.length > 0 ? known.join(", ") : "none";
      throw new UsageError(`unknown assignment "${config.assignment}" (known: ${list})`);
    }
    if (config.watch) return await watchAndGrade(config, signal);
    let run: RunResult;
    let stopped: GradingStopped | null = null;
    const kitDir = join(config.kitsDir, config.assignment);
    const hooks = progressHooks();
    const finished: ProbeResult[] = [];
    const info = {
      submission: config.submissionLabel,
      seed: config.seed ?? 0,
      startedAt: new Date(),
      why: "grading was stopped",
      note: `grading was stopped, and its clean-up took longer than ${STOP_MS / 1000} s: ` +
        "the probes it did not finish are failed",
    };
    try {
      run = await runKit({
        kitDir,
        submissionDir: config.submissionDir,
        submissionLabel: config.submissionLabel,
        seed: config.seed,
        only: config.only,
        sandbox: config.sandbox,
        signal,
        ...hooks,
        onBegin: (start) => {
          info.seed = start.seed;
          lastResort = () =>
            writeOutputs(config, partialRun(config.assignment, start.probes, finished, info));
          hooks.onBegin?.(start);
        },
        onResult: (result) => {
          finished.push(result);
          hooks.onResult?.(result);
        },
      });
    } catch (e) {
      if (!(e instanceof GradingStopped)) throw e;
      stopped = e;
      run = e.run;
    }
    if (config.sandbox && Deno.env.get(NETNS_ENV) !== "inside") {
      run.notes.unshift(
        "sandbox: no network namespace here: student processes can use the network",
      );
    }
    run.notes.unshift(modeNote(config));
    lastResort = null; // the run ended: what follows writes the whole of it
    writeStdout(formatReport(run, submissionFiles(config.submissionDir), useColor()));
    await writeOutputs(config, run);
    if (stopped !== null) {
      console.error(`grade: ${stopped.message}; results written for the probes that finished`);
      return stopped.message.includes("SIGINT") ? 130 : 143;
    }
    return run.probes.every((p) => p.passed) ? 0 : 1;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`grade: ${message.split("\n").join(" ")}`);
    if (argv.includes("--autolab")) writeStdout(`${JSON.stringify({ scores: {} })}\n`);
    return 2;
  }
}

/** `--watch`: grades, then again at every save of a submission file, until stopped. */
async function watchAndGrade(config: GradeConfig, signal?: AbortSignal): Promise<number> {
  const kitDir = join(config.kitsDir, config.assignment);
  const kit = await loadKit(kitDir);
  const hooks = progressHooks();
  await watch({
    kitDir,
    submissionDir: config.submissionDir,
    probes: selectProbes(kit.probes, config.only).map((p) => p.name),
    grade: ({ only }) =>
      runKit({
        kitDir,
        submissionDir: config.submissionDir,
        submissionLabel: config.submissionLabel,
        seed: config.seed,
        only,
        sandbox: config.sandbox,
        ...hooks,
      }),
    show: (run, round, rounds) => {
      if (rounds > 1) writeStdout(`  (round ${round} of ${rounds})\n`);
      writeStdout(formatReport(run, submissionFiles(config.submissionDir), useColor()));
    },
    say: (line) => writeStdout(`\n${line}\n`),
    signal: signal ?? new AbortController().signal,
  });
  return 0;
}

/**
 * Writes the reports asked for. Each replaces its file atomically (a fresh temporary file beside
 * it, then a rename): whatever was at the path, even a file a submission placed there, is
 * replaced, never written through. Called once every student process is dead.
 */
async function writeOutputs(config: GradeConfig, run: RunResult): Promise<void> {
  if (config.json) await writeAtomically(config.json, JSON.stringify(run) + "\n");
  if (config.results) {
    await writeAtomically(config.results, JSON.stringify(toGradescope(run), null, 2) + "\n");
  }
  if (config.junit) await writeAtomically(config.junit, toJunit(run));
  if (config.autolab) writeStdout(`${toAutolab(run)}\n`);
  if (config.html) await writeAtomically(config.html, renderHtml(run));
}

/** Writes `text` to a new temporary file next to `path` (mode 0644), then renames it there. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const random = crypto.randomUUID().slice(0, 8);
  const temp = join(dirname(path), `.${basename(path)}.${Deno.pid}.${random}.tmp`);
  try {
    await Deno.writeTextFile(temp, text, { createNew: true, mode: 0o644 });
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/** The first note of every report: whether the submission ran contained, and why. */
export function modeNote(config: GradeConfig): string {
  if (config.sandbox) {
    return "mode: sandboxed (student processes contained; any layer this host lacks is named " +
      "below)";
  }
  if (config.sandboxChosen) {
    return "mode: NOT sandboxed (--no-sandbox): the submission ran with the grader's access to " +
      "this machine, less root's";
  }
  return `mode: not sandboxed (the student's own ${config.submissionLabel}; --sandbox contains it)`;
}

/** Set in the environment of a grader re-run in its own network namespace. */
const NETNS_ENV = "COURSE_GRADER_NETNS";

/**
 * With `--sandbox`, re-runs this grader in a network namespace of its own (only loopback), and
 * returns its exit status; returns null to grade in this process instead (already inside, no
 * `--sandbox`, or no way to make a namespace here).
 */
async function inNetworkNamespace(argv: string[]): Promise<number | null> {
  if (Deno.env.get(NETNS_ENV) === "inside") return null;
  try {
    if (!parseCommandLine(argv).sandbox) return null;
  } catch {
    return null; // main() says what is wrong
  }
  const self = ["run", "--allow-all", fileURLToPath(import.meta.url), ...argv];
  const command = networkNamespaceCommand(Deno.execPath(), self);
  if (command === null) return null;
  const child = new Deno.Command(command.cmd, {
    args: command.args,
    env: { [NETNS_ENV]: "inside", INIT_CWD: userCwd() },
    detached: true, // a signal to our process group must not reach bubblewrap (see below)
  }).spawn();
  // A signal goes to the grader inside, which cleans up and exits; bubblewrap itself would die
  // of it and take the grader down before its clean-up (--die-with-parent).
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      for (const pid of allPids().filter((p) => readStat(p)?.ppid === child.pid)) {
        try {
          Deno.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    });
  }
  const status = await child.status;
  return status.signal ? 128 + 15 : status.code;
}

/**
 * Writes the reports of a run that a signal stopped and that did not end within {@link STOP_MS}:
 * the probes that finished, the others failed as not run. Set while a run is going; called
 * after every student process is dead.
 */
let lastResort: (() => Promise<void>) | null = null;

/**
 * How long a stopped run has to end its probe and clean up on its own. grade-all allows a grader
 * it stops 3 s before it kills it, and the clean-up after this takes a fraction of a second.
 */
const STOP_MS = 2_000;

/**
 * Stops the run `graded` of `stop`'s grader on SIGINT or SIGTERM, in order: first the run (no
 * further probe starts, the running one is cut short), so that nothing starts a student process
 * while the clean-up goes on; then its clean-up (student processes, sandbox, run directory), done
 * by the run itself; then whatever of it did not end within {@link STOP_MS}; then exit.
 */
function stopOnSignals(stop: AbortController, graded: Promise<number>): void {
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, async () => {
      if (stop.signal.aborted) return; // stopping already
      stop.abort(new Error(`stopped by ${signal}`));
      const ended = await within(graded, STOP_MS, null);
      await stopAll();
      await abandonRuns(); // the run's finally blocks will not run after Deno.exit
      if (ended === null && lastResort !== null) {
        // The run did not end in time, so it wrote nothing: its finished probes still count.
        await lastResort().catch((e) => console.error(`grade: cannot write results: ${e}`));
        console.error(`grade: stopped by ${signal}; results written for the probes that finished`);
      }
      Deno.exit(status);
    });
  }
}

if (import.meta.main) {
  const outer = await inNetworkNamespace(Deno.args);
  if (outer !== null) Deno.exit(outer);
  const stop = new AbortController();
  const graded = main(Deno.args, stop.signal);
  stopOnSignals(stop, graded);
  const status = await graded;
  if (!stop.signal.aborted) Deno.exit(status); // else the signal's listener exits
}
