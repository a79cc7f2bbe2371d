/**
 * Proof that the 03-weensydb probes discriminate: the reference and another correct design
 * score full marks, the starter scores low, and every buggy variant fails the probe that names
 * its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, gradeWith, testVariants } from "../../testing/kit_testing.ts";
import { runKit } from "../../harness/runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/03-weensydb`;
const kit = { kitDir, reference };
const gradeOverlay = (dir: string, only?: string[]) => overlay(kit, dir, { only });
const gradeFiles = (files: Record<string, string>, only?: string[]) =>
  gradeWith(kit, files, { only });

/** Each buggy variant (variants/<name>.patch) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "unknown-command-closes.patch": "commands",
  "text-values.patch": "binary-values",
  "crlf-framing.patch": "binary-values",
  "unlooped-body-read.patch": "large-value",
  "over-limit-no-discard.patch": "over-limit",
  "no-line-limit.patch": "over-limit",
  "reader-per-command.patch": "pipelined",
  "leaked-worker.patch": "thread-per-connection",
  "lock-while-reading.patch": "slow-client",
  "serial-accept.patch": "slow-client",
  "lock-while-writing.patch": "lock-while-writing",
  "exch-unlocked.patch": "exch-storm",
  "no-locks.patch": "torn-values",
  "get-unlocked.patch": "torn-values",
  "thread-local-cache.patch": "linearizable",
  "self-deadlock.patch": "deadlock",
  "unordered-exch.patch": "lock-order",
  "key-ordered-exch.patch": "lock-order",
  "no-thread-cap.patch": "many-connections",
};

/** The handout's complete steps (assignments/03-weensydb/steps/): what each passes and fails. */
const STEPS = [
  { file: "1_one_thread.ts", as: "server.ts", passes: "commands", fails: "slow-client" },
  { file: "2_no_locks.ts", as: "worker.ts", passes: "commands", fails: "torn-values" },
];

Deno.test("03-weensydb: the reference solution scores full marks", async () => {
  const result = await runKit({ kitDir, submissionDir: reference });
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("03-weensydb: another correct design (one global lock) scores full marks", async () => {
  const result = await gradeOverlay(`${kitDir}/alternatives/global-lock`);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("03-weensydb: the starter scores low and every probe says why", async () => {
  const result = await runKit({ kitDir, submissionDir: `${repo}assignments/03-weensydb` });
  assert.ok(result.score <= result.maxScore / 2, `starter scored ${result.score}`);
  // Its table code is all todo(): a probe it passes gives points for nothing (a server that
  // answers no command once passed "linearizable" with an empty history).
  const passed = result.probes.filter((p) => p.passed).map((p) => p.name);
  assert.deepEqual(passed, [], "the starter passed probes");
  for (const probe of result.probes.filter((p) => !p.passed)) {
    assert.ok(probe.message.length > 0, `${probe.name} failed without a message`);
  }
});

Deno.test("03-weensydb: every buggy variant fails the probe that targets it", async (t) => {
  const untargeted = probes.map((p) => p.name).filter((n) => !Object.values(VARIANTS).includes(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  await testVariants(t, kit, VARIANTS);
});

Deno.test("03-weensydb: the handout's steps work and fail as it says", async (t) => {
  for (const step of STEPS) {
    await t.step(`${step.file} passes ${step.passes}, fails ${step.fails}`, async () => {
      const source = `${repo}assignments/03-weensydb/steps/${step.file}`;
      const result = await gradeFiles({ [step.as]: source }, [step.passes, step.fails]);
      const verdicts = Object.fromEntries(result.probes.map((p) => [p.name, p.passed]));
      assert.deepEqual(verdicts, { [step.passes]: true, [step.fails]: false }, failures(result));
    });
  }
});
