/**
 * Proof that the 01-echo probes discriminate: the reference and another
 * correct design score full marks, the starter scores low, and every buggy
 * variant fails the probe that names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, testVariants } from "../../testing/kit_testing.ts";
import { runKit } from "../../harness/runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/01-echo`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/** Each buggy variant (variants/<name>.patch) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "server-text-decoding.patch": "server-all-bytes",
  "server-unlooped-write.patch": "server-large-payload",
  "server-stop-at-short-read.patch": "server-large-payload",
  "server-waits-to-fill.patch": "server-interactive",
  "server-no-close.patch": "server-half-close",
  "server-shutdown-not-close.patch": "server-fd-leak",
  "server-dies-on-reset.patch": "server-survives-reset",
  "server-stack-trace.patch": "server-bad-args",
  "client-text-decoding.patch": "client-binary",
  "client-unlooped-write.patch": "client-binary",
  "client-no-half-close.patch": "client-binary",
  "client-full-close.patch": "client-socat",
  "client-stack-trace.patch": "client-refused",
};

Deno.test("01-echo: the reference solution scores full marks", async () => {
  const result = await runKit({ kitDir, submissionDir: reference });
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("01-echo: another correct design scores full marks", async () => {
  const result = await gradeOverlay(`${kitDir}/alternatives/dual-stack-epoll`);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("01-echo: the starter scores low and every probe says why", async () => {
  const result = await runKit({ kitDir, submissionDir: `${repo}assignments/01-echo` });
  assert.ok(result.score <= result.maxScore / 4, `starter scored ${result.score}`);
  for (const probe of result.probes.filter((p) => !p.passed)) {
    assert.ok(probe.message.length > 0, `${probe.name} failed without a message`);
  }
  // A client that produced no output says why: its exit status and its stderr.
  const client = result.probes.find((p) => p.name === "client-binary")!;
  assert.match(client.message, /exited with status \d+[\s\S]*not written yet: openConnection/);
});

Deno.test("01-echo: every buggy variant fails the probe that targets it", async (t) => {
  const untargeted = probes.map((p) => p.name).filter((n) => !Object.values(VARIANTS).includes(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  await testVariants(t, { kitDir, reference }, VARIANTS);
});
