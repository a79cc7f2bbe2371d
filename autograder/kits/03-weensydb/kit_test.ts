/**
 * Proof that the 03-weensydb probes discriminate: the reference and another correct design
 * score full marks, the starter scores low, and every buggy variant fails the probe that names
 * its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, gradeWith } from "../../kit_testing.ts";
import { runKit } from "../../runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/03-weensydb`;
const kit = { kitDir, reference };
const gradeOverlay = (dir: string, only?: string[]) => overlay(kit, dir, { only });
const gradeFiles = (files: Record<string, string>, only?: string[]) =>
  gradeWith(kit, files, { only });

/** Each buggy variant (variants/<name>/) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "unknown-command-closes": "commands",
  "text-values": "binary-values",
  "crlf-framing": "binary-values",
  "unlooped-body-read": "large-value",
  "over-limit-no-discard": "over-limit",
  "no-line-limit": "over-limit",
  "reader-per-command": "pipelined",
  "leaked-worker": "thread-per-connection",
  "lock-while-reading": "slow-client",
  "serial-accept": "slow-client",
  "lock-while-writing": "lock-while-writing",
  "exch-unlocked": "exch-storm",
  "no-locks": "torn-values",
  "get-unlocked": "torn-values",
  "thread-local-cache": "linearizable",
  "self-deadlock": "deadlock",
  "unordered-exch": "lock-order",
  "key-ordered-exch": "lock-order",
  "no-thread-cap": "many-connections",
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
  const dirs = [...Deno.readDirSync(`${kitDir}/variants`)].map((e) => e.name).sort();
  assert.deepEqual(dirs, Object.keys(VARIANTS).sort(), "variants/ and the table above differ");
  const untargeted = probes.map((p) => p.name).filter((n) => !Object.values(VARIANTS).includes(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  for (const [variant, probe] of Object.entries(VARIANTS)) {
    await t.step(`${variant} fails ${probe}`, async () => {
      const result = await gradeOverlay(`${kitDir}/variants/${variant}`, [probe]);
      assert.equal(result.probes.length, 1);
      assert.equal(result.probes[0].passed, false, `${variant} passed ${probe}`);
    });
  }
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
