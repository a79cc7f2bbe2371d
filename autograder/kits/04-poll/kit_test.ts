/**
 * Proof that the 04-poll probes discriminate: the reference and another correct design score
 * full marks on both engines, the starter scores low, and every buggy variant fails the probe
 * that names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay } from "../../kit_testing.ts";
import { runKit } from "../../runner.ts";
import { ENGINES, probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/04-poll`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/**
 * Each buggy variant (variants/<name>/) and the probe that must catch it. The bugs are in code
 * both engines share, so each is graded on one engine, alternating, to keep the suite quick.
 */
const VARIANTS: Record<string, string> = {
  "unknown-command-closes": "poll-commands",
  "text-values": "epoll-binary-values",
  "fixed-input-buffer": "poll-large-value",
  "no-pollout": "epoll-slow-reader",
  "over-limit-unskipped": "epoll-over-limit",
  "no-line-limit": "poll-over-limit",
  "one-read-per-event": "poll-pipelined",
  "worker-per-connection": "epoll-one-thread",
  "drop-partial": "poll-split-bytes",
  "read-until-complete": "epoll-stalled-client",
  "crash-on-reset": "poll-disconnects",
  "eof-ignored": "epoll-disconnects",
  "unbounded-output": "poll-slow-reader",
  "eagain-write-spin": "poll-slow-reader",
  "drain-until-eagain": "poll-fairness",
  "spinning": "epoll-idle-cpu",
  "blocking-accept": "epoll-c10k",
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
  const dirs = [...Deno.readDirSync(`${kitDir}/variants`)].map((e) => e.name).sort();
  assert.deepEqual(dirs, Object.keys(VARIANTS).sort(), "variants/ and the table above differ");
  const targeted = new Set(Object.values(VARIANTS).map(baseName));
  const untargeted = [...new Set(probes.map((p) => baseName(p.name)))]
    .filter((n) => !targeted.has(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  for (const [variant, probe] of Object.entries(VARIANTS)) {
    await t.step(`${variant} fails ${probe}`, async () => {
      const result = await gradeOverlay(`${kitDir}/variants/${variant}`, [probe]);
      assert.equal(result.probes.length, 1);
      assert.equal(result.probes[0].passed, false, `${variant} passed ${probe}`);
    });
  }
});
