/**
 * `deno task grade <kit> --watch`: grades once, then again each time a file of the submission is
 * saved: first the probes that failed last time (the ones the student is working on), then the
 * rest, so the answer that matters comes first. Ends with Ctrl-C.
 *
 * @module
 */

import { join } from "node:path";
import { loadManifest } from "./manifest.ts";
import type { RunOptions, RunResult } from "./runner.ts";

/** The probes to run after a save, in two rounds: those that failed last, then the others. */
export function watchRounds(last: RunResult | null, all: string[]): string[][] {
  if (last === null) return [all];
  const failed = last.probes.filter((p) => !p.passed).map((p) => p.name);
  const rest = all.filter((name) => !failed.includes(name));
  return [failed, rest].filter((round) => round.length > 0);
}

/** Resolves when one of `files` (absolute paths) changes, a quiet 200 ms after the last event. */
async function nextSave(dir: string, files: string[], signal: AbortSignal): Promise<void> {
  const watcher = Deno.watchFs(dir, { recursive: true });
  const stop = () => watcher.close();
  signal.addEventListener("abort", stop, { once: true });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      (async () => {
        for await (const event of watcher) {
          if (!event.paths.some((p) => files.includes(p))) continue;
          clearTimeout(timer);
          timer = setTimeout(resolve, 200);
        }
        resolve(); // closed
      })();
    });
  } finally {
    signal.removeEventListener("abort", stop);
    try {
      watcher.close();
    } catch {
      // closed already
    }
  }
}

/** What {@link watch} needs: how to grade, and how to show a run. */
export interface WatchOptions {
  kitDir: string;
  submissionDir: string;
  /** All the kit's probes, in order. */
  probes: string[];
  grade(options: Pick<RunOptions, "only">): Promise<RunResult>;
  show(run: RunResult, round: number, rounds: number): void;
  say(line: string): void;
  signal: AbortSignal;
}

/** Grades, then re-grades on every save until `signal` aborts. */
export async function watch(o: WatchOptions): Promise<void> {
  const manifest = await loadManifest(o.kitDir);
  const files = manifest.files.map((f) => join(o.submissionDir, f));
  let last: RunResult | null = null;
  while (!o.signal.aborted) {
    const rounds = watchRounds(last, o.probes);
    const results: RunResult[] = [];
    for (const [i, only] of rounds.entries()) {
      if (o.signal.aborted) return;
      const run = await o.grade({ only });
      o.show(run, i + 1, rounds.length);
      results.push(run);
    }
    last = merge(results);
    o.say(
      `watching ${manifest.files.join(", ")} in ${o.submissionDir}: save a file to grade again`,
    );
    await nextSave(o.submissionDir, files, o.signal);
  }
}

/** One run's probes from several rounds, for the next save's order. */
function merge(runs: RunResult[]): RunResult {
  return { ...runs[0], probes: runs.flatMap((r) => r.probes) };
}
