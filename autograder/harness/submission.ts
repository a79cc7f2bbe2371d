/**
 * Staging a submission: only the manifest's `files` are copied from the student's directory
 * into a fresh temporary directory, next to a `deno.json` that maps `@course/shared` to the
 * repository's own `shared/mod.ts` (never a copy the student handed in), or, for a student user
 * who may not read the staff checkout, to a copy of `shared/` staged beside the files.
 *
 * Only regular files are copied, each up to {@link FILE_CAP} bytes: a symlink (to /etc/shadow,
 * to the solutions), a FIFO (which would block the grader), a device or a huge file is refused,
 * and counts as missing, with the reason.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Manifest } from "./manifest.ts";

/** The repository root (the directory holding `autograder/`). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The largest file staged: a source file is far smaller; a bigger one is refused. */
export const FILE_CAP = 4 << 20;

/** Raised when the submission lacks files the manifest asks for; `missing` lists them. */
export class MissingFilesError extends Error {
  /** Relative paths (as in the manifest) that were not found or were refused. */
  missing: string[];
  constructor(dir: string, missing: string[], refused: string[] = []) {
    const why = refused.length > 0 ? ` (refused: ${refused.join("; ")})` : "";
    super(`Missing files in ${dir}: ${missing.join(", ")}${why}`);
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

/**
 * Why `file` (relative to `source`) cannot be staged, or null when it is a regular file within
 * the cap, reached without a symlink. "missing" when it is not there at all.
 */
async function refusal(source: string, file: string): Promise<string | null> {
  let path = source;
  for (const part of file.split("/")) {
    path = join(path, part);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch {
      return "missing";
    }
    if (info.isSymlink) return `${relative(source, path)} is a symbolic link`;
    if (path !== join(source, file)) continue;
    if (!info.isFile) return `${file} is not a regular file`;
    if (info.size > FILE_CAP) return `${file} is larger than ${FILE_CAP >> 20} MiB`;
  }
  return null;
}

/** Copies the regular file `from` to `to` (mode 0644), refusing anything else met meanwhile. */
async function copyRegular(from: string, to: string): Promise<void> {
  // Open without blocking on a FIFO swapped in since the check: read-only opens of a FIFO block.
  const before = await Deno.lstat(from);
  if (!before.isFile) throw new TypeError(`Cannot stage ${from}: not a regular file`);
  using file = await Deno.open(from, { read: true });
  const info = await file.stat();
  if (!info.isFile || info.ino !== before.ino || info.size > FILE_CAP) {
    throw new TypeError(`Cannot stage ${from}: it changed while being staged`);
  }
  const bytes = new Uint8Array(info.size);
  let at = 0;
  while (at < bytes.length) {
    const n = await file.read(bytes.subarray(at));
    if (n === null) break;
    at += n;
  }
  await Deno.writeFile(to, bytes.subarray(0, at), { mode: 0o644, createNew: true });
}

/** Copies the regular files of `from` (recursively) into `to`; symlinks and the rest are left. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

/**
 * Builds the import map of the staged `deno.json`: the root's imports, made absolute, with
 * `@course/shared` at `sharedDir`'s mod.ts (default: the repository's shared/).
 */
export async function stagedImports(
  repoRoot = REPO_ROOT,
  sharedDir = join(repoRoot, "shared"),
): Promise<Record<string, string>> {
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
  imports["@course/shared"] = pathToFileURL(join(sharedDir, "mod.ts")).href;
  return imports;
}

/**
 * Copies the manifest's `files` from `sourceDir` into a fresh temp dir and writes its
 * `deno.json`; with `copyShared`, copies the course library there too (`.course-shared/`).
 * Throws {@link MissingFilesError} when any file is missing or refused.
 */
export async function stageSubmission(
  manifest: Manifest,
  sourceDir: string,
  options: { repoRoot?: string; copyShared?: boolean } = {},
): Promise<Submission> {
  const source = resolve(sourceDir);
  const missing: string[] = [];
  const refused: string[] = [];
  for (const f of manifest.files) {
    const why = await refusal(source, f);
    if (why !== null) missing.push(f);
    if (why !== null && why !== "missing") refused.push(why);
  }
  if (missing.length > 0) throw new MissingFilesError(source, missing, refused);
  const dir = await Deno.makeTempDir({ prefix: `grade-${manifest.name}-` });
  for (const f of manifest.files) {
    await Deno.mkdir(dirname(join(dir, f)), { recursive: true });
    await copyRegular(join(source, f), join(dir, f));
  }
  const repoRoot = options.repoRoot ?? REPO_ROOT;
  let sharedDir: string | undefined;
  if (options.copyShared) {
    sharedDir = join(dir, ".course-shared");
    await copyTree(join(repoRoot, "shared"), sharedDir);
  }
  const config = join(dir, "deno.json");
  const imports = await stagedImports(repoRoot, sharedDir);
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
