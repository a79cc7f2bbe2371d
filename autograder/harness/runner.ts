/**
 * Runs a kit's probes against a staged submission, in order, each under its own deadline and
 * all under the run's budget. A probe that throws or never settles fails; the grader goes on.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import type { ProbeResult, RunResult } from "../report/result.ts";
import { createContext, type Jail } from "./context.ts";
import { describeZodError, loadManifest, type Manifest } from "./manifest.ts";
import type { Leaderboard, LeaderboardEntry, Probe, Verdict } from "./probe.ts";
import { within } from "./process.ts";
import { DEFAULT_LIMITS, openSandbox, type Sandbox } from "../sandbox/sandbox.ts";
import { claimStudentUser } from "../sandbox/student_user.ts";
import { MissingFilesError, REPO_ROOT, stageSubmission, type Submission } from "./submission.ts";
import { TraceRecorder } from "../observe/trace.ts";

/** A kit: its manifest and its probes, in the order they run. */
export interface Kit {
  dir: string;
  manifest: Manifest;
  probes: Probe[];
  /** The kit's performance measurement (`leaderboard.ts`), when it has one. */
  leaderboard?: Leaderboard;
}

export type { ProbeResult, RunResult } from "../report/result.ts";

/** What is about to be graded, for a report header. */
export interface RunStart {
  assignment: string;
  title: string;
  submission: string;
  seed: number;
  /** The probes that will run, in order. */
  probes: Probe[];
}

/** Hooks for live progress. */
export interface RunHooks {
  onBegin?(start: RunStart): void;
  onStart?(probe: Probe): void;
  onResult?(result: ProbeResult): void;
}

/** Options for {@link runKit}. */
export interface RunOptions extends RunHooks {
  /** The kit directory (holding manifest.json and probes.ts). */
  kitDir: string;
  /** The student's directory; only the manifest's files are taken from it. */
  submissionDir: string;
  /** The submission as its reports show it (as given on the command line); the path if absent. */
  submissionLabel?: string;
  seed?: number;
  /** Run only the probes with these names. */
  only?: string[];
  /** Overrides the manifest's budgetMs. */
  budgetMs?: number;
  /** Overrides the readiness deadline of startServer (default 10 s). */
  readyMs?: number;
  /** Runs the student's processes in the sandbox (sandbox.ts). */
  sandbox?: boolean;
  /**
   * Stops the run: no further probe starts, the running one is cut short (its context's signal
   * aborts and the harness stops waiting for it), and once the run has cleaned up (student
   * processes, sandbox, staged files), runKit throws a {@link GradingStopped} holding the run.
   */
  signal?: AbortSignal;
  /** false: no leaderboard measurement even when every probe passes. */
  leaderboard?: boolean;
}

const ProbeShape = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be kebab-case"),
  title: z.string(),
  points: z.number().nonnegative(),
  visibility: z.enum(["visible", "hidden", "after_due_date", "after_published"]),
  deadlineMs: z.number().positive(),
  hint: z.string(),
  needs: z.string().optional(),
  alongside: z.string().optional(),
  run: z.custom<Probe["run"]>((f) => typeof f === "function", "must be a function"),
});

/** Checks a kit's `probes` export; throws a `TypeError` with one clear line. */
export function checkProbes(probes: unknown, source: string): Probe[] {
  if (!Array.isArray(probes)) throw new TypeError(`${source}: must export "probes" as an array`);
  const names = new Set<string>();
  probes.forEach((p, i) => {
    const r = ProbeShape.safeParse(p);
    if (!r.success) throw new TypeError(`${source}: probes[${i}].${describeZodError(r.error)}`);
    if (names.has(r.data.name)) throw new TypeError(`${source}: duplicate probe "${r.data.name}"`);
    const alongside = r.data.alongside;
    if (
      alongside !== undefined && (alongside !== probes[i - 1]?.name || r.data.needs === alongside)
    ) {
      throw new TypeError(
        `${source}: probe "${r.data.name}" runs alongside "${alongside}", which must come just before it, and not as its gate`,
      );
    }
    if (r.data.needs !== undefined && !names.has(r.data.needs)) {
      throw new TypeError(
        `${source}: probe "${r.data.name}" needs "${r.data.needs}", which must come before it`,
      );
    }
    names.add(r.data.name);
  });
  return probes as Probe[];
}

/**
 * Loads `<kitDir>/manifest.json` and the `probes` exported by `<kitDir>/probes.ts`, then
 * those of `<kitDir>/hidden_probes.ts` when the kit has one. Hidden probes live in their own
 * file so that the student release can leave the file out.
 */
export async function loadKit(kitDir: string): Promise<Kit> {
  const dir = resolve(kitDir);
  const manifest = await loadManifest(dir);
  const probes = await importProbes(resolve(dir, "probes.ts"));
  const hidden = resolve(dir, "hidden_probes.ts");
  if (await exists(hidden)) probes.push(...await importProbes(hidden));
  const kit: Kit = { dir, manifest, probes: checkProbes(probes, `${dir}/probes.ts`) };
  const board = resolve(dir, "leaderboard.ts");
  if (await exists(board)) {
    const mod = await import(pathToFileURL(board).href);
    if (typeof mod.leaderboard?.run !== "function") {
      throw new TypeError(`${board}: must export "leaderboard" with a run() function`);
    }
    kit.leaderboard = mod.leaderboard as Leaderboard;
  }
  return kit;
}

async function importProbes(path: string): Promise<unknown[]> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (e) {
    throw new TypeError(`Cannot load ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(mod.probes)) throw new TypeError(`${path}: must export "probes" as an array`);
  return [...mod.probes];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Picks the probes named in `only` (all when absent); unknown names are an error. */
export function selectProbes(probes: Probe[], only?: string[]): Probe[] {
  if (only === undefined || only.length === 0) return probes;
  const known = probes.map((p) => p.name);
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new RangeError(`Unknown probe ${unknown.join(", ")}: the kit has ${known.join(", ")}`);
  }
  return probes.filter((p) => only.includes(p.name));
}

/** Hashes a probe name into a 32-bit number, so each probe's PRNG is stable under --only. */
function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Loads the kit, stages the submission, runs the selected probes and removes the staging
 * directory. Throws (before running anything) when the kit, the submission or `only` is bad.
 */
export async function runKit(options: RunOptions): Promise<RunResult> {
  const kit = await loadKit(options.kitDir);
  const probes = selectProbes(kit.probes, options.only);
  let run: RunResult;
  try {
    // A root grader never runs student code as root, sandbox or not.
    run = options.sandbox || Deno.uid() === 0
      ? await runContained(kit, probes, options)
      : await stageAndRun(kit, probes, options);
  } catch (e) {
    if (!(e instanceof MissingFilesError)) throw e;
    run = unstaged(kit, probes, options, e);
  }
  if (options.signal?.aborted) {
    const why = options.signal.reason instanceof Error
      ? options.signal.reason.message
      : String(options.signal.reason ?? "stopped");
    run.notes.unshift(`grading was stopped (${why}): the probes it did not finish are failed`);
    throw new GradingStopped(why, run);
  }
  return run;
}

/**
 * The run of a submission that lacks a file the kit takes, or holds one the grader refuses (a
 * symlink, a FIFO, a huge file): nothing of it ran, so every probe failed saying why. A run
 * record like any other, so that a batch, Gradescope and the student see the same reason.
 */
function unstaged(kit: Kit, probes: Probe[], options: RunOptions, e: MissingFilesError) {
  return partialRun(kit.manifest.name, probes, [], {
    submission: options.submissionLabel ?? options.submissionDir,
    seed: options.seed ?? 0,
    startedAt: new Date(),
    why: e.message,
    note: `the submission could not be graded: ${e.message}`,
  });
}

/** What {@link partialRun} needs besides the probes. */
export interface PartialRunInfo {
  submission: string;
  seed: number;
  startedAt: Date;
  /** Why the probes that did not finish failed. */
  why: string;
  /** The run's first note. */
  note: string;
}

/**
 * A run record from the results of the probes that `finished`; every other of `probes` failed
 * as not run, saying `why`. For a run that could not start, or was cut off before it ended.
 */
export function partialRun(
  assignment: string,
  probes: Probe[],
  finished: ProbeResult[],
  info: PartialRunInfo,
): RunResult {
  const results = probes.map((p) =>
    finished.find((r) => r.name === p.name) ?? resultOf(p, fail(`not run: ${info.why}`), 0)
  );
  return {
    assignment,
    submission: info.submission,
    seed: info.seed,
    startedAt: info.startedAt.toISOString(),
    ms: Date.now() - info.startedAt.getTime(),
    score: results.reduce((a, r) => a + r.score, 0),
    maxScore: results.reduce((a, r) => a + r.points, 0),
    probes: results,
    notes: [info.note],
  };
}

/**
 * Thrown by {@link runKit} when its signal stopped the run, after the clean-up: `run` holds every
 * finished probe's verdict, and the others marked as not run, for the results to be written.
 */
export class GradingStopped extends Error {
  override name = "GradingStopped";
  /** The run as far as it went. */
  run: RunResult;
  constructor(message: string, run: RunResult) {
    super(message);
    this.run = run;
  }
}

async function stageAndRun(kit: Kit, probes: Probe[], options: RunOptions): Promise<RunResult> {
  const submission = await stageSubmission(kit.manifest, options.submissionDir);
  return await withCleanup(
    () => submission.remove(),
    () => runProbes(kit, probes, submission, options),
  );
}

/**
 * Runs the probes with every student process in the run's sandbox: as a user of the run's own
 * when the grader is root, and in namespaces and cgroups too when `options.sandbox` asks.
 * Everything of the run lives in one directory (root's; the user's scratch space inside it),
 * removed at the end after every process of the user is dead.
 */
function runContained(kit: Kit, probes: Probe[], options: RunOptions): Promise<RunResult> {
  return inRunDirectory(async (runDir) => {
    const user = Deno.uid() === 0 ? await claimStudentUser(options.signal) : null;
    const scratch = join(runDir, "scratch");
    let sandbox: Sandbox;
    try {
      await Deno.mkdir(scratch, { mode: 0o700 });
      if (user !== null) await Deno.chown(scratch, user.uid, user.gid);
      const limits = { ...DEFAULT_LIMITS, ...kit.manifest.limits };
      const namespaces = options.sandbox ?? false;
      sandbox = openSandbox(basename(runDir), limits, { namespaces, user, runDir, scratch });
    } catch (e) {
      user?.release();
      throw e;
    }
    const box = sandbox;
    const close = async () => {
      await box.close();
      user?.release();
    };
    return await withCleanup(close, async () => {
      const submission = await stageSubmission(kit.manifest, options.submissionDir, {
        copyShared: true,
      });
      const jail = { box, visible: [runDir] };
      const run = await runProbes(kit, probes, submission, options, jail);
      if (user !== null && checkoutIsOpen()) {
        run.notes.unshift(
          "user: the staff checkout is open to other users, the student user included: run " +
            "autograder/setup.sh as root (it closes it)",
        );
      }
      if (user !== null) {
        run.notes.unshift(`user: student processes ran as ${user.name} (uid ${user.uid})`);
      }
      run.notes.unshift(...box.notes.map((n) => hidePaths(n, submission, jail)));
      return run;
    });
  });
}

/** True when users other than the checkout's owner and group may enter it (setup.sh closes it). */
function checkoutIsOpen(): boolean {
  return ((Deno.statSync(REPO_ROOT).mode ?? 0) & 0o001) !== 0;
}

/** Clean-ups of runs still going: {@link abandonRuns} does them when the grader is stopped. */
const pendingCleanups = new Set<() => Promise<void>>();

/** Runs `fn`, then `cleanup`; `cleanup` also runs if the grader is stopped in between. */
async function withCleanup<T>(cleanup: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  pendingCleanups.add(cleanup);
  try {
    return await fn();
  } finally {
    pendingCleanups.delete(cleanup);
    await cleanup();
  }
}

/**
 * Cleans up after every run still going (sandboxes, staged submissions, run directories), most
 * recent first. For a grader stopped by a signal, whose `finally` blocks will never run.
 */
export async function abandonRuns(): Promise<void> {
  for (const cleanup of [...pendingCleanups].reverse()) {
    pendingCleanups.delete(cleanup);
    await cleanup().catch(() => {});
  }
}

/**
 * Runs `fn` with TMPDIR pointing at a fresh directory of this run, removed afterwards: the
 * staged submission and every temporary file a probe makes land there, and the sandbox shows
 * the student that directory and nothing else of the machine's temporary files.
 */
async function inRunDirectory<T>(fn: (runDir: string) => Promise<T>): Promise<T> {
  const runDir = await Deno.makeTempDir({ prefix: "grade-run-" });
  const before = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", runDir);
  const restore = async () => {
    if (before === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", before);
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  };
  return await withCleanup(restore, () => fn(runDir));
}

async function runProbes(
  kit: Kit,
  probes: Probe[],
  submission: Submission,
  options: RunOptions,
  jail?: Jail,
): Promise<RunResult> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const startedAt = new Date();
  const budgetEnd = Date.now() + (options.budgetMs ?? kit.manifest.budgetMs);
  const results: ProbeResult[] = [];
  const notes: string[] = [];
  const { name: assignment, title } = kit.manifest;
  options.onBegin?.({
    assignment,
    title,
    submission: options.submissionLabel ?? submission.source,
    seed,
    probes,
  });
  // Probes whose server was silent, and why: the probes that need them are not run.
  const silent = new Map<string, string>();
  const { readyMs, signal: stop } = options;
  const env = { seed, submission, budgetEnd, readyMs, notes, jail, stop };
  /** Runs `probe`, or says why it is not run; its result, in the run's order. */
  const runOne = async (probe: Probe): Promise<ProbeResult> => {
    if (options.signal?.aborted) return resultOf(probe, fail("not run: grading was stopped"), 0);
    const why = probe.needs === undefined ? undefined : silent.get(probe.needs);
    if (why !== undefined) {
      const message = `not run: in "${probe.needs}", ${why}; this probe needs a server that ` +
        `answers, so fix "${probe.needs}" first`;
      return resultOf(probe, fail(message), 0);
    }
    options.onStart?.(probe);
    const run = await probeRun(probe, env);
    if (run.silent !== undefined) silent.set(probe.name, run.silent);
    return withoutStaffPaths(run.result, submission, jail);
  };
  for (let i = 0; i < probes.length; i++) {
    // A probe that may run alongside the one before it (`alongside`) runs at the same time.
    const step = probes[i + 1]?.alongside === probes[i].name
      ? [probes[i], probes[++i]]
      : [probes[i]];
    const done = await Promise.all(step.map(runOne));
    await sweep(env, step);
    for (const result of done) {
      results.push(result);
      options.onResult?.(result);
    }
  }
  notes.splice(0, notes.length, ...notes.map((n) => hidePaths(n, submission, jail)));
  const sum = (f: (r: ProbeResult) => number) => results.reduce((a, r) => a + f(r), 0);
  // The leaderboard measures a correct submission only, and only in a whole run.
  const allPassed = results.length === kit.probes.length && results.every((r) => r.passed);
  let leaderboard: LeaderboardEntry[] | undefined;
  if (kit.leaderboard && allPassed && options.leaderboard !== false && !options.signal?.aborted) {
    const env = { seed, submission, budgetEnd: Infinity, readyMs: options.readyMs, notes, jail };
    leaderboard = await measureLeaderboard(kit.leaderboard, env);
  }
  return {
    assignment: kit.manifest.name,
    submission: options.submissionLabel ?? submission.source,
    seed,
    startedAt: startedAt.toISOString(),
    ms: Date.now() - startedAt.getTime(),
    score: sum((r) => r.score),
    maxScore: sum((r) => r.points),
    probes: results,
    notes,
    ...(leaderboard ? { leaderboard } : {}),
  };
}

/** Runs the kit's leaderboard measurement as a probe is run; its failure is a note, not a grade. */
async function measureLeaderboard(
  board: Leaderboard,
  env: ProbeEnv,
): Promise<LeaderboardEntry[] | undefined> {
  let entries: LeaderboardEntry[] | undefined;
  const probe: Probe = {
    name: "leaderboard",
    title: "performance figures for the leaderboard (not part of the score)",
    points: 0,
    visibility: "visible",
    deadlineMs: board.deadlineMs,
    hint: "",
    run: async (ctx) => {
      entries = await board.run(ctx);
      return ctx.pass();
    },
  };
  const result = await runProbe(probe, env);
  if (!result.passed) {
    env.notes.push(`leaderboard: not measured: ${result.message.split("\n")[0]}`);
    return undefined;
  }
  return entries;
}

/**
 * `text` with the grader's own paths replaced by names: the staged submission by
 * `<submission>`, the run's directory by `<run>`, the staff checkout by `<course>`. Reports go to
 * students, and say nothing of where the grader keeps things.
 */
export function hidePaths(text: string, submission: Submission, jail?: Jail): string {
  const names: [string, string][] = [[submission.dir, "<submission>"]];
  if (jail !== undefined) names.push(...jail.visible.map((d): [string, string] => [d, "<run>"]));
  names.push([REPO_ROOT, "<course>"]);
  for (const [path, name] of names) text = text.replaceAll(path, name);
  return text;
}

function withoutStaffPaths(r: ProbeResult, submission: Submission, jail?: Jail): ProbeResult {
  r.message = hidePaths(r.message, submission, jail);
  if (r.serverOutput !== undefined) r.serverOutput = hidePaths(r.serverOutput, submission, jail);
  return r;
}

interface ProbeEnv {
  seed: number;
  submission: Submission;
  budgetEnd: number;
  readyMs?: number;
  notes: string[];
  jail?: Jail;
  /** The run's signal: when it aborts, the probe is cut short. */
  stop?: AbortSignal;
}

const DEADLINE = Symbol("deadline");
const STOPPED = Symbol("stopped");

/** Runs one probe under min(its deadline, the remaining budget); never throws. */
export async function runProbe(probe: Probe, env: ProbeEnv): Promise<ProbeResult> {
  const { result } = await probeRun(probe, env);
  await sweep(env, [probe]);
  return result;
}

/** Kills whatever escaped the process groups of `probes` (a setsid daemon), saying so. */
async function sweep(env: ProbeEnv, probes: Probe[]): Promise<void> {
  const escaped = await env.jail?.box.sweep() ?? 0;
  const names = probes.map((p) => p.name).join(", ");
  if (escaped > 0) env.notes.push(`${names}: killed ${escaped} processes left running`);
}

/**
 * Runs one probe; `silent` says why, when the probe failed without a sign of life from the
 * server: none became ready and none exited (it never listened), or none of its connections
 * received a byte, an end of file or a reset. A server that answers wrongly, closes, crashes or
 * exits is not silent.
 */
async function probeRun(
  probe: Probe,
  env: ProbeEnv,
): Promise<{ result: ProbeResult; silent?: string }> {
  const left = env.budgetEnd - Date.now();
  if (left <= 0) return { result: resultOf(probe, fail("run budget exhausted"), 0) };
  if (env.stop?.aborted) return { result: resultOf(probe, fail("grading was stopped"), 0) };
  const limit = Math.min(probe.deadlineMs, left);
  const controller = new AbortController();
  // Stopping the run aborts the probe: its waits on the context's signal end, and so does ours.
  const stop = () => controller.abort();
  env.stop?.addEventListener("abort", stop, { once: true });
  const stopped = new Promise<typeof STOPPED>((resolve) => {
    controller.signal.addEventListener("abort", () => resolve(STOPPED), { once: true });
  });
  // The probe's own trace: its context's connections and processes record into it.
  const recorder = new TraceRecorder();
  const h = createContext({
    trace: recorder,
    signal: controller.signal,
    seed: env.seed,
    probeSeed: (env.seed ^ hashName(probe.name)) >>> 0,
    submission: env.submission,
    readyMs: env.readyMs,
    jail: env.jail,
  });
  const started = performance.now();
  const running = Promise.resolve().then(() => probe.run(h.context)).then(checkVerdict, thrown);
  const outcome = await within(Promise.race([running, stopped]), limit, DEADLINE);
  env.stop?.removeEventListener("abort", stop);
  let verdict: Verdict;
  if (outcome === DEADLINE) {
    controller.abort();
    verdict = limit < probe.deadlineMs
      ? fail(`run budget exhausted after ${(limit / 1000).toFixed(1)} s`)
      : fail(`did not finish within ${probe.deadlineMs / 1000} s (deadline)`);
  } else if (outcome === STOPPED) verdict = fail("grading was stopped before the probe finished");
  else verdict = outcome;
  // A probe that threw after its server died (a reset, a refused connection) says so first.
  const ended = h.serverEnded();
  if (threw.has(verdict) && ended !== null) {
    verdict = fail(
      `the server exited by itself during this probe (${ended}), so the probe ` +
        `could not go on: ${verdict.message}`,
    );
  }
  const ms = performance.now() - started;
  // Taken before the clean-up, whose kills end pending reads with an end of file or a reset.
  const { ready, exited, heard } = recorder.signs;
  for (const note of await h.cleanup()) env.notes.push(`${probe.name}: ${note}`);
  const output = h.serverOutput();
  const result = resultOf(probe, verdict, ms);
  result.trace = recorder.finish();
  const shown = output.trim() === "" || verdict.message.includes(output.trim());
  if (!verdict.passed && !shown) result.serverOutput = output;
  if (verdict.passed || outcome === STOPPED) return { result };
  // A server that exits fails each probe fast, with its own output: nothing to skip.
  if (!ready && exited) return { result };
  if (!ready) return { result, silent: "the server never listened" };
  if (!heard) return { result, silent: "the server accepted connections but sent nothing back" };
  return { result };
}

function fail(message: string): Verdict {
  return { passed: false, message };
}

/** Verdicts made from an exception the probe threw, not from its own checks. */
const threw = new WeakSet<Verdict>();

function thrown(e: unknown): Verdict {
  const verdict = !(e instanceof Error)
    ? fail(`probe threw: ${String(e)}`)
    : fail(e.name === "Error" ? e.message : `${e.name}: ${e.message}`);
  threw.add(verdict);
  return verdict;
}

function checkVerdict(v: unknown): Verdict {
  const ok = typeof v === "object" && v !== null && typeof (v as Verdict).passed === "boolean";
  return ok
    ? { passed: (v as Verdict).passed, message: String((v as Verdict).message ?? "") }
    : fail("probe error: run() returned no verdict");
}

function resultOf(probe: Probe, verdict: Verdict, ms: number): ProbeResult {
  return {
    name: probe.name,
    title: probe.title,
    points: probe.points,
    score: verdict.passed ? probe.points : 0,
    passed: verdict.passed,
    message: verdict.message,
    hint: probe.hint,
    visibility: probe.visibility,
    ms,
  };
}
