/**
 * The types every kit is written against: a probe is a plain record with a name, points, a
 * deadline and a `run` function that tests the student's programs from outside.
 *
 * @module
 */

import type { TraceRecorder } from "../observe/trace.ts";
import type { Conn, DialOptions } from "../toolkit/conn.ts";
import type { HttpToolkit } from "../toolkit/http.ts";
import type { Eventually, EventuallyOptions } from "../toolkit/wait.ts";
import type { Submission } from "./submission.ts";

export type { Submission };

/** When Gradescope shows a probe's result to the student. */
export type Visibility = "visible" | "hidden" | "after_due_date" | "after_published";

/** The outcome of one probe. */
export interface Verdict {
  /** Whether the submission passed. */
  passed: boolean;
  /** For a failure: what was sent, expected and got; for a pass, a short note. */
  message: string;
}

/** One test of a kit, run from outside against the student's processes. */
export interface Probe {
  /** kebab-case id used by `--only`. */
  name: string;
  /** One line for humans. */
  title: string;
  /** Points for passing; failing scores 0. */
  points: number;
  /** Who sees the result, and when (Gradescope's visibility). */
  visibility: Visibility;
  /** Hard cap for `run()`; past it the probe fails with a "deadline" message. */
  deadlineMs: number;
  /** Where in the handout to look, e.g. "README.md §4 Short counts". */
  hint: string;
  /**
   * An earlier probe whose server this one needs to be alive. When that probe failed and its
   * server was silent (still not listening at the readiness deadline, or it accepted and sent
   * nothing, not even an end of file, on any connection the trace keeps, until the probe gave
   * up), this one is not run: it would only wait out its own deadline the same way. It fails
   * with a pointer to that probe instead. A gate should be a probe of a few connections.
   */
  needs?: string;
  /**
   * The probe just before this one, which this one may run at the same time as: two checks of
   * different servers where no timing is at stake (04 runs each probe once per engine). A
   * probe that measures latency or throughput runs alone.
   */
  alongside?: string;
  /** Runs the probe against the submission. */
  run(ctx: ProbeContext): Promise<Verdict>;
}

/**
 * `probes` with `gate` first and every other one marked as needing it (`needs`): when the
 * gate's server is silent, they are not run. Probes that already name a gate keep it.
 */
export function gatedBy(gate: Probe, probes: Probe[]): Probe[] {
  return [gate, ...probes.map((p) => ({ needs: gate.name, ...p }))];
}

/** One figure of a submission's leaderboard row: Gradescope's `leaderboard` entry. */
export interface LeaderboardEntry {
  /** What it is: "throughput (req/s)". */
  name: string;
  /** The figure. */
  value: number;
  /** Which way is better: "desc" (more is better) or "asc" (less is better). */
  order: "asc" | "desc";
}

/**
 * A kit's performance measurement for the leaderboard (`kits/<kit>/leaderboard.ts` exports it as
 * `leaderboard`). It runs after the probes, only when every probe passed, bounded by its
 * deadline; its figures never change a score.
 */
export interface Leaderboard {
  /** Hard cap for `run()`. */
  deadlineMs: number;
  /** Measures the submission; the context is a probe's (servers, connections, /proc views). */
  run(ctx: ProbeContext): Promise<LeaderboardEntry[]>;
}

/** What a program run to completion did. */
export interface ProgramResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: string | null;
  /** Everything it wrote to stdout (capped at 64 MiB). */
  stdout: Uint8Array;
  /** What it wrote to stderr (capped at 64 KiB). */
  stderr: string;
  /** It was killed at the timeout. */
  timedOut: boolean;
  /** How long it ran. */
  ms: number;
}

/** A student server started by a probe, in its own process group. */
export interface ServerHandle {
  /** The student's server process (inside the sandbox, the process under bubblewrap). */
  pid: number;
  /** Where it listens: always 127.0.0.1. */
  host: string;
  /** The port the harness gave it. */
  port: number;
  /** Captured stdout+stderr so far (capped). */
  output(): string;
  /** True once the process has exited. */
  exited(): boolean;
  /** Settles when the process exits. */
  status: Promise<Deno.CommandStatus>;
  /** SIGTERM the process group, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/** Options for {@link ProbeContext.startServer}. */
export interface ServerOptions {
  /** Entry name in the manifest; defaults to "server". */
  entry?: string;
  /**
   * The port to give it; by default a free one. Pass a stopped server's port to restart it on
   * the same port (its old connections may still be in TIME-WAIT).
   */
  port?: number;
  /** Arguments after the manifest's (which hold `--port {port}`). */
  args?: string[];
  /** Environment over the manifest's. */
  env?: Record<string, string>;
  /** How long to wait for the port to accept connections; defaults to 10 s. */
  readyMs?: number;
  /**
   * Run the server with no capabilities, as the sandbox does, even when the grader runs as root
   * outside it: the server and everything it starts lose CAP_DAC_OVERRIDE and
   * CAP_DAC_READ_SEARCH among the rest, so file permissions apply to them (a mode-000 file is
   * unreadable). Needs util-linux `setpriv`; without it the server runs as usual, so a probe
   * that depends on this checks CapEff in /proc/<pid>/status.
   */
  dropCapabilities?: boolean;
  /**
   * In the sandbox, keep it up until every process the server started has exited, not only the
   * server. By default the sandbox (a pid namespace) ends with the server and kills whatever the
   * server left running, so a probe would never see such leftovers in /proc, as it does outside
   * the sandbox. The harness still stops them all when the probe ends.
   */
  keepLeftovers?: boolean;
}

/** Options for {@link ProbeContext.runProgram}. */
export interface ProgramOptions {
  /** Fed to the program's stdin, which is then closed. */
  stdin?: Uint8Array;
  /** Killed after this long (default 10 s). */
  timeoutMs?: number;
  /** Environment over the manifest's. */
  env?: Record<string, string>;
}

/**
 * The parts of a failure message: what was tested, and the evidence. Pass data as Uint8Array
 * to get lengths and the first differing offset; strings are shown quoted and escaped.
 */
export interface FailParts {
  /** What the probe did and what went wrong, in one sentence. */
  what: string;
  /** What the probe sent. */
  sent?: Uint8Array | string;
  /** What a correct submission would have given. */
  expected?: Uint8Array | string;
  /** What came back. */
  got?: Uint8Array | string;
  /** A program's output (stderr, say), shown as an indented block. */
  output?: string;
  /** A last line: a likely cause, or what to check. */
  note?: string;
}

/** Everything a probe may use; the harness cleans up whatever it starts. */
export interface ProbeContext {
  /** Aborted at the probe's deadline. */
  signal: AbortSignal;
  /** Per-run seed (random, or from `--seed`). */
  seed: number;
  /** Seeded PRNG in [0, 1). */
  random(): number;
  /** `n` bytes from the probe's seeded PRNG: a replayable payload. */
  bytes(n: number): Uint8Array;
  /** The staged submission. */
  submission: Submission;
  /** This probe's trace (the HTML report's timeline): for a connection made by other means. */
  trace: TraceRecorder;
  /**
   * Connects to `port` on 127.0.0.1 (or `options.host`, "::1" say), Nagle off: a connection
   * whose every event shows on the probe's timeline, with deadline-bounded reads (exactly,
   * until a delimiter, a line, to end of file), half-close and reset.
   */
  dial(port: number, options?: DialOptions): Promise<Conn>;
  /** HTTP on traced connections: one request, raw bytes, keep-alive. */
  http: HttpToolkit;
  /**
   * Observes until the observation holds (by default: is truthy) or `deadlineMs` passes; on
   * failure the result holds the last observation, the evidence for the message.
   */
  eventually<T>(
    observe: () => T | Promise<T>,
    options: Omit<EventuallyOptions<T>, "signal">,
  ): Promise<Eventually<T>>;
  /**
   * Starts an entry (default "server") on a free port, substituting `{port}` in its args, and
   * waits until 127.0.0.1:port accepts connections; fails fast with the captured output if the
   * process exits first. The harness stops it when the probe ends.
   */
  startServer(options?: ServerOptions): Promise<ServerHandle>;
  /**
   * Runs a student entry with exactly `args` (not the manifest's) to completion in its own
   * process group; killed at the timeout
   * (default 10 s). stdout is kept up to 64 MiB, stderr up to 64 KiB.
   */
  runProgram(entry: string, args: string[], options?: ProgramOptions): Promise<ProgramResult>;
  /** A loopback port that was free a moment ago. */
  freePort(): Promise<number>;
  /** A failed Verdict showing what was sent, expected and got, and the first differing offset. */
  fail(parts: FailParts): Verdict;
  /** A passed Verdict. */
  pass(message?: string): Verdict;
}
