/**
 * Helpers for the kits' own tests (`autograder/kits/<kit>/kit_test.ts`), which prove that a
 * kit's probes discriminate: buggy variants and alternative designs are kept as the files that
 * differ from the reference, and graded with the reference's other files beside them.
 *
 * @module
 */

import { join } from "node:path";
import { loadManifest } from "./manifest.ts";
import { runKit, type RunResult } from "./runner.ts";

/** Options for {@link gradeWith} and {@link gradeOverlay}. */
export interface OverlayOptions {
  /** Run only these probes. */
  only?: string[];
  /** The run's seed (fixed by default, so a failing test can be replayed). */
  seed?: number;
}

/**
 * Grades the reference with some of its files replaced: `files` maps a file of the kit's
 * manifest to the path it is taken from; every other file comes from `reference`.
 */
export async function gradeWith(
  kit: { kitDir: string; reference: string },
  files: Record<string, string>,
  options: OverlayOptions = {},
): Promise<RunResult> {
  const manifest = await loadManifest(kit.kitDir);
  const staged = await Deno.makeTempDir({ prefix: `${manifest.name}-overlay-` });
  try {
    for (const file of manifest.files) {
      // copyFile follows symbolic links: a variant may link the files it leaves unchanged.
      await Deno.copyFile(files[file] ?? join(kit.reference, file), join(staged, file));
    }
    const seed = options.seed ?? 1234;
    return await runKit({ kitDir: kit.kitDir, submissionDir: staged, only: options.only, seed });
  } finally {
    await Deno.remove(staged, { recursive: true });
  }
}

/** Grades `dir` overlaid on the reference: the files `dir` lacks come from the reference. */
export async function gradeOverlay(
  kit: { kitDir: string; reference: string },
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

/** The failed probes of a run, one paragraph each: an assertion message. */
export function failures(result: RunResult): string {
  return result.probes.filter((p) => !p.passed).map((p) => `${p.name}: ${p.message}`).join("\n\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
