/**
 * The ProbeContext handed to each probe, and the cleanup the harness runs when the probe ends:
 * every server and program it started is stopped as a process group.
 *
 * @module
 */

import { firstDifference, showAround, showBytes } from "../toolkit/bytes.ts";
import type {
  FailParts,
  ProbeContext,
  ProgramOptions,
  ProgramResult,
  ServerHandle,
  ServerOptions,
  Verdict,
} from "./probe.ts";
import { cappedBytes, cappedText, type ChildHandle, delay, startChild, within } from "./process.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import type { Submission } from "./submission.ts";
import { type ProcessLane, TraceRecorder } from "../observe/trace.ts";
import { seededBytes } from "../toolkit/bytes.ts";
import { dial } from "../toolkit/conn.ts";
import { httpToolkit } from "../toolkit/http.ts";
import { eventually } from "../toolkit/wait.ts";

/** Bytes of a program's stdout `runProgram` keeps: enough to compare large transfers. */
export const PROGRAM_STDOUT_CAP = 64 * 1024 * 1024;

/** Default readiness deadline for `startServer`. */
export const READY_MS = 10_000;

/** A seeded PRNG (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns a port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return Promise.resolve((listener.addr as Deno.NetAddr).port);
}

/** Program output as an indented block, colour codes removed, at most 20 lines. */
function showOutput(text: string): string {
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").trimEnd().split("\n");
  const shown = lines.slice(0, 20).map((l) => `  | ${l}`);
  if (lines.length > 20) shown.push(`  | … (${lines.length - 20} more lines)`);
  return shown.join("\n");
}

/**
 * Builds a failure message showing what was sent, expected and got, shown safely. Bytes
 * (Uint8Array) get their length, and when both sides are bytes the first differing offset;
 * strings are shown quoted and escaped; `output` (a program's stderr, say) as a block.
 */
export function failVerdict(parts: FailParts): Verdict {
  const lines = [parts.what];
  const { expected, got } = parts;
  const diff = expected instanceof Uint8Array && got instanceof Uint8Array
    ? firstDifference(expected, got)
    : -1;
  const show = (b: Uint8Array | string) => {
    if (typeof b === "string") return `"${showBytes(b)}"`;
    if (diff > 100) return showAround(b, diff);
    return `"${showBytes(b)}" (${b.length} ${b.length === 1 ? "byte" : "bytes"})`;
  };
  if (parts.sent !== undefined) lines.push(`sent:     ${show(parts.sent)}`);
  if (expected !== undefined) lines.push(`expected: ${show(expected)}`);
  if (got !== undefined) lines.push(`got:      ${show(got)}`);
  if (diff >= 0) lines.push(`first difference at byte ${diff}`);
  if (parts.output !== undefined) lines.push("its output:", showOutput(parts.output));
  if (parts.note !== undefined) lines.push(parts.note);
  return { passed: false, message: lines.join("\n") };
}

/** What the harness needs to build a context. */
export interface ContextOptions {
  /** The probe's trace: its connections and processes are recorded there (a new one if absent). */
  trace?: TraceRecorder;
  signal: AbortSignal;
  seed: number;
  /** Seed of this probe's PRNG (derived from the run seed and the probe name). */
  probeSeed: number;
  submission: Submission;
  readyMs?: number;
  /** The run's sandbox, when there is one: every student process starts inside it. */
  jail?: Jail;
}

/** A run's sandbox and the directories a student process may see in it (read-only). */
export interface Jail {
  box: Sandbox;
  visible: string[];
}

/**
 * `setpriv` options that take every capability from the program it runs and from whatever that
 * starts: root's capabilities after an exec are its inheritable and bounding sets (and ambient),
 * so all three are emptied.
 */
const DROP_CAPABILITIES = [
  "--bounding-set",
  "-all",
  "--inh-caps",
  "-all",
  "--ambient-caps",
  "-all",
  "--",
];

let setprivWorks: boolean | undefined;

/** `command` under `setpriv` without capabilities, when the grader is root and setpriv works. */
function withoutCapabilities(command: { cmd: string; args: string[] }) {
  if (Deno.uid() !== 0) return command; // an ordinary user has none to lose
  if (setprivWorks === undefined) {
    try {
      const check = new Deno.Command("setpriv", {
        args: [...DROP_CAPABILITIES, "true"],
        stdout: "null",
        stderr: "null",
      });
      setprivWorks = check.outputSync().success;
    } catch {
      setprivWorks = false; // not installed
    }
  }
  if (!setprivWorks) return command;
  return { cmd: "setpriv", args: [...DROP_CAPABILITIES, command.cmd, ...command.args] };
}

/**
 * `command` under a shell that, in the sandbox's own pid namespace (where the shell is pid 2,
 * after the namespace's init), runs it and then waits until nothing but init and itself is left
 * before it exits with the command's status: the sandbox ends when the shell does. Elsewhere the
 * shell simply becomes the command.
 */
function keepingLeftovers(command: { cmd: string; args: string[] }) {
  const script = '[ $$ = 2 ] || exec "$@"; "$@"; s=$?; ' +
    "while set -- /proc/[0-9]*; [ $# -gt 2 ]; do sleep 0.05; done; exit $s";
  return { cmd: "/bin/sh", args: ["-c", script, "leftovers", command.cmd, ...command.args] };
}

/**
 * The command for a student entry: wrapped in the run's sandbox when there is one (which drops
 * every capability itself), else without capabilities when `dropCapabilities` asks for it.
 */
function studentCommand(
  opts: ContextOptions,
  command: { cmd: string; args: string[] },
  dropCapabilities = false,
) {
  if (opts.jail === undefined) return dropCapabilities ? withoutCapabilities(command) : command;
  const cwd = opts.submission.dir;
  return opts.jail.box.wrap(command.cmd, command.args, { cwd, visible: opts.jail.visible });
}

/**
 * The environment of a student process: in a sandbox, its allow-list alone (never the grader's
 * variables); else the grader's, plus NO_COLOR. Both with the manifest's and the probe's `env`.
 */
function studentEnvOf(opts: ContextOptions, env: Record<string, string> = {}) {
  const extra = { NO_COLOR: "1", ...opts.submission.manifest.env, ...env };
  if (opts.jail === undefined) return { env: extra, clearEnv: false };
  return { env: opts.jail.box.env(extra), clearEnv: true };
}

/** A context plus the harness's view of it: what was started, and how to clean it up. */
export interface HarnessContext {
  context: ProbeContext;
  /** Captured output of every server started, for the report. */
  serverOutput(): string;
  /** How the first server that exited by itself (before the clean-up) ended, or null. */
  serverEnded(): string | null;
  /** Stops everything the probe started; returns notes about stragglers that had to be killed. */
  cleanup(): Promise<string[]>;
}

/** Creates the context for one probe run. */
export function createContext(options: ContextOptions): HarnessContext {
  const children: ChildHandle[] = [];
  const servers: ChildHandle[] = [];
  /** Servers that exited before the clean-up stopped them: their status is worth showing. */
  const ended = new Set<ChildHandle>();
  let cleaning = false;
  const notes: string[] = [];
  const stop = async (c: ChildHandle, graceMs?: number) => {
    const report = await c.stop(graceMs);
    if (report.leftovers.length > 0) {
      notes.push(`killed processes left behind by pid ${c.pid}: ${report.leftovers.join(", ")}`);
    }
  };
  const random = seededRandom(options.probeSeed);
  const trace = options.trace ?? new TraceRecorder();
  options = { ...options, trace };
  const context: ProbeContext = {
    signal: options.signal,
    seed: options.seed,
    random,
    bytes: (n) => seededBytes(random, n),
    submission: options.submission,
    trace,
    dial: (port, o) => dial(port, o, trace),
    http: httpToolkit(trace),
    eventually: (condition, o) => eventually(condition, { signal: options.signal, ...o }),
    startServer: (o) =>
      startServer(options, o, {
        children,
        servers,
        stop,
        onExit: (c) => cleaning || ended.add(c),
      }),
    runProgram: (entry, args, o) => runProgram(options, { entry, args, o }, { children, stop }),
    freePort,
    fail: failVerdict,
    pass: (message = "ok") => ({ passed: true, message }),
  };
  return {
    context,
    serverOutput: () => servers.map((c) => outputWithStatus(c, ended)).join("\n---\n"),
    serverEnded: () => {
      const first = servers.find((c) => ended.has(c));
      return first === undefined ? null : first.exitStatus();
    },
    cleanup: async () => {
      cleaning = true;
      await Promise.all(children.map((c) => stop(c)));
      return notes;
    },
  };
}

/**
 * A server's output (its last 64 KiB) and, when it ended on its own before the probe's clean-up
 * (`ended`), how: its exit code or signal.
 */
function outputWithStatus(child: ChildHandle, ended: Set<ChildHandle>): string {
  const text = cappedText(child.combined).trimEnd();
  if (!ended.has(child)) return text;
  return `${text}${text === "" ? "" : "\n"}[the server exited by itself: ${child.exitStatus()}]`;
}

interface Tracking {
  children: ChildHandle[];
  servers: ChildHandle[];
  stop(c: ChildHandle, graceMs?: number): Promise<void>;
  /** Called when a server exits. */
  onExit?(c: ChildHandle): void;
}

async function startServer(
  opts: ContextOptions,
  o: ServerOptions = {},
  track: Tracking,
): Promise<ServerHandle> {
  // A probe still running after grading was stopped must not start anything new.
  opts.signal.throwIfAborted();
  const port = o.port ?? await freePort();
  const entry = o.entry ?? "server";
  const command = opts.submission.command(entry, { args: o.args, port });
  const { cmd, args } = studentCommand(
    opts,
    o.keepLeftovers && opts.jail !== undefined ? keepingLeftovers(command) : command,
    o.dropCapabilities,
  );
  const env = studentEnvOf(opts, o.env);
  const child = startChild(cmd, args, { cwd: opts.submission.dir, ...env });
  track.children.push(child);
  track.servers.push(child);
  child.status.then(() => track.onExit?.(child), () => {});
  const lane = traceChild(opts.trace!, entry, child);
  await waitReady(child, port, { ms: o.readyMs ?? opts.readyMs ?? READY_MS, signal: opts.signal });
  lane.ready();
  // In the sandbox the child is bubblewrap; the student's own process is further down.
  const pid = opts.jail?.box.mainPid(child.pid) ?? child.pid;
  return {
    pid,
    host: "127.0.0.1",
    port,
    output: () => cappedText(child.combined),
    exited: child.exited,
    status: child.status,
    stop: () => track.stop(child),
  };
}

/** Opens a lane for `child` in the probe's trace; its exit is recorded when it happens. */
function traceChild(trace: TraceRecorder, entry: string, child: ChildHandle): ProcessLane {
  const lane = trace.startProcess(`${entry} (pid ${child.pid})`);
  child.status.then(
    (s) => lane.exit(s.signal ? `signal ${s.signal}` : `exit code ${s.code}`),
    () => {},
  );
  return lane;
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Polls until 127.0.0.1:port accepts a connection; throws with the output if it cannot. */
async function waitReady(
  child: ChildHandle,
  port: number,
  o: { ms: number; signal: AbortSignal },
): Promise<void> {
  const end = Date.now() + o.ms;
  while (Date.now() < end && !o.signal.aborted) {
    if (child.exited()) {
      const s = await child.status;
      const how = s.signal ? `signal ${s.signal}` : `exit code ${s.code}`;
      throw new Error(
        `Server exited (${how}) before accepting connections on port ${port}.` +
          outputTail(child),
      );
    }
    if (await canConnect(port)) return;
    await delay(50);
  }
  throw new Error(
    `Server did not accept connections on 127.0.0.1:${port} within ${o.ms / 1000} s.` +
      outputTail(child),
  );
}

function outputTail(child: ChildHandle): string {
  const text = cappedText(child.combined).trimEnd();
  if (text === "") return " It printed nothing.";
  const lines = text.split("\n");
  const shown = lines.slice(-20).join("\n");
  return `\nIts output${lines.length > 20 ? " (last 20 lines)" : ""}:\n${shown}`;
}

async function runProgram(
  opts: ContextOptions,
  call: { entry: string; args: string[]; o?: ProgramOptions },
  track: Omit<Tracking, "servers">,
): Promise<ProgramResult> {
  opts.signal.throwIfAborted(); // as in startServer
  const { cmd, args } = studentCommand(
    opts,
    opts.submission.command(call.entry, { args: call.args, exactArgs: true }),
  );
  const env = studentEnvOf(opts, call.o?.env);
  const started = performance.now();
  const child = startChild(cmd, args, {
    cwd: opts.submission.dir,
    ...env,
    stdin: "piped",
    stdoutCap: PROGRAM_STDOUT_CAP,
  });
  track.children.push(child);
  traceChild(opts.trace!, call.entry, child);
  // Fed concurrently: a program that never reads its stdin must still meet its timeout.
  const fed = child.feed(call.o?.stdin ?? new Uint8Array());
  const aborted = new Promise<"timeout">((resolve) => {
    if (opts.signal.aborted) resolve("timeout");
    opts.signal.addEventListener("abort", () => resolve("timeout"), { once: true });
  });
  const outcome = await within(
    Promise.race([child.status, aborted]),
    call.o?.timeoutMs ?? 10_000,
    "timeout",
  );
  await track.stop(child, 200);
  await fed;
  const status = await child.status;
  return {
    code: outcome === "timeout" ? null : status.code,
    signal: outcome === "timeout" ? null : status.signal,
    stdout: cappedBytes(child.stdout),
    stderr: cappedText(child.stderr),
    timedOut: outcome === "timeout",
    ms: performance.now() - started,
  };
}
