/**
 * Gradescope's `results.json`: the schema of the format and a writer from a run's result.
 *
 * @module
 */

import { z } from "zod";
import type { ProbeResult, RunResult } from "./result.ts";

const VisibilitySchema = z.enum(["visible", "hidden", "after_due_date", "after_published"]);

/** One test in Gradescope's results.json. */
export const GradescopeTestSchema = z.object({
  name: z.string(),
  number: z.string().optional(),
  score: z.number(),
  max_score: z.number(),
  status: z.enum(["passed", "failed"]),
  output: z.string(),
  visibility: VisibilitySchema,
  tags: z.array(z.string()).optional(),
});

/** Gradescope's results.json, as documented for autograders. */
export const GradescopeResultsSchema = z.object({
  score: z.number(),
  execution_time: z.number().int().nonnegative(),
  output: z.string(),
  output_format: z.enum(["text", "html", "simple_format", "md", "ansi"]).optional(),
  visibility: VisibilitySchema.optional(),
  stdout_visibility: VisibilitySchema.optional(),
  tests: z.array(GradescopeTestSchema),
  leaderboard: z.array(z.object({
    name: z.string(),
    value: z.union([z.number(), z.string()]),
    order: z.enum(["asc", "desc"]).optional(),
  })).optional(),
});

/** A validated results.json record. */
export type GradescopeResults = z.infer<typeof GradescopeResultsSchema>;

function testOutput(p: ProbeResult): string {
  const parts = [p.title, p.passed ? p.message : `${p.message}\nhint: ${p.hint}`];
  if (!p.passed && p.serverOutput) parts.push(`server output:\n${p.serverOutput}`);
  return parts.join("\n");
}

/** Converts a run's result into Gradescope's format (validated). */
export function toGradescope(run: RunResult): GradescopeResults {
  const notes = run.notes.map((n) => `note: ${n}`);
  return GradescopeResultsSchema.parse({
    score: run.score,
    execution_time: Math.round(run.ms / 1000),
    output: [`${run.assignment}: ${run.score}/${run.maxScore} (seed ${run.seed})`, ...notes]
      .join("\n"),
    output_format: "text",
    stdout_visibility: "hidden",
    tests: run.probes.map((p, i) => ({
      name: p.name,
      number: String(i + 1),
      score: p.score,
      max_score: p.points,
      status: p.passed ? "passed" : "failed",
      output: testOutput(p),
      visibility: p.visibility,
    })),
    ...(run.leaderboard ? { leaderboard: run.leaderboard } : {}),
  });
}

/** Writes Gradescope's results.json for `run` to `path`. */
export async function writeResults(path: string, run: RunResult): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(toGradescope(run), null, 2) + "\n");
}
