/**
 * A kit's buggy variants are patches against its reference, `autograder/kits/<kit>/variants/
 * <name>.patch`: a sentence or two saying what the bug is, then a unified diff with paths
 * relative to `solutions/<kit>/` (`--- a/server.ts`, `+++ b/server.ts`), applied with `git apply`.
 * For staff:
 *
 * ```sh
 * deno run -A autograder/testing/variant.ts <kit> <name> --out DIR   # the variant as full files, to edit
 * deno run -A autograder/testing/variant.ts <kit> <name> --save DIR  # the patch again, from DIR
 * ```
 *
 * `--out` writes the manifest's files with the patch applied (the reference's, for a new name).
 * `--save` diffs the reference against DIR (a file DIR lacks counts as unchanged) and rewrites the
 * patch, keeping its description; a new patch gets a line to replace with one.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadManifest } from "../harness/manifest.ts";
import { REPO_ROOT } from "../harness/submission.ts";

/** A kit: its directory and its reference solution's. */
export interface Kit {
  /** `autograder/kits/<kit>`. */
  kitDir: string;
  /** `solutions/<kit>`. */
  reference: string;
}

/** Raised when a variant's patch no longer applies to the reference; `variant` names it. */
export class StaleVariantError extends Error {
  /** The variant's name (its patch's file name without `.patch`). */
  variant: string;
  constructor(variant: string, detail: string) {
    super(
      `variant ${variant} no longer applies to the reference: regenerate it ` +
        `(see docs/grading.md)\n${detail}`,
    );
    this.name = "StaleVariantError";
    this.variant = variant;
  }
}

const USAGE = "usage: variant.ts <kit> <name> (--out DIR | --save DIR)";
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A variant's name: its patch's file name without `.patch`. */
export function variantName(patch: string): string {
  return basename(patch, ".patch");
}

/** What the bug is: the plain-text lines a patch starts with, before its first diff. */
export function variantDescription(patchText: string): string {
  const lines = patchText.split("\n");
  const diff = lines.findIndex((l) => l.startsWith("diff --git ") || l.startsWith("--- "));
  return lines.slice(0, diff < 0 ? lines.length : diff).join("\n").trim();
}

/** Copies the manifest's files into `dir`: from `files` where it names them, else the reference. */
export async function stageReference(kit: Kit, dir: string, files: Record<string, string> = {}) {
  for (const file of (await loadManifest(kit.kitDir)).files) {
    await Deno.mkdir(dirname(join(dir, file)), { recursive: true });
    // copyFile follows symbolic links: an alternative may link the files it leaves unchanged.
    await Deno.copyFile(files[file] ?? join(kit.reference, file), join(dir, file));
  }
}

async function git(args: string[], cwd: string): Promise<Deno.CommandOutput> {
  try {
    return await new Deno.Command("git", {
      args,
      cwd,
      // Outside any repository: a checkout above `cwd` must not change how paths are read.
      env: { GIT_CEILING_DIRECTORIES: dirname(cwd) },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
  } catch (err) {
    throw new Error(`Cannot run git ${args[0]} (variants need git): ${err}`);
  }
}

/** Writes the reference into `dir` with `patch` applied; throws {@link StaleVariantError}. */
export async function applyVariant(kit: Kit, patch: string, dir: string): Promise<void> {
  await stageReference(kit, dir);
  const out = await git(["apply", "--whitespace=nowarn", resolve(patch)], resolve(dir));
  if (!out.success) throw new StaleVariantError(variantName(patch), decode(out.stderr).trim());
}

/** A patch: `description`, then the diff from the reference to the manifest's files in `dir`. */
export async function makePatch(kit: Kit, dir: string, description: string): Promise<string> {
  const scratch = await Deno.makeTempDir({ prefix: "variant-" });
  try {
    const edited: Record<string, string> = {};
    for (const file of (await loadManifest(kit.kitDir)).files) {
      if (await isFile(join(dir, file))) edited[file] = join(dir, file);
    }
    await stageReference(kit, join(scratch, "a"));
    await stageReference(kit, join(scratch, "b"), edited);
    // --no-prefix on the folders a and b: the headers read `--- a/server.ts`, `+++ b/server.ts`.
    const args = ["diff", "--no-index", "--no-prefix", "--no-color", "--no-ext-diff", "a", "b"];
    const out = await git(args, scratch);
    if (out.code > 1) throw new Error(`git diff failed: ${decode(out.stderr).trim()}`);
    if (out.code === 0) throw new RangeError(`Nothing to save: ${dir} is the reference`);
    return `${description.trim()}\n\n${decode(out.stdout)}`;
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

async function isFile(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}

/** `--out`: writes the variant into `dir`; a stale patch is applied in part (exit status 1). */
async function writeOut(kit: Kit, patch: string | null, dir: string): Promise<number> {
  if (patch === null) {
    await stageReference(kit, dir);
    console.log(`a new variant: wrote the reference to ${dir}; edit it, then --save`);
    return 0;
  }
  try {
    await applyVariant(kit, patch, dir);
    console.log(`wrote the variant to ${dir}`);
    return 0;
  } catch (err) {
    if (!(err instanceof StaleVariantError)) throw err;
    await git(["apply", "--reject", "--whitespace=nowarn", patch], dir);
    const line = err.message.split("\n")[0];
    console.error(
      `${line}: applied in part to ${dir}; redo its .rej files by hand, delete them, --save`,
    );
    return 1;
  }
}

/** Runs the command line; returns the exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    const options = { out: { type: "string" }, save: { type: "string" } } as const;
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
    const [kitName, name] = positionals;
    const dir = values.out ?? values.save;
    if (positionals.length !== 2 || dir === undefined || (values.out && values.save)) {
      throw new TypeError(USAGE);
    }
    const kitDir = join(REPO_ROOT, "autograder/kits", kitName);
    const kit = { kitDir, reference: join(REPO_ROOT, "solutions", kitName) };
    const patch = join(kitDir, "variants", `${name}.patch`);
    const old = await Deno.readTextFile(patch).catch(() => null);
    const where = resolve(Deno.env.get("INIT_CWD") || Deno.cwd(), dir);
    if (values.out) return await writeOut(kit, old === null ? null : patch, where);
    const description = old === null
      ? "SAY HERE WHAT THE BUG IS, FOR A TA"
      : variantDescription(old);
    await Deno.writeTextFile(patch, await makePatch(kit, where, description));
    console.log(`wrote ${patch}${old === null ? ": begin it with what the bug is" : ""}`);
    return 0;
  } catch (e) {
    console.error(`variant: ${(e as Error).message.split("\n")[0]}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
