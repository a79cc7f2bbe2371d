/**
 * Where the reference solutions are not shipped (the student release, the Gradescope package),
 * 05-async's real-backend probes run against the grader's WeensyDB stand-in: the reference must
 * pass them that way too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runKit } from "../../harness/runner.ts";
import { REPO_ROOT } from "../../harness/submission.ts";
import { failures } from "../../testing/kit_testing.ts";

Deno.test("05-async: with the grader's WeensyDB stand-in (no solutions shipped), the reference passes the real-backend probes", async () => {
  Deno.env.set("COURSE_WEENSYDB", "standin");
  try {
    const only = ["endpoints", "curl", "many-clients"];
    const kitDir = join(REPO_ROOT, "autograder", "kits", "05-async");
    const submissionDir = join(REPO_ROOT, "solutions", "05-async");
    const result = await runKit({ kitDir, submissionDir, only });
    assert.equal(result.probes.length, only.length);
    assert.equal(result.score, result.maxScore, failures(result));
  } finally {
    Deno.env.delete("COURSE_WEENSYDB");
  }
});
