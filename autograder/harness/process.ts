/**
 * Child processes the grader starts: each in its own process group, its output drained into a
 * capped buffer, and stopped as a group (SIGTERM, a grace period, then SIGKILL), after which
 * `/proc` is checked for anything left behind.
 *
 * @module
 */

import { processGroup, processTree, readStat } from "../observe/proc.ts";

/** Bytes of output kept per buffer; the rest is counted in `dropped`. */
export const OUTPUT_CAP = 64 * 1024;

/**
 * A byte buffer that keeps `cap` bytes and counts the rest: the first ones ("head": a program's
 * stdout, compared byte for byte) or the last ones ("tail": a server's messages, where the
 * error that ended it comes last).
 */
export interface CappedBuffer {
  /** The kept bytes, in order. */
  chunks: Uint8Array[];
  /** How many bytes are kept. */
  kept: number;
  /** How many were not kept. */
  dropped: number;
  /** The most kept. */
  cap: number;
  /** Which bytes are kept: the first or the last. */
  keep: "head" | "tail";
}

/** Creates an empty capped buffer. */
export function cappedBuffer(cap = OUTPUT_CAP, keep: "head" | "tail" = "head"): CappedBuffer {
  return { chunks: [], kept: 0, dropped: 0, cap, keep };
}

/** Appends `chunk`, keeping at most `buf.cap` bytes in total (the first, or the last). */
export function appendCapped(buf: CappedBuffer, chunk: Uint8Array): void {
  if (buf.keep === "tail") {
    buf.chunks.push(chunk.slice());
    buf.kept += chunk.length;
    while (buf.kept > buf.cap) {
      const first = buf.chunks[0];
      const over = buf.kept - buf.cap;
      if (first.length <= over) buf.chunks.shift();
      else buf.chunks[0] = first.subarray(over);
      const cut = Math.min(first.length, over);
      buf.kept -= cut;
      buf.dropped += cut;
    }
    return;
  }
  const room = Math.max(0, buf.cap - buf.kept);
  const take = Math.min(room, chunk.length);
  if (take > 0) buf.chunks.push(chunk.slice(0, take));
  buf.kept += take;
  buf.dropped += chunk.length - take;
}

/** Returns the kept bytes of `buf` as one array. */
export function cappedBytes(buf: CappedBuffer): Uint8Array {
  const out = new Uint8Array(buf.kept);
  let at = 0;
  for (const c of buf.chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Returns the kept bytes as text, with a note of how many bytes were dropped. */
export function cappedText(buf: CappedBuffer): string {
  const text = new TextDecoder().decode(cappedBytes(buf));
  if (buf.dropped === 0) return text;
  return buf.keep === "tail"
    ? `… (${buf.dropped} earlier bytes of output dropped)\n${text}`
    : `${text}\n… (${buf.dropped} more bytes of output dropped)`;
}

/** What `stop()` found: whether SIGKILL was needed and which stragglers had to be killed. */
export interface StopReport {
  /** SIGTERM was not enough. */
  killed: boolean;
  /** Pids of processes it left behind, which were killed. */
  leftovers: number[];
}

/** A running child process in its own process group (pgid = pid). */
export interface ChildHandle {
  /** Its pid, also its process group. */
  pid: number;
  /** What it wrote to stdout (the first bytes kept). */
  stdout: CappedBuffer;
  /** What it wrote to stderr (the last bytes kept). */
  stderr: CappedBuffer;
  /** stdout and stderr interleaved as they arrived (the last bytes kept). */
  combined: CappedBuffer;
  /** True once it has exited. */
  exited(): boolean;
  /** How it ended ("exit code 1", "signal SIGKILL"), once it has; else "running". */
  exitStatus(): string;
  /** Settles when it exits. */
  status: Promise<Deno.CommandStatus>;
  /** Writes `data` to stdin and closes it (only when started with `stdin: "piped"`). */
  feed(data: Uint8Array): Promise<void>;
  /** SIGTERM to its process group, SIGKILL after `graceMs`, then whatever it left behind. */
  stop(graceMs?: number): Promise<StopReport>;
}

/** Options for {@link startChild}. */
export interface StartOptions {
  /** Its working directory. */
  cwd?: string;
  /** Its environment, over the grader's. */
  env?: Record<string, string>;
  /** Starts from an empty environment: `env` is all the child gets. */
  clearEnv?: boolean;
  /** "piped" to {@link ChildHandle.feed} it; "null" by default. */
  stdin?: "null" | "piped";
  /** Bytes kept of stderr and of the interleaved output; defaults to {@link OUTPUT_CAP}. */
  cap?: number;
  /** Bytes kept of stdout; defaults to `cap`. */
  stdoutCap?: number;
}

/** Every child started and not yet stopped, so an interrupted grader can stop them all. */
const live = new Set<ChildHandle>();

/** Stops every child still running (used when the grader itself is interrupted). */
export async function stopAll(graceMs = 200): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `p`'s value, or with `fallback` after `ms`; the timer never outlives it. */
export async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True while `pid` exists and has not exited (zombies count as exited). */
export function isAlive(pid: number): boolean {
  const s = readStat(pid);
  return s !== null && s.state !== "Z" && s.state !== "X";
}

function signalGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch {
    // the group is already empty
  }
}

async function drain(
  stream: ReadableStream<Uint8Array>,
  bufs: CappedBuffer[],
  readers: ReadableStreamDefaultReader<Uint8Array>[],
): Promise<void> {
  const reader = stream.getReader();
  readers.push(reader);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const b of bufs) appendCapped(b, value);
    }
  } catch {
    // cancelled by stop(): a straggler held the pipe open
  } finally {
    reader.releaseLock();
  }
}

/** Waits until no live process is in group `pgid`, for at most `ms`. */
function groupGone(pgid: number, ms: number): Promise<boolean> {
  return allGone(() => processGroup(pgid), ms);
}

/** Waits until none of `pids()` is alive, at most `ms`; true when none is. */
async function allGone(pids: () => number[], ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pids().some(isAlive)) return true;
    await delay(20);
  }
  return !pids().some(isAlive);
}

/**
 * Starts `cmd args` detached, so it leads its own process group, and drains its stdout and
 * stderr continuously into capped buffers so a child that floods its output never blocks.
 */
export function startChild(cmd: string, args: string[], options: StartOptions = {}): ChildHandle {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv ?? false,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const cap = options.cap ?? OUTPUT_CAP;
  const stdout = cappedBuffer(options.stdoutCap ?? cap);
  // Messages keep their end: the error that stopped a program comes last.
  const stderr = cappedBuffer(cap, "tail"), combined = cappedBuffer(cap, "tail");
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  const drained = Promise.all([
    drain(child.stdout, [stdout, combined], readers),
    drain(child.stderr, [stderr, combined], readers),
  ]);
  let exited = false;
  let how = "running";
  const status = child.status.then((s) => {
    exited = true;
    how = s.signal ? `signal ${s.signal}` : `exit code ${s.code}`;
    return s;
  });
  const handle: ChildHandle = {
    pid: child.pid,
    stdout,
    stderr,
    combined,
    exited: () => exited,
    exitStatus: () => how,
    status,
    feed: (data) => feedStdin(child, data),
    stop: async (graceMs = 1000) => {
      const report = await stopChild(handle, { drained, readers, graceMs });
      live.delete(handle);
      return report;
    },
  };
  live.add(handle);
  return handle;
}

async function feedStdin(child: Deno.ChildProcess, data: Uint8Array): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    await writer.write(data);
    await writer.close();
  } catch {
    // the child closed stdin early; what it read is what it got
  }
}

interface StopState {
  drained: Promise<unknown>;
  readers: ReadableStreamDefaultReader<Uint8Array>[];
  graceMs: number;
}

async function stopChild(h: ChildHandle, st: StopState): Promise<StopReport> {
  const seen = processTree(h.pid).filter((p) => p !== h.pid);
  signalGroup(h.pid, "SIGTERM");
  let killed = false;
  if (!(await groupGone(h.pid, st.graceMs))) {
    killed = true;
    signalGroup(h.pid, "SIGKILL");
    await groupGone(h.pid, 1000);
  }
  await h.status;
  const leftovers = [...new Set([...processGroup(h.pid), ...seen])].filter(isAlive);
  for (const pid of leftovers) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // went away on its own
    }
  }
  // Dead before we return: a sweep of the user's processes right after must not count them.
  await allGone(() => leftovers, 1000);
  if ((await within(st.drained, 1000, "late")) === "late") {
    await Promise.all(st.readers.map((r) => r.cancel().catch(() => {})));
    await st.drained;
  }
  return { killed, leftovers };
}
