/**
 * Proof that the 04-poll probes discriminate: the reference and another correct design score
 * full marks on both engines, the starter scores low, and every buggy variant fails the probe
 * that names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, testVariants } from "../../testing/kit_testing.ts";
import { runKit } from "../../harness/runner.ts";
import { ENGINES, probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/04-poll`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/**
 * Each buggy variant (variants/<name>.patch) and the probe that must catch it. The bugs are in code
 * both engines share, so each is graded on one engine, alternating, to keep the suite quick.
 */
const VARIANTS: Record<string, string> = {
  "unknown-command-closes.patch": "poll-commands",
  "text-values.patch": "epoll-binary-values",
  "fixed-input-buffer.patch": "poll-large-value",
  "no-pollout.patch": "epoll-slow-reader",
  "over-limit-unskipped.patch": "epoll-over-limit",
  "no-line-limit.patch": "poll-over-limit",
  "one-read-per-event.patch": "poll-pipelined",
  "worker-per-connection.patch": "epoll-one-thread",
  "drop-partial.patch": "poll-split-bytes",
  "read-until-complete.patch": "epoll-stalled-client",
  "crash-on-reset.patch": "poll-disconnects",
  "eof-ignored.patch": "epoll-disconnects",
  "unbounded-output.patch": "poll-slow-reader",
  "eagain-write-spin.patch": "poll-slow-reader",
  "drain-until-eagain.patch": "poll-fairness",
  "spinning.patch": "epoll-idle-cpu",
  "blocking-accept.patch": "epoll-c10k",
};

/** A probe's name without its engine prefix. */
function baseName(name: string): string {
  return name.replace(new RegExp(`^(${ENGINES.join("|")})-`), "");
}

Deno.test("04-poll: the reference solution scores full marks on both engines", async () => {
  const result = await runKit({ kitDir, submissionDir: reference });
  assert.equal(result.probes.length, probes.length);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("04-poll: another correct design (edge-triggered epoll) scores full marks", async () => {
  const result = await gradeOverlay(`${kitDir}/alternatives/edge-triggered`);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("04-poll: the starter scores low and every probe says why", async () => {
  const result = await runKit({ kitDir, submissionDir: `${repo}assignments/04-poll` });
  assert.ok(result.score <= result.maxScore / 2, `starter scored ${result.score}`);
  for (const probe of result.probes.filter((p) => !p.passed)) {
    assert.ok(probe.message.length > 0, `${probe.name} failed without a message`);
  }
});

Deno.test("04-poll: every buggy variant fails the probe that targets it", async (t) => {
  const targeted = new Set(Object.values(VARIANTS).map(baseName));
  const untargeted = [...new Set(probes.map((p) => baseName(p.name)))]
    .filter((n) => !targeted.has(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  await testVariants(t, { kitDir, reference }, VARIANTS);
});
