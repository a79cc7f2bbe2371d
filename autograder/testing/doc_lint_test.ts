/**
 * The two public faces of the project keep their documentation whole: `autograder/kit.ts` (what
 * a kit may use) and `shared/mod.ts` (the students' library). `deno doc --lint` checks that
 * every exported symbol has JSDoc and that no public type refers to one that is not exported.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../harness/submission.ts";

Deno.test("deno doc --lint passes for autograder/kit.ts and shared/mod.ts", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", join(REPO_ROOT, "autograder/kit.ts"), join(REPO_ROOT, "shared/mod.ts")],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
});
