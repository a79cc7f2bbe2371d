/**
 * The run record: everything one grading run knows, as plain data. The harness produces it
 * (`runKit`); every output is a pure function of it: the terminal report (`terminal.ts`),
 * Gradescope's results.json (`gradescope.ts`), JUnit and Autolab (`formats.ts`), the HTML page
 * (`html.ts`) and the batch CSV (`staff/grade_all.ts`, from the records it reads back).
 * `deno task grade ... --json FILE` writes it; {@link readRunRecord} reads it back, validated.
 *
 * @module
 */

import { z } from "zod";
import type { LeaderboardEntry, Visibility } from "../harness/probe.ts";
import type { ProbeTrace } from "../observe/trace.ts";

/** The result of one probe, as plain data. */
export interface ProbeResult {
  /** The probe's kebab-case id. */
  name: string;
  /** One line for humans. */
  title: string;
  /** Points for passing. */
  points: number;
  /** Points scored: all or nothing. */
  score: number;
  /** The verdict. */
  passed: boolean;
  /** For a failure: what was sent, expected and got; for a pass, a short note. */
  message: string;
  /** Where in the handout to look. */
  hint: string;
  /** Who sees it, and when (Gradescope's visibility). */
  visibility: Visibility;
  /** How long the probe ran. */
  ms: number;
  /** The submission's servers' output, for a failure (when the message does not hold it). */
  serverOutput?: string;
  /** What the grader's connections and the student's processes did, for the HTML report. */
  trace?: ProbeTrace;
}

/** The result of a whole run, as plain data. */
export interface RunResult {
  /** The kit graded, "01-echo". */
  assignment: string;
  /** The submission's directory. */
  submission: string;
  /** The seed: `--seed` replays the run's payloads and injected short counts. */
  seed: number;
  /** When the run started (ISO 8601). */
  startedAt: string;
  /** How long it took. */
  ms: number;
  /** Points scored, and the most there were. */
  score: number;
  maxScore: number;
  /** Every probe that ran (or was cut short), in order. */
  probes: ProbeResult[];
  /** What the harness noticed: the sandbox's limits and missing layers, processes it killed. */
  notes: string[];
  /** Performance figures for the leaderboard, when the kit has one and every probe passed. */
  leaderboard?: LeaderboardEntry[];
}

const LaneSchema = z.object({
  id: z.number(),
  label: z.string(),
  events: z.array(z.object({
    kind: z.enum([
      "connect",
      "send",
      "receive",
      "half-close",
      "eof",
      "timeout",
      "close",
      "error",
      "start",
      "ready",
      "exit",
    ]),
    at: z.number(),
    until: z.number().optional(),
    bytes: z.number().optional(),
    count: z.number().optional(),
    detail: z.string().optional(),
  })),
  dropped: z.number(),
  gapAfter: z.number().optional(),
});

/** A run record as JSON: what {@link readRunRecord} accepts. */
export const RunRecordSchema = z.object({
  assignment: z.string(),
  submission: z.string(),
  seed: z.number(),
  startedAt: z.string(),
  ms: z.number(),
  score: z.number(),
  maxScore: z.number(),
  notes: z.array(z.string()),
  leaderboard: z.array(z.object({
    name: z.string(),
    value: z.number(),
    order: z.enum(["asc", "desc"]),
  })).optional(),
  probes: z.array(z.object({
    name: z.string(),
    title: z.string(),
    points: z.number(),
    score: z.number(),
    passed: z.boolean(),
    message: z.string(),
    hint: z.string(),
    visibility: z.enum(["visible", "hidden", "after_due_date", "after_published"]),
    ms: z.number(),
    serverOutput: z.string().optional(),
    trace: z.object({
      connections: z.array(LaneSchema),
      processes: z.array(LaneSchema),
      droppedConnections: z.number(),
      ms: z.number(),
    }).optional(),
  })),
});

/** Writes `run` as JSON to `path`, replacing what is there in one step (a rename). */
export async function writeRunRecord(path: string, run: RunResult): Promise<void> {
  const temp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(run) + "\n");
  await Deno.rename(temp, path);
}

/** Reads a run record written by {@link writeRunRecord}; null when missing or not one. */
export async function readRunRecord(path: string): Promise<RunResult | null> {
  try {
    return RunRecordSchema.parse(JSON.parse(await Deno.readTextFile(path)));
  } catch {
    return null;
  }
}
