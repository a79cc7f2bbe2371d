/**
 * Staging a submission: only the manifest's `files` are copied from the student's directory
 * into a fresh temporary directory, next to a `deno.json` that maps `@course/shared` to the
 * repository's own `shared/mod.ts` (never a copy the student handed in).
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Manifest } from "./manifest.ts";

/** The repository root (the directory holding `autograder/`). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Raised when the submission lacks files the manifest asks for; `missing` lists them. */
export class MissingFilesError extends Error {
  /** Relative paths (as in the manifest) that were not found. */
  missing: string[];
  constructor(dir: string, missing: string[]) {
    super(`Missing files in ${dir}: ${missing.join(", ")}`);
    this.name = "MissingFilesError";
    this.missing = missing;
  }
}

/** A staged submission, ready to run. */
export interface Submission {
  /** The staging directory (a fresh temp dir). */
  dir: string;
  /** The directory the files were taken from. */
  source: string;
  /** The manifest this submission was staged for. */
  manifest: Manifest;
  /** The staged `deno.json`. */
  config: string;
  /** Absolute path of the staged file of `entry` (e.g. "server"). */
  path(entry: string): string;
  /**
   * The program and arguments that run `entry`: the manifest's args (left out when
   * `exactArgs` is set), then `options.args`, with every `{port}` replaced by `options.port`.
   */
  command(entry: string, options?: { args?: string[]; port?: number; exactArgs?: boolean }): {
    cmd: string;
    args: string[];
  };
  /** Removes the staging directory. */
  remove(): Promise<void>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Builds the import map of the staged `deno.json`: the root's imports, made absolute. */
export async function stagedImports(repoRoot = REPO_ROOT): Promise<Record<string, string>> {
  let rootImports: Record<string, string> = {};
  try {
    const root = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json")));
    rootImports = root.imports ?? {};
  } catch {
    // no root config: only @course/shared is mapped
  }
  const imports: Record<string, string> = {};
  for (const [name, target] of Object.entries(rootImports)) {
    imports[name] = target.startsWith(".") ? pathToFileURL(resolve(repoRoot, target)).href : target;
  }
  imports["@course/shared"] = pathToFileURL(join(repoRoot, "shared", "mod.ts")).href;
  return imports;
}

/**
 * Copies the manifest's `files` from `sourceDir` into a fresh temp dir and writes its
 * `deno.json`. Throws {@link MissingFilesError} when any file is missing.
 */
export async function stageSubmission(
  manifest: Manifest,
  sourceDir: string,
  options: { repoRoot?: string } = {},
): Promise<Submission> {
  const source = resolve(sourceDir);
  const missing: string[] = [];
  for (const f of manifest.files) if (!(await isFile(join(source, f)))) missing.push(f);
  if (missing.length > 0) throw new MissingFilesError(source, missing);
  const dir = await Deno.makeTempDir({ prefix: `grade-${manifest.name}-` });
  for (const f of manifest.files) {
    await Deno.mkdir(dirname(join(dir, f)), { recursive: true });
    await Deno.copyFile(join(source, f), join(dir, f));
  }
  const config = join(dir, "deno.json");
  const imports = await stagedImports(options.repoRoot);
  await Deno.writeTextFile(config, JSON.stringify({ imports }, null, 2) + "\n");
  return submissionRecord(manifest, { dir, source, config });
}

function submissionRecord(
  manifest: Manifest,
  where: { dir: string; source: string; config: string },
): Submission {
  const entryOf = (name: string) => {
    const entry = manifest.entries[name];
    if (entry === undefined) {
      const known = Object.keys(manifest.entries).join(", ");
      throw new RangeError(`Unknown entry "${name}": the manifest has ${known}`);
    }
    return entry;
  };
  return {
    ...where,
    manifest,
    path: (name) => join(where.dir, entryOf(name).file),
    command: (name, options = {}) => {
      const base = options.exactArgs ? [] : entryOf(name).args;
      const extra = [...base, ...(options.args ?? [])];
      const port = String(options.port ?? "{port}");
      return {
        cmd: Deno.execPath(),
        args: [
          "run",
          "--config",
          where.config,
          "--no-lock",
          ...manifest.denoFlags,
          join(where.dir, entryOf(name).file),
          ...extra.map((a) => a.replaceAll("{port}", port)),
        ],
      };
    },
    remove: () => Deno.remove(where.dir, { recursive: true }).catch(() => {}),
  };
}
