/**
 * Proof that the 01-echo probes discriminate: the reference and another
 * correct design score full marks, the starter scores low, and every buggy
 * variant fails the probe that names its bug.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { failures, gradeOverlay as overlay } from "../../kit_testing.ts";
import { runKit } from "../../runner.ts";
import { probes } from "./probes.ts";

const kitDir = fromFileUrl(new URL(".", import.meta.url));
const repo = fromFileUrl(new URL("../../../", import.meta.url));
const reference = `${repo}solutions/01-echo`;
const gradeOverlay = (dir: string, only?: string[]) =>
  overlay({ kitDir, reference }, dir, { only });

/** Each buggy variant (variants/<name>/) and the probe that must catch it. */
const VARIANTS: Record<string, string> = {
  "server-text-decoding": "server-all-bytes",
  "server-unlooped-write": "server-large-payload",
  "server-stop-at-short-read": "server-large-payload",
  "server-waits-to-fill": "server-interactive",
  "server-no-close": "server-half-close",
  "server-shutdown-not-close": "server-fd-leak",
  "server-dies-on-reset": "server-survives-reset",
  "server-stack-trace": "server-bad-args",
  "client-text-decoding": "client-binary",
  "client-unlooped-write": "client-binary",
  "client-no-half-close": "client-binary",
  "client-full-close": "client-socat",
  "client-stack-trace": "client-refused",
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
