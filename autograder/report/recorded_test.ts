/**
 * Every output is a pure function of the run record: each is made here from runs recorded by
 * `deno task grade ... --json` (autograder/fixtures/runs/), read back through the record's schema.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../harness/submission.ts";
import { flakyProbes, gradesCsv } from "../staff/grade_all.ts";
import { toAutolab, toJunit } from "./formats.ts";
import { GradescopeResultsSchema, toGradescope } from "./gradescope.ts";
import { renderHtml } from "./html.ts";
import { readRunRecord, type RunResult, writeRunRecord } from "./result.ts";
import { formatReport } from "./terminal.ts";

const RUNS = join(REPO_ROOT, "autograder", "fixtures", "runs");

async function recorded(): Promise<[string, RunResult][]> {
  const out: [string, RunResult][] = [];
  for (const e of [...Deno.readDirSync(RUNS)].sort((a, b) => a.name.localeCompare(b.name))) {
    const run = await readRunRecord(join(RUNS, e.name));
    assert.ok(run !== null, `${e.name} is not a run record`);
    out.push([e.name, run]);
  }
  assert.ok(out.length >= 2);
  return out;
}

Deno.test("recorded runs: each output is made from the record alone", async () => {
  for (const [name, run] of await recorded()) {
    const failed = run.probes.filter((p) => !p.passed);
    assert.ok(failed.length > 0, `${name} should hold a failure`);

    const gs = GradescopeResultsSchema.parse(toGradescope(run));
    assert.equal(gs.score, run.score);
    assert.deepEqual(gs.tests.map((t) => t.status === "passed"), run.probes.map((p) => p.passed));

    const junit = toJunit(run);
    assert.equal((junit.match(/<testcase /g) ?? []).length, run.probes.length, name);
    assert.equal((junit.match(/<failure /g) ?? []).length, failed.length, name);

    const autolab = JSON.parse(toAutolab(run));
    assert.equal(
      Object.values(autolab.scores as Record<string, number>).reduce((a, b) => a + b, 0),
      run.score,
    );

    const html = renderHtml(run);
    for (const p of failed) {
      assert.ok(html.includes(`id="probe-${p.name}"`), `${name}: no section for ${p.name}`);
      if ((p.trace?.connections.length ?? 0) > 0) assert.match(html, /<svg class="timeline"/);
    }

    const text = formatReport(run, {});
    assert.match(text, new RegExp(`next: fix ${failed[0].name}`));
    for (const p of failed) {
      assert.ok(text.includes(p.message.split("\n")[0]), `${name}: ${p.name}`);
    }

    const outcome = new Map(
      run.probes.map((p) => [p.name, { score: p.score, passed: p.passed, message: p.message }]),
    );
    const csv = gradesCsv(run.probes.map((p) => p.name), [{
      student: "s",
      runs: [outcome],
      maxScore: run.maxScore,
    }], run.seed);
    assert.match(
      csv.split("\n")[1],
      new RegExp(`^s,.*,${run.score},${run.maxScore},${run.seed},ok,`),
    );
    assert.deepEqual(flakyProbes([outcome, outcome]), []);
  }
});

Deno.test("a run record survives writing and reading back, replaced in one step", async () => {
  const [[, run]] = await recorded();
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "record.json");
    await Deno.writeTextFile(path, "garbage");
    await writeRunRecord(path, run);
    assert.deepEqual(await readRunRecord(path), run);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["record.json"]);
    await Deno.writeTextFile(path, "{}");
    assert.equal(await readRunRecord(path), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
