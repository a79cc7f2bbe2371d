/**
 * Proof that every kit's probes discriminate, from the kit's own data (`kits/<kit>/expect.json`,
 * see `expectations.ts`): the reference and every alternative design score full marks, the
 * starter fails every probe saying what is not written yet, every buggy variant fails the probes
 * it names, every probe is named by some variant, and the handout's steps pass and fail as the
 * handout says. A new kit needs its data, not a copy of this test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { knownAssignments } from "../harness/grade.ts";
import { runKit } from "../harness/runner.ts";
import { REPO_ROOT, stagedImports } from "../harness/submission.ts";
import { stageReference } from "./variant.ts";
import { loadExpectations } from "./expectations.ts";
import { failures, gradeOverlay, gradeWith, testVariants } from "./kit_testing.ts";

const KITS_DIR = join(REPO_ROOT, "autograder", "kits");

/** Files of a kit folder (or of the kits' shared code) that probes run: not tests, not designs. */
function kitCode(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory && !["alternatives", "variants"].includes(e.name)) {
      out.push(...kitCode(join(dir, e.name)));
    } else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      out.push(join(dir, e.name));
    }
  }
  return out;
}

Deno.test("kits import nothing of the grader but its facade, autograder/kit.ts", async () => {
  const wrong: string[] = [];
  for (const file of kitCode(KITS_DIR)) {
    const text = await Deno.readTextFile(file);
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
      const target = join(file, "..", spec);
      const grader = join(REPO_ROOT, "autograder");
      const allowed = target === join(grader, "kit.ts") || target.startsWith(KITS_DIR) ||
        !target.startsWith(grader);
      if (!allowed) wrong.push(`${file.slice(REPO_ROOT.length + 1)} imports ${spec}`);
    }
    // Every connection a probe makes is traced: through ctx.dial, never Deno.connect.
    if (/Deno\.connect\(/.test(text) && !file.endsWith("_backends.ts")) {
      wrong.push(`${file.slice(REPO_ROOT.length + 1)} calls Deno.connect (use ctx.dial)`);
    }
  }
  assert.deepEqual(wrong, []);
});

for (const kitName of knownAssignments(KITS_DIR)) {
  const kitDir = join(KITS_DIR, kitName);
  const expected = await loadExpectations(kitDir);
  const kit = { kitDir, reference: expected.reference };

  Deno.test(`${kitName}: the reference solution scores full marks`, async () => {
    const result = await runKit({ kitDir, submissionDir: expected.reference, seed: 1234 });
    assert.equal(result.score, result.maxScore, failures(result));
    const board = await Deno.stat(join(kitDir, "leaderboard.ts")).then(() => true, () => false);
    if (board) {
      // Measured once every probe passed: figures, each a finite number.
      const figures = result.leaderboard ?? [];
      assert.ok(figures.length > 0, `no leaderboard: ${result.notes.join("; ")}`);
      for (const f of figures) assert.ok(Number.isFinite(f.value), `${f.name}: ${f.value}`);
    }
  });

  Deno.test(`${kitName}: the starter fails every probe, saying what is not written yet`, async () => {
    const result = await runKit({ kitDir, submissionDir: expected.starter, seed: 1234 });
    const passed = result.probes.filter((p) => p.passed).map((p) => p.name);
    assert.deepEqual(passed, [], "the starter passed probes: points for nothing");
    for (const probe of result.probes) {
      const text = `${probe.message}\n${probe.serverOutput ?? ""}`;
      assert.match(text, /not written yet/, `${probe.name} does not say what to write`);
    }
  });

  for (const [name, design] of Object.entries(expected.alternatives)) {
    Deno.test(`${kitName}: alternative ${name} (${design}) scores full marks`, async () => {
      const result = await gradeOverlay(kit, join(kitDir, "alternatives", name));
      assert.equal(result.score, result.maxScore, failures(result));
    });
  }

  Deno.test(`${kitName}: alternatives are listed, and hold only files that differ from the reference's`, async () => {
    const folder = join(kitDir, "alternatives");
    const dirs = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
    assert.deepEqual(dirs, Object.keys(expected.alternatives).sort());
    for (const dir of dirs) {
      for (const e of Deno.readDirSync(join(folder, dir))) {
        assert.ok(e.isFile, `${dir}/${e.name}: a plain file, not a link or a folder`);
        const mine = await Deno.readFile(join(folder, dir, e.name));
        const theirs = await Deno.readFile(join(expected.reference, e.name)).catch(() => null);
        assert.ok(
          theirs === null || mine.join() !== theirs.join(),
          `${dir}/${e.name} is the reference's`,
        );
      }
    }
    // Type-checked as graded: over the reference's other files (the root's `deno check` skips
    // alternatives/, whose files import the reference's files they do not hold).
    const root = await Deno.makeTempDir({ prefix: `${kitName}-alternatives-` });
    try {
      const config = join(root, "deno.json");
      await Deno.writeTextFile(config, JSON.stringify({ imports: await stagedImports() }));
      const manifest = JSON.parse(await Deno.readTextFile(join(kitDir, "manifest.json")));
      const files: string[] = [];
      for (const dir of dirs) {
        const overlay: Record<string, string> = {};
        for (const e of Deno.readDirSync(join(folder, dir))) {
          overlay[e.name] = join(folder, dir, e.name);
        }
        await stageReference(kit, join(root, dir), overlay);
        files.push(...(manifest.files as string[]).map((f) => join(root, dir, f)));
      }
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", "--config", config, "--no-lock", ...files],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`${kitName}: every buggy variant fails the probes it names, and every probe names one`, async (t) => {
    const { probes } = await import(join(kitDir, "probes.ts"));
    const named = new Set(Object.values(expected.variants).flat());
    const unnamed = (probes as { name: string }[]).map((p) => p.name).filter((n) => !named.has(n));
    assert.deepEqual(unnamed, [], "every probe needs a buggy variant that it catches");
    const hidden = await import(join(kitDir, "hidden_probes.ts")).catch(() => ({ probes: [] }));
    const all = [...probes, ...hidden.probes].map((p: { name: string }) => p.name);
    for (const [v, also] of Object.entries(expected.alsoFails)) {
      assert.ok(v in expected.variants, `alsoFails: no variant ${v}`);
      for (const p of also) {
        assert.ok(all.includes(p), `alsoFails of ${v}: no probe ${p}`);
        assert.ok(!expected.variants[v].includes(p), `alsoFails of ${v}: ${p} is one of its own`);
      }
    }
    await testVariants(t, kit, expected.variants);
  });

  Deno.test(`${kitName}: every requirement has probes and variants; every probe and variant has a requirement`, async () => {
    const { probes } = await import(join(kitDir, "probes.ts"));
    const hidden = await import(join(kitDir, "hidden_probes.ts")).catch(() => ({ probes: [] }));
    const names = [...probes, ...hidden.probes].map((p: { name: string }) => p.name);
    const reqs = expected.requirements;
    if (reqs.length === 0) return; // a kit without its table yet: docs/requirements.md says so
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const r of reqs) {
      if (ids.has(r.id)) problems.push(`requirement ${r.id} is listed twice`);
      ids.add(r.id);
      for (const p of r.probes) if (!names.includes(p)) problems.push(`${r.id}: no probe ${p}`);
      for (const v of r.variants) {
        if (!(v in expected.variants)) problems.push(`${r.id}: no variant ${v}`);
        else if (!expected.variants[v].some((p) => r.probes.includes(p))) {
          problems.push(`${r.id}: variant ${v} fails none of the requirement's probes`);
        }
      }
    }
    const covered = new Set(reqs.flatMap((r) => r.probes));
    for (const p of names) if (!covered.has(p)) problems.push(`probe ${p} checks no requirement`);
    const broken = new Set(reqs.flatMap((r) => r.variants));
    for (const v of Object.keys(expected.variants)) {
      if (!broken.has(v)) problems.push(`variant ${v} breaks no requirement`);
    }
    assert.deepEqual(problems, []);
  });

  if (expected.steps.length > 0) {
    Deno.test(`${kitName}: the handout's steps work and fail as it says`, async (t) => {
      for (const step of expected.steps) {
        const title = `${step.file.split("/").pop()} passes ${step.passes}, fails ${step.fails}`;
        await t.step(title, async () => {
          const only = [step.passes, step.fails];
          const result = await gradeWith(kit, { [step.as]: step.file }, { only });
          const verdicts = Object.fromEntries(result.probes.map((p) => [p.name, p.passed]));
          assert.deepEqual(
            verdicts,
            { [step.passes]: true, [step.fails]: false },
            failures(result),
          );
        });
      }
    });
  }
}

Deno.test("docs/requirements.md is made from the kits' expect.json and up to date", async () => {
  const { REQUIREMENTS_DOC, requirementsDoc } = await import("./requirements_doc.ts");
  const scratch = await Deno.makeTempFile({ suffix: ".md" });
  try {
    await Deno.writeTextFile(scratch, await requirementsDoc());
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", "--line-width", "100", scratch],
    }).output();
    const want = await Deno.readTextFile(scratch);
    const have = await Deno.readTextFile(REQUIREMENTS_DOC).catch(() => "");
    assert.equal(have, want, "run: deno run -A autograder/testing/requirements_doc.ts");
  } finally {
    await Deno.remove(scratch);
  }
});

/** The numbered sections of a handout: "4" -> "Short counts" (from `## 4. Short counts`). */
function handoutSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  for (const [, n, title] of markdown.matchAll(/^##\s+(\d+)\.?\s+(.+)$/gm)) sections.set(n, title);
  return sections;
}

/** Each `§N Title` a text names: [N, the title as written, maybe empty]. */
function sectionRefs(text: string): [string, string][] {
  return [...text.matchAll(/§(\d+)([^§:`"]*)/g)].map(([, n, rest]) => [
    n,
    rest.replace(/\(.*$/, "").replace(/\band\b.*$/, "").trim(),
  ]);
}

for (const kitName of knownAssignments(KITS_DIR)) {
  Deno.test(`${kitName}: hints and todo()s name sections the handout has, and agree`, async () => {
    const kitDir = join(KITS_DIR, kitName);
    const manifest = JSON.parse(await Deno.readTextFile(join(kitDir, "manifest.json")));
    const expected = await loadExpectations(kitDir);
    const sections = handoutSections(await Deno.readTextFile(join(REPO_ROOT, manifest.handout)));
    const { loadKit } = await import("../harness/runner.ts");
    const kit = await loadKit(kitDir);
    const problems: string[] = [];
    const check = (where: string, [n, title]: [string, string]) => {
      const real = sections.get(n);
      if (real === undefined) problems.push(`${where}: the handout has no §${n}`);
      else if (title !== "" && !real.startsWith(title) && !title.startsWith(real)) {
        problems.push(`${where}: §${n} is "${real}", not "${title}"`);
      }
    };
    const hinted = new Set<string>();
    for (const probe of kit.probes) {
      const refs = sectionRefs(probe.hint);
      if (refs.length === 0) problems.push(`probe ${probe.name}: its hint names no section`);
      for (const ref of refs) {
        check(`probe ${probe.name}`, ref);
        hinted.add(ref[0]);
      }
    }
    for (const file of manifest.files as string[]) {
      const text = await Deno.readTextFile(join(expected.starter, file)).catch(() => "");
      for (const [line, n] of text.split("\n").entries()) {
        if (!/\btodo\(/.test(n)) continue;
        for (const ref of sectionRefs(n)) {
          check(`${file}:${line + 1} todo()`, ref);
          if (!hinted.has(ref[0])) {
            problems.push(
              `${file}:${line + 1} todo() names §${ref[0]}, which no probe's hint names`,
            );
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });
}
