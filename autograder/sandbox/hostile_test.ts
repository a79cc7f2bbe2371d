// Hostile submissions (autograder/fixtures/hostile/submissions/) graded the ways they are graded
// for real: the TA's command (sandboxed by default), grade-all, and both on a simulated host
// without bubblewrap and cgroups (a Docker container, Gradescope's). Each submission attacks and
// then serves the fixture kit's one probe: contained, it scores 1/1 (what it did as a server);
// an attack that worked shows as "ESCAPED" in its output, a missing or forged score. Afterwards
// nothing of it is left: no process of its user, no file in /tmp or /dev/shm.
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../harness/submission.ts";
import { cappedText, startChild, within } from "../harness/process.ts";
import { processesMatching } from "./sandbox.ts";
import { userPids } from "./student_user.ts";
import { runKit } from "../harness/runner.ts";
import { renderHtml } from "../report/html.ts";

const fixtures = join(REPO_ROOT, "autograder", "fixtures");
const hostile = join(fixtures, "hostile");
const ATTACKS = [
  "forge_results",
  "read_env",
  "read_solutions",
  "kill_grader",
  "daemon",
  "fill_shm",
];

/** A host without user namespaces or writable cgroups, as the sandbox module is told. */
const SIMULATED = {
  COURSE_SANDBOX_BWRAP: join(hostile, "fake_host", "bwrap"),
  COURSE_SANDBOX_CGROUP_ROOT: join(hostile, "fake_host", "cgroup"),
};

/** What the grader's environment holds that no submission may read. */
const SECRET = { GRADER_SECRET: "s3cret-of-the-grader" };

/** Submissions that are themselves hostile files: staging refuses them, and says so. */
const FILES: Record<string, (path: string) => Promise<unknown>> = {
  symlink_shadow: (path) => Deno.symlink("/etc/shadow", path),
  symlink_solution: (path) =>
    Deno.symlink(join(REPO_ROOT, "solutions", "01-echo", "server.ts"), path),
  fifo: (path) => new Deno.Command("mkfifo", { args: [path] }).output(),
};

/** Copies the attacks into a fresh directory, one sub-directory each; returns it. */
async function stageAttacks(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hostile-batch-" });
  for (const attack of ATTACKS) {
    const source = await Deno.readTextFile(join(hostile, "submissions", attack, "server.ts"));
    await Deno.mkdir(join(dir, attack));
    await Deno.writeTextFile(
      join(dir, attack, "server.ts"),
      source.replaceAll("@@REPO_ROOT@@", REPO_ROOT),
    );
  }
  for (const [name, make] of Object.entries(FILES)) {
    await Deno.mkdir(join(dir, name));
    await make(join(dir, name, "server.ts"));
  }
  return dir;
}

/** Runs `script args` with the grader's secret (and `env`) in its environment. */
async function runDeno(script: string, args: string[], env: Partial<typeof SIMULATED> = {}) {
  const child = startChild(Deno.execPath(), ["run", "--allow-all", script, ...args], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...SECRET, ...env },
    cap: 1 << 20,
  });
  const status = await within(child.status, 120_000, null);
  await child.stop(3_000);
  return { code: status?.code ?? null, output: cappedText(child.combined) };
}

/** The uid the run's notes say its student processes ran as. */
function runUid(notes: string[]): number | null {
  for (const note of notes) {
    const m = note.match(/^user: .* \(uid (\d+)\)$/);
    if (m !== null) return Number(m[1]);
  }
  return null;
}

/** Checks one graded attack: its score, its record, and that nothing of it is left. */
async function checkGraded(
  attack: string,
  files: { results: string; record: string },
  output: string,
  simulated: boolean,
) {
  const { results, record } = files;
  // A forger's daemon would rewrite results.json after the grader is gone: give it time to.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const text = await Deno.readTextFile(results).catch(() => "(no results.json)");
  // The forger writes {"score": 999, "forged": true}; a run's seed may hold 999 among its digits.
  assert.doesNotMatch(text, /forged|(?<!\d)999(?!\d)/, `${attack}: results forged: ${text}`);
  const gradescope = JSON.parse(text);
  assert.equal(gradescope.score, 1, `${attack}: scored on what it did:\n${text}\n${output}`);
  assert.doesNotMatch(text, /ESCAPED/, `${attack}: ${text}`);
  const run = JSON.parse(await Deno.readTextFile(record));
  assert.match(run.notes[0], /^mode: sandboxed/, `${attack}: ${run.notes}`);
  if (simulated) {
    const notes = run.notes.join("\n");
    assert.match(notes, /bubblewrap is missing or not allowed/, `${attack}: ${notes}`);
    assert.match(notes, /cgroups are not writable/, `${attack}: ${notes}`);
  }
  const uid = runUid(run.notes);
  if (Deno.uid() === 0) {
    assert.ok(uid !== null, `${attack}: ran as a student user: ${run.notes}`);
    assert.deepEqual(userPids(uid), [], `${attack}: no process of uid ${uid} is left`);
  }
  assert.deepEqual(processesMatching("course-hostile"), [], `${attack}: no daemon is left`);
  assert.deepEqual(processesMatching("sleep\u00001001"), [], `${attack}: no sleeper is left`);
  for (const dir of ["/tmp", "/dev/shm"]) {
    const left = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("course-hostile"));
    assert.deepEqual(left, [], `${attack}: nothing left in ${dir}`);
  }
}

/** Grades every attack with the TA's command, two at a time; checks each. */
async function gradeEachAsTa(env: Partial<typeof SIMULATED>) {
  const batch = await stageAttacks();
  const out = await Deno.makeTempDir({ prefix: "hostile-out-" });
  try {
    const grade = join(REPO_ROOT, "autograder", "harness", "grade.ts");
    const gradeOne = async (attack: string) => {
      const [results, record] = [join(out, `${attack}.json`), join(out, `${attack}.record.json`)];
      const args = ["kit", join(batch, attack), "--kits", fixtures, "--only", "connects"];
      const { code, output } = await runDeno(grade, [
        ...args,
        "--seed",
        "1",
        "--results",
        results,
        "--json",
        record,
      ], env);
      assert.equal(code, 0, `${attack}: the grader ran to the end:\n${output}`);
      assert.doesNotMatch(output, /ESCAPED/, `${attack}:\n${output}`);
      return { attack, results, record, output };
    };
    for (const name of Object.keys(FILES)) {
      const { code, output } = await runDeno(grade, ["kit", join(batch, name), "--kits", fixtures]);
      // Graded, at 0: every probe fails saying which file was refused, and why.
      assert.equal(code, 1, `${name}: graded at 0:\n${output}`);
      assert.match(output, /score 0\//, output);
      assert.match(output, /refused: server\.ts is (a symbolic link|not a regular file)/, output);
    }
    for (let i = 0; i < ATTACKS.length; i += 2) {
      const graded = await Promise.all(ATTACKS.slice(i, i + 2).map(gradeOne));
      for (const g of graded) {
        await checkGraded(g.attack, g, g.output, env.COURSE_SANDBOX_BWRAP !== undefined);
      }
    }
  } finally {
    await Deno.remove(batch, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

/** Grades every attack in one grade-all batch (two jobs); checks each. */
async function gradeAllAtOnce(env: Partial<typeof SIMULATED>) {
  const batch = await stageAttacks();
  const out = await Deno.makeTempDir({ prefix: "hostile-out-" });
  try {
    const { code, output } = await runDeno(
      join(REPO_ROOT, "autograder", "staff", "grade_all.ts"),
      ["kit", batch, "--kits", fixtures, "--only", "connects", "--jobs", "2", "--out", out],
      env,
    );
    // Everyone is graded: the hostile files at 0, each probe saying which file was refused.
    assert.equal(code, 0, `everyone graded:\n${output}`);
    const csv = await Deno.readTextFile(join(out, "grades.csv"));
    for (const name of Object.keys(FILES)) {
      assert.match(csv, new RegExp(`^${name},.*refused: server\\.ts is`, "m"), csv);
    }
    for (const attack of ATTACKS) {
      const dir = join(out, attack);
      const html = await Deno.readTextFile(join(dir, "report.html"));
      assert.ok(!html.includes(batch) && !html.includes(REPO_ROOT), `${attack}: no staff path`);
      assert.match(html, new RegExp(`<dd>\\./${attack}</dd>`), `${attack}: named as in the batch`);
      const files = { results: join(dir, "results.json"), record: join(dir, "record.json") };
      await checkGraded(attack, files, csv, env.COURSE_SANDBOX_BWRAP !== undefined);
    }
  } finally {
    await Deno.remove(batch, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("hostile submissions, TA's command: each contained, scored, nothing left", async () => {
  await gradeEachAsTa({});
});

Deno.test("hostile submissions, grade-all: each contained, scored, nothing left", async () => {
  await gradeAllAtOnce({});
});

Deno.test("hostile submissions, no bubblewrap nor cgroups: still contained by the user", async () => {
  await gradeEachAsTa(SIMULATED);
});

Deno.test("hostile submissions, grade-all without bubblewrap nor cgroups", async () => {
  await gradeAllAtOnce(SIMULATED);
});

Deno.test("the reports show no staff path: staging and checkout are named, not shown", async () => {
  for (const sandbox of [true, false]) {
    const run = await runKit({
      kitDir: join(fixtures, "kit"),
      submissionDir: join(hostile, "submissions", "prints_paths"),
      submissionLabel: "prints_paths",
      only: ["connects"],
      seed: 1,
      sandbox,
    });
    const html = renderHtml(run);
    assert.match(run.probes[0].message, /cwd <submission> file <submission>\/server\.ts/);
    for (const text of [html, JSON.stringify(run)]) {
      assert.doesNotMatch(text, /\/tmp\/grade-|grade-run-/, "no staging path");
      assert.ok(!text.includes(REPO_ROOT), "no path of the staff checkout");
    }
    assert.match(html, /<dd>prints_paths<\/dd>/, "the submission as given");
  }
});
