/**
 * Proof that the 05-async probes discriminate: the reference and another correct design score
 * full marks (against the 03-weensydb reference and against the grader's stand-in), the starter
 * scores low, and every buggy variant fails the probe that names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, testVariants } from "../../testing/kit_testing.ts";
import { runKit } from "../../harness/runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/05-async`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/** Each buggy variant (variants/<name>.patch) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "missing-is-200.patch": "endpoints",
  "rounds-required.patch": "endpoints",
  "wrong-method-404.patch": "endpoints",
  "text-body.patch": "curl",
  "await-in-loop.patch": "overlap",
  "no-timeout.patch": "timeout",
  "keep-after-timeout.patch": "timeout",
  "no-reconnect.patch": "backend-down",
  "unbounded-pool.patch": "pool-bound",
  "connection-per-request.patch": "pool-bound",
  "hash-on-main-thread.patch": "event-loop",
  "no-queue.patch": "many-clients",
  "missing-catch.patch": "no-crash",
  "stream-without-catch.patch": "no-crash",
  "abrupt-shutdown.patch": "graceful-shutdown",
  "sleep-on-sigterm.patch": "graceful-shutdown",
};

Deno.test("05-async: the reference solution scores full marks", async () => {
  const result = await runKit({ kitDir, submissionDir: reference });
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("05-async: with the grader's WeensyDB stand-in (no solutions shipped), the reference passes the real-backend probes", async () => {
  Deno.env.set("COURSE_WEENSYDB", "standin");
  try {
    const only = ["endpoints", "curl", "many-clients"];
    const result = await runKit({ kitDir, submissionDir: reference, only });
    assert.equal(result.probes.length, only.length);
    assert.equal(result.score, result.maxScore, failures(result));
  } finally {
    Deno.env.delete("COURSE_WEENSYDB");
  }
});

Deno.test("05-async: another correct design (a queue, one request per connection, values sent chunked) scores full marks", async () => {
  const result = await gradeOverlay(`${kitDir}/alternatives/queuing-pool`);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("05-async: the starter scores low and every probe says why", async () => {
  const result = await runKit({ kitDir, submissionDir: `${repo}assignments/05-async` });
  assert.ok(result.score <= result.maxScore / 2, `starter scored ${result.score}`);
  for (const probe of result.probes.filter((p) => !p.passed)) {
    assert.ok(probe.message.length > 0, `${probe.name} failed without a message`);
  }
});

Deno.test("05-async: every buggy variant fails the probe that targets it", async (t) => {
  const untargeted = probes.map((p) => p.name).filter((n) => !Object.values(VARIANTS).includes(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  await testVariants(t, { kitDir, reference }, VARIANTS);
});
