/**
 * Helpers for the kits' own tests (`autograder/kits/<kit>/kit_test.ts`), which prove that a
 * kit's probes discriminate.
 *
 * A buggy variant is a patch against the reference, `variants/<name>.patch` (see `variant.ts`),
 * applied with `git apply` to a staged copy of the reference when the test runs: it shows exactly
 * the one bug, and cannot drift from the reference unnoticed, since a patch that no longer applies
 * fails the test. An alternative design is kept as the full files that differ from the reference
 * (`alternatives/<name>/`), graded with the reference's other files beside them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadManifest } from "../harness/manifest.ts";
import { runKit, type RunResult } from "../harness/runner.ts";
import { stagedImports } from "../harness/submission.ts";
import {
  applyVariant,
  type Kit,
  stageReference,
  variantDescription,
  variantName,
} from "./variant.ts";

export type { Kit } from "./variant.ts";

/** Options for {@link gradeWith}, {@link gradeOverlay} and {@link gradeVariant}. */
export interface OverlayOptions {
  /** Run only these probes. */
  only?: string[];
  /** The run's seed (fixed by default, so a failing test can be replayed). */
  seed?: number;
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function gradeStaged(kit: Kit, stage: (dir: string) => Promise<void>, opts: OverlayOptions) {
  const manifest = await loadManifest(kit.kitDir);
  const staged = await Deno.makeTempDir({ prefix: `${manifest.name}-overlay-` });
  try {
    await stage(staged);
    const seed = opts.seed ?? 1234;
    // No leaderboard measurement: it scores nothing, and the reference's test checks it once.
    const { kitDir } = kit;
    return await runKit({
      kitDir,
      submissionDir: staged,
      only: opts.only,
      seed,
      leaderboard: false,
    });
  } finally {
    await Deno.remove(staged, { recursive: true });
  }
}

/** Grades the reference with variant `patch` applied (see {@link applyVariant}). */
export function gradeVariant(
  kit: Kit,
  patch: string,
  options: OverlayOptions = {},
): Promise<RunResult> {
  return gradeStaged(kit, (dir) => applyVariant(kit, patch, dir), options);
}

/**
 * Grades the reference with some of its files replaced: `files` maps a file of the kit's
 * manifest to the path it is taken from; every other file comes from `reference`.
 */
export function gradeWith(
  kit: Kit,
  files: Record<string, string>,
  options: OverlayOptions = {},
): Promise<RunResult> {
  return gradeStaged(kit, (dir) => stageReference(kit, dir, files), options);
}

/** Grades `dir` overlaid on the reference: the files `dir` lacks come from the reference. */
export async function gradeOverlay(
  kit: Kit,
  dir: string,
  options: OverlayOptions = {},
): Promise<RunResult> {
  const manifest = await loadManifest(kit.kitDir);
  const files: Record<string, string> = {};
  for (const file of manifest.files) {
    if (await exists(join(dir, file))) files[file] = join(dir, file);
  }
  return await gradeWith(kit, files, options);
}

/**
 * Type-checks variants with one `deno check` for all of them, so that none fails its probe for
 * the wrong reason. Each is staged in a folder of its own beside one `deno.json` that maps
 * `@course/shared` as a graded submission's does (`stagedImports`). Every file of the manifest
 * is checked, not only the entries: Workers and child scripts are started by path, not imported.
 * Returns the names of the variants deno check finds errors in, and its output; throws
 * `StaleVariantError` for a patch that does not apply.
 */
export async function checkVariants(
  kit: Kit,
  patches: string[],
): Promise<{ failed: string[]; output: string }> {
  const manifest = await loadManifest(kit.kitDir);
  const root = await Deno.makeTempDir({ prefix: `${manifest.name}-variants-` });
  try {
    const config = join(root, "deno.json");
    await Deno.writeTextFile(config, JSON.stringify({ imports: await stagedImports() }));
    const files = [];
    for (const patch of patches) {
      const dir = join(root, variantName(patch));
      await applyVariant(kit, patch, dir);
      files.push(...manifest.files.map((f) => join(dir, f)));
    }
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", config, "--no-lock", ...files],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(300_000),
    }).output();
    const raw = decode(check.stdout) + decode(check.stderr);
    const output = raw.replaceAll(`file://${root}/`, "").replaceAll(`${root}/`, "");
    if (check.success) return { failed: [], output };
    const failed = patches.map(variantName).filter((name) => raw.includes(`${root}/${name}/`));
    if (failed.length === 0) throw new Error(`deno check failed: ${output}`);
    return { failed, output };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/**
 * The kit test of the buggy variants: `variants/` must hold exactly the patches named in `table`
 * (variant name -> the probes that must catch it, the one it was written for first), each must
 * say what its bug is, apply and type-check (one step, all at once), and then each must fail the
 * first probe it names (one step each, running that probe only). That keeps `deno task test`
 * within its time; `deno task validate` runs every probe on every variant and checks that each
 * fails all the probes it names, and no other.
 */
export async function testVariants(
  t: Deno.TestContext,
  kit: Kit,
  table: Record<string, string[]>,
): Promise<void> {
  const folder = join(kit.kitDir, "variants");
  const entries = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
  const listed = Object.keys(table).map((name) => `${name}.patch`).sort();
  assert.deepEqual(entries, listed, "variants/ and the table differ");
  const patches = entries.map((name) => join(folder, name));
  const checked = await t.step(
    "every variant describes its bug, applies, type-checks",
    async () => {
      for (const patch of patches) {
        const text = await Deno.readTextFile(patch);
        assert.ok(variantDescription(text) !== "", `${patch} must begin with what the bug is`);
      }
      const { failed, output } = await checkVariants(kit, patches);
      assert.deepEqual(failed, [], `variants that do not type-check:\n${output}`);
    },
  );
  if (!checked) return;
  for (const [name, named] of Object.entries(table)) {
    const probes = named.slice(0, 1);
    await t.step(`${name} fails ${probes.join(", ")}`, async () => {
      const result = await gradeVariant(kit, join(folder, `${name}.patch`), { only: probes });
      assert.equal(result.probes.length, probes.length);
      const passed = result.probes.filter((p) => p.passed).map((p) => p.name);
      assert.deepEqual(passed, [], `${name} passed ${passed.join(", ")}`);
    });
  }
}

/** The failed probes of a run, one paragraph each: an assertion message. */
export function failures(result: RunResult): string {
  return result.probes.filter((p) => !p.passed).map((p) => {
    // The server's last lines too: a failure in CI is diagnosed from this text alone.
    const tail = (p.serverOutput ?? "").trimEnd().split("\n").slice(-15).join("\n  ");
    return `${p.name}: ${p.message}${tail ? `\nserver output (its end):\n  ${tail}` : ""}`;
  }).join("\n\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
