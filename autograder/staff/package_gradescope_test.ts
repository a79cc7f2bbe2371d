import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { dirname, join } from "node:path";
import { GradescopeResultsSchema } from "../report/gradescope.ts";
import { REPO_ROOT } from "../harness/submission.ts";
import { processesMatching } from "../sandbox/sandbox.ts";
import { loadKit } from "../harness/runner.ts";
import { buildPackage, inPackage, packageFiles, runScript } from "./package_gradescope.ts";

/** 01-echo's probes, hidden ones included (the package runs them all), and their points. */
const echo = await loadKit(join(REPO_ROOT, "autograder", "kits", "01-echo"));
const ECHO_PROBES = echo.probes.length;
const ECHO_POINTS = echo.probes.reduce((sum, p) => sum + p.points, 0);

Deno.test("the Gradescope package holds the grader and one kit, and nothing staff-only", () => {
  const files = packageFiles("01-echo");
  for (
    const needed of [
      "deno.json",
      "shared/mod.ts",
      "autograder/harness/grade.ts",
      "autograder/kits/01-echo/probes.ts",
    ]
  ) {
    assert.ok(files.includes(needed), `missing ${needed}`);
  }
  const leaks = files.filter((f) =>
    /^solutions\/|variants\/|alternatives\/|_test\.ts$|fixtures\//.test(f)
  );
  assert.deepEqual(leaks, []);
  // Hidden probes run on Gradescope (no kit has any yet, so check the rule itself).
  assert.ok(inPackage("autograder/kits/01-echo/hidden_probes.ts"));
  assert.ok(!inPackage("autograder/kits/01-echo/variants/x/server.ts"));
  assert.ok(!inPackage("solutions/01-echo/server.ts"));
});

/** Unpacks the package into `<root>/source` as Gradescope does. */
async function unpack(root: string): Promise<void> {
  const entries = unzipSync(await buildPackage("01-echo"));
  for (const [path, bytes] of Object.entries(entries)) {
    const target = join(root, "source", path);
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeFile(target, bytes);
  }
}

async function runAutograder(root: string): Promise<number> {
  const { code } = await new Deno.Command("bash", {
    args: [join(root, "source", "run_autograder")],
    env: { AUTOGRADER_ROOT: root, DENO: Deno.execPath(), NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).output();
  return code;
}

Deno.test("run_autograder grades a submission uploaded inside a folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "gradescope-test-" });
  try {
    await unpack(root);
    const folder = join(root, "submission", "my-echo");
    await Deno.mkdir(folder, { recursive: true });
    for (const f of ["server.ts", "client.ts"]) {
      await Deno.copyFile(join(REPO_ROOT, "solutions/01-echo", f), join(folder, f));
    }
    assert.equal(await runAutograder(root), 0);
    const results = GradescopeResultsSchema.parse(
      JSON.parse(await Deno.readTextFile(join(root, "results", "results.json"))),
    );
    assert.equal(results.tests.length, ECHO_PROBES);
    assert.equal(results.score, ECHO_POINTS, results.output);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("run_autograder: a submission without its files scores 0, every probe saying what is missing", async () => {
  const root = await Deno.makeTempDir({ prefix: "gradescope-test-" });
  try {
    await unpack(root);
    await Deno.mkdir(join(root, "submission"), { recursive: true });
    await Deno.writeTextFile(join(root, "submission", "notes.txt"), "forgot my files");
    assert.equal(await runAutograder(root), 0);
    const results = GradescopeResultsSchema.parse(
      JSON.parse(await Deno.readTextFile(join(root, "results", "results.json"))),
    );
    assert.equal(results.score, 0);
    const log = await Deno.readTextFile(join(root, "results", "grader.log"));
    assert.equal(results.tests.length, ECHO_PROBES, `every probe listed, failed: ${log}`);
    for (const t of results.tests) assert.match(t.output ?? "", /Missing files in .*: server\.ts/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("run_autograder writes results.json when the grader hangs", async () => {
  const root = await Deno.makeTempDir({ prefix: "gradescope-test-" });
  try {
    await Deno.mkdir(join(root, "source"));
    await Deno.mkdir(join(root, "submission"));
    const script = join(root, "source", "run_autograder");
    await Deno.writeTextFile(script, runScript("01-echo", "server.ts", 1));
    const hang = join(root, "hang.sh"); // stands in for a grader that never finishes
    await Deno.writeTextFile(hang, "#!/bin/sh\nexec sleep 60\n");
    await Deno.chmod(hang, 0o755);
    const { code } = await new Deno.Command("bash", {
      args: [script],
      env: { AUTOGRADER_ROOT: root, DENO: hang },
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    const results = GradescopeResultsSchema.parse(
      JSON.parse(await Deno.readTextFile(join(root, "results", "results.json"))),
    );
    assert.equal(results.output, "The grader could not run: it did not finish within 1 s");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A host like Gradescope's containers: bubblewrap cannot make namespaces, cgroups are read-only. */
const CONTAINER = {
  COURSE_SANDBOX_BWRAP: join(REPO_ROOT, "autograder/fixtures/hostile/fake_host/bwrap"),
  COURSE_SANDBOX_CGROUP_ROOT: join(REPO_ROOT, "autograder/fixtures/hostile/fake_host/cgroup"),
};

/**
 * The reference echo solution with the attacks of hostile fixtures run first, at every start:
 * each in a block of its own, so none of their names clash with each other's or the solution's.
 */
async function attackingSolution(attacks: string[], folder: string, root: string): Promise<void> {
  const preludes: string[] = [];
  for (const attack of attacks) {
    const fixture = join(REPO_ROOT, "autograder/fixtures/hostile/submissions", attack, "server.ts");
    const text = await Deno.readTextFile(fixture);
    preludes.push(
      text.slice(0, text.indexOf("// Then it serves")).replaceAll(
        "@@REPO_ROOT@@",
        join(root, "source"),
      ),
    );
  }
  const server = await Deno.readTextFile(join(REPO_ROOT, "solutions/01-echo/server.ts"));
  await Deno.mkdir(folder, { recursive: true });
  const blocks = preludes.map((p) => `{\n${p}\n}\n`).join("");
  await Deno.writeTextFile(join(folder, "server.ts"), `${blocks}${server}`);
  await Deno.copyFile(join(REPO_ROOT, "solutions/01-echo/client.ts"), join(folder, "client.ts"));
}

Deno.test("run_autograder in a simulated Gradescope container: attacks contained, full marks", async () => {
  // One submission that tries them all at every start, as a determined student's would: one
  // grading instead of five, and each attack says ESCAPED (or leaves its mark) if it works.
  const attacks = ["forge_results", "read_env", "read_solutions", "kill_grader", "daemon"];
  const root = await Deno.makeTempDir({ prefix: "gradescope-test-" });
  try {
    await unpack(root);
    await attackingSolution(attacks, join(root, "submission"), root);
    const { code } = await new Deno.Command("bash", {
      args: [join(root, "source", "run_autograder")],
      env: {
        AUTOGRADER_ROOT: root,
        DENO: Deno.execPath(),
        NO_COLOR: "1",
        GRADER_SECRET: "s3cret-of-the-grader",
        ...CONTAINER,
      },
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a forger's time to act
    const text = await Deno.readTextFile(join(root, "results", "results.json"));
    const results = GradescopeResultsSchema.parse(JSON.parse(text));
    // Scored on what it did: the reference's echo, whatever else it tried.
    assert.equal(results.score, ECHO_POINTS, text);
    assert.match(results.output, /bubblewrap is missing or not allowed/);
    assert.match(results.output, /user: student processes ran as/);
    assert.doesNotMatch(text, /ESCAPED|forged/);
    const left = processesMatching("course-hostile").concat(processesMatching("sleep\u00001001"));
    assert.deepEqual(left, [], "nothing left running");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
