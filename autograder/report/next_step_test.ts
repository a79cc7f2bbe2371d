import assert from "node:assert/strict";
import { findTodo, formatNextStep, nextStep } from "./next_step.ts";
import type { ProbeResult, RunResult } from "./result.ts";
import { foldOutput, formatReport, OUTPUT_TAIL_LINES } from "./terminal.ts";

const probe = (name: string, passed: boolean, message: string, extra = {}): ProbeResult => ({
  name,
  title: name,
  points: 1,
  score: passed ? 1 : 0,
  passed,
  message,
  hint: "README.md §4 Short counts",
  visibility: "visible",
  ms: 5,
  ...extra,
});

const run = (probes: ProbeResult[]): RunResult => ({
  assignment: "01-echo",
  submission: "/s",
  seed: 1,
  startedAt: "",
  ms: 10,
  score: 0,
  maxScore: probes.length,
  probes,
  notes: [],
});

const starter = {
  "server.ts": [
    "function openListener(port: number): number {",
    "  return todo(`openListener(${port}): README.md §3 The socket calls`);",
    "}",
  ].join("\n"),
};

Deno.test("next step of a starter: the todo() to write, file:line, and its section", () => {
  const failed = probe("server-all-bytes", false, "Server exited (exit code 3) before accepting", {
    serverOutput: "not written yet: openListener(4000): README.md §3 The socket calls",
  });
  const step = nextStep(run([probe("a", true, "ok"), failed]), starter);
  assert.deepEqual(step?.todo, { file: "server.ts", line: 2 });
  assert.equal(step?.read, "README.md §3 The socket calls");
  assert.match(formatNextStep(step), /^ {2}next: write the todo\(\) at server\.ts:2: openListener/);
});

Deno.test("next step of a failure in written code: the probe, its first line and hint", () => {
  const step = nextStep(run([probe("big", false, "8 MiB sent, 4 MiB back\nsent: ...")]), {});
  assert.equal(formatNextStep(step).split("\n")[0], "  next: fix big: 8 MiB sent, 4 MiB back");
  assert.equal(
    formatNextStep(nextStep(run([probe("a", true, "ok")]), {})).trim(),
    "next: nothing: every probe passed",
  );
  assert.equal(findTodo("nothing like it", starter), undefined);
});

Deno.test("the report puts the next step before any server output, and folds the output", () => {
  const output = Array.from({ length: 40 }, (_, i) => `line ${i}`).join("\n");
  const text = formatReport(run([probe("p", false, "bad", { serverOutput: output })]), {});
  assert.ok(text.indexOf("next: fix p") < text.indexOf("line 39"));
  assert.ok(!text.includes("line 0\n"), "early lines folded");
  assert.match(foldOutput(output), new RegExp(`^… ${40 - OUTPUT_TAIL_LINES} earlier lines folded`));
});
