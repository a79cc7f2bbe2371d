import assert from "node:assert/strict";
import { GradescopeResultsSchema, toGradescope, writeResults } from "./gradescope.ts";
import type { RunResult } from "./result.ts";

const run: RunResult = {
  assignment: "01-echo",
  submission: "/tmp/s",
  seed: 7,
  startedAt: new Date(0).toISOString(),
  ms: 1500,
  score: 2,
  maxScore: 3,
  notes: ["echo-basic: killed processes left behind by pid 1: 2"],
  probes: [
    {
      name: "echo-basic",
      title: "echoes one line",
      points: 2,
      score: 2,
      passed: true,
      message: "ok",
      hint: "README.md §2",
      visibility: "visible",
      ms: 10,
    },
    {
      name: "echo-large",
      title: "echoes 1 MiB",
      points: 1,
      score: 0,
      passed: false,
      message: "short read",
      hint: "README.md §4",
      visibility: "after_due_date",
      ms: 20,
      serverOutput: "listening",
    },
  ],
};

Deno.test("toGradescope produces a valid results.json", () => {
  const r = toGradescope(run);
  assert.equal(r.score, 2);
  assert.equal(r.execution_time, 2);
  assert.equal(r.tests.length, 2);
  assert.deepEqual(r.tests.map((t) => t.status), ["passed", "failed"]);
  assert.equal(r.tests[1].visibility, "after_due_date");
  assert.match(r.tests[1].output, /short read\nhint: README\.md §4\nserver output:\nlistening/);
  assert.match(r.output, /note: echo-basic/);
  assert.ok(GradescopeResultsSchema.safeParse(r).success);
});

Deno.test("GradescopeResultsSchema rejects malformed results", () => {
  const r = toGradescope(run);
  assert.ok(!GradescopeResultsSchema.safeParse({ ...r, score: "2" }).success);
  const badTest = { ...r.tests[0], status: "ok" };
  assert.ok(!GradescopeResultsSchema.safeParse({ ...r, tests: [badTest] }).success);
  assert.ok(!GradescopeResultsSchema.safeParse({ ...r, visibility: "sometimes" }).success);
});

Deno.test("writeResults writes JSON that parses back", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await writeResults(path, run);
    const back = JSON.parse(await Deno.readTextFile(path));
    assert.ok(GradescopeResultsSchema.safeParse(back).success);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("toGradescope carries the leaderboard when the run measured one, and only then", () => {
  assert.equal(toGradescope(run).leaderboard, undefined);
  const board = [{ name: "throughput (req/s)", value: 1234, order: "desc" as const }];
  const r = toGradescope({ ...run, leaderboard: board });
  assert.deepEqual(r.leaderboard, board);
  GradescopeResultsSchema.parse(r);
});
