/**
 * Proof that the 02-forking probes discriminate: the reference and another correct design
 * score full marks, the starter scores low, and every buggy variant fails the probe that
 * names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay, testVariants } from "../../testing/kit_testing.ts";
import { runKit } from "../../harness/runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/02-forking`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/** Each buggy variant (variants/<name>.patch) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "body-as-text.patch": "serves-files",
  "rejects-headers.patch": "curl-client",
  "no-405.patch": "status-codes",
  "unreadable-is-404.patch": "status-codes",
  "unreadable-crashes.patch": "status-codes",
  "traversal-before-decode.patch": "path-traversal",
  "traversal-symlink.patch": "path-traversal",
  "traversal-realpath-only.patch": "path-traversal",
  "traversal-prefix.patch": "path-traversal",
  "serves-in-parent.patch": "child-serves",
  "listener-inherited.patch": "child-no-listener",
  "waits-for-child.patch": "concurrent",
  "crash-on-child-failure.patch": "isolation",
  "blocking-accept.patch": "no-zombies",
  "parent-keeps-copy.patch": "closes-copy",
  "ignores-max-children.patch": "max-children",
  "no-sigterm-handler.patch": "sigterm",
  "prefork-orphans-workers.patch": "sigterm",
  "prefork-forks-anyway.patch": "prefork-reuses",
  "prefork-no-replace.patch": "prefork-replaces",
  "prefork-never-retires.patch": "prefork-replaces",
};

Deno.test("02-forking: the reference solution scores full marks", async () => {
  const result = await runKit({ kitDir, submissionDir: reference });
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("02-forking: another correct design scores full marks", async () => {
  const result = await gradeOverlay(`${kitDir}/alternatives/self-exec`);
  assert.equal(result.score, result.maxScore, failures(result));
});

Deno.test("02-forking: the starter scores low and every probe says why", async () => {
  const result = await runKit({ kitDir, submissionDir: `${repo}assignments/02-forking` });
  assert.ok(result.score <= result.maxScore / 4, `starter scored ${result.score}`);
  for (const probe of result.probes.filter((p) => !p.passed)) {
    assert.ok(probe.message.length > 0, `${probe.name} failed without a message`);
  }
});

Deno.test("02-forking: every buggy variant fails the probe that targets it", async (t) => {
  const untargeted = probes.map((p) => p.name).filter((n) => !Object.values(VARIANTS).includes(n));
  assert.deepEqual(untargeted, [], "every probe needs a buggy variant that it catches");
  await testVariants(t, { kitDir, reference }, VARIANTS);
});
