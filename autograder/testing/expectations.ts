/**
 * What a kit's own test expects of it, kept with the kit as data (`kits/<kit>/expect.json`):
 * one generic test (`kits_test.ts`) grades every kit against its data, so a kit adds no test
 * code of its own.
 *
 * - `reference`: full marks.
 * - `starter`: every probe fails, and says that code is not written yet.
 * - `alternatives`: each folder of `alternatives/` (a correct design, the files that differ from
 *   the reference's) with a line saying what the design is: full marks.
 * - `variants`: each patch of `variants/` (a buggy variant) and the probes it must fail, the one
 *   it was written for first. The kit test runs that first probe and checks that it fails;
 *   `deno task validate` runs every probe and checks that the variant fails every probe it names
 *   and no other (a failure a probe misnames sends a student the wrong way).
 * - `alsoFails`: for a variant whose bug shows in more places than the probes written for it (a
 *   server that answers nothing, loses bytes or crashes), the other probes it fails, in some runs
 *   or all, each failure saying what went wrong. validate takes them as expected; they name no
 *   bug of their own, so they count neither for "every probe names a variant" nor for a
 *   requirement.
 * - `steps`: files of the handout's own steps, each graded in the reference's place, with one
 *   probe it passes and one it fails, as the handout says.
 * - `requirements`: the handout's MUSTs and MUST NOTs, each with the section that states it, the
 *   probes that check it and the variants that break it. No requirement without a probe and a
 *   variant, no probe without a requirement (`docs/requirements.md` shows them all).
 *
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { describeZodError } from "../harness/manifest.ts";
import { REPO_ROOT } from "../harness/submission.ts";

const Name = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "a kebab-case name");

/** The schema of `kits/<kit>/expect.json`. */
export const ExpectationsSchema = z.object({
  /** The reference solution's folder, relative to the repository. */
  reference: z.string(),
  /** The starter's folder, relative to the repository. */
  starter: z.string(),
  /** Each alternative's folder name, and what its design is. */
  alternatives: z.record(Name, z.string().min(10)),
  /** Each buggy variant's name, and the probes it must fail. */
  variants: z.record(Name, z.array(Name).min(1)),
  /** Per variant, the probes its bug also fails, in some runs or all (not its own probes). */
  alsoFails: z.record(Name, z.array(Name).min(1)).default({}),
  /** The handout's requirements: what it says, where, the probes and the variants. */
  requirements: z.array(z.object({
    /** A short id, unique in the kit: "echo-every-byte". */
    id: Name,
    /** The requirement in the handout's words (MUST or MUST NOT). */
    says: z.string().min(10),
    /** The handout section that states it: "§4 Short counts". */
    section: z.string().regex(/^§\d+/, 'a section such as "§4 Short counts"'),
    /** The probes that check it. */
    probes: z.array(Name).min(1),
    /** The buggy variants that break it. */
    variants: z.array(Name).min(1),
  })).default([]),
  /** The handout's steps, each a file in place of one of the reference's. */
  steps: z.array(z.object({
    file: z.string(),
    as: z.string(),
    passes: Name,
    fails: Name,
  })).default([]),
});

/** A kit's expectations, paths made absolute. */
export type Expectations = z.infer<typeof ExpectationsSchema>;

/** Reads `<kitDir>/expect.json`; throws with one clear line when it is not valid. */
export async function loadExpectations(kitDir: string): Promise<Expectations> {
  const path = join(kitDir, "expect.json");
  const parsed = ExpectationsSchema.safeParse(JSON.parse(await Deno.readTextFile(path)));
  if (!parsed.success) throw new Error(`${path}: ${describeZodError(parsed.error)}`);
  const e = parsed.data;
  return {
    ...e,
    reference: join(REPO_ROOT, e.reference),
    starter: join(REPO_ROOT, e.starter),
    steps: e.steps.map((s) => ({ ...s, file: join(REPO_ROOT, s.file) })),
  };
}
