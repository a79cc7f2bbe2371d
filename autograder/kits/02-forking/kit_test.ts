/**
 * Proof that the 02-forking probes discriminate: the reference and another correct design
 * score full marks, the starter scores low, and every buggy variant fails the probe that
 * names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay } from "../../kit_testing.ts";
import { runKit } from "../../runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/02-forking`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/** Each buggy variant (variants/<name>/) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "body-as-text": "serves-files",
  "rejects-headers": "curl-client",
  "no-405": "status-codes",
  "unreadable-is-404": "status-codes",
  "unreadable-crashes": "status-codes",
  "traversal-before-decode": "path-traversal",
  "traversal-symlink": "path-traversal",
  "traversal-realpath-only": "path-traversal",
  "traversal-prefix": "path-traversal",
  "serves-in-parent": "child-serves",
  "listener-inherited": "child-no-listener",
  "waits-for-child": "concurrent",
  "crash-on-child-failure": "isolation",
  "blocking-accept": "no-zombies",
  "parent-keeps-copy": "closes-copy",
  "ignores-max-children": "max-children",
  "no-sigterm-handler": "sigterm",
  "prefork-orphans-workers": "sigterm",
  "prefork-forks-anyway": "prefork-reuses",
  "prefork-no-replace": "prefork-replaces",
  "prefork-never-retires": "prefork-replaces",
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
