/**
 * Picks the files of the repository that a bundle ships: the Gradescope
 * autograder zip and the student release both start from the same rules, so
 * what must never leave the staff's hands (solutions, buggy variants,
 * alternative solutions, hidden probes, the kits' own tests) is decided once.
 *
 * @module
 */

import { join, relative } from "node:path";
import { REPO_ROOT } from "../harness/submission.ts";

/** Paths (relative to the repository, `/`-separated) that no bundle for students may hold. */
export const STAFF_ONLY: RegExp[] = [
  /^solutions(\/|$)/,
  /^autograder\/kits\/[^/]+\/(variants|alternatives)(\/|$)/,
  /^autograder\/kits\/[^/]+\/hidden_probes\.ts$/,
  /^autograder\/kits\/[^/]+\/[^/]*_test\.ts$/,
  /^autograder\/kits\/[^/]+\/expect\.json$/, // names the buggy variants
  /^autograder\/(staff|testing)(\/|$)/, // batch grading, packaging, kit tests: staff tools
  // The benchmark measures the reference solutions; its load generator also measures a
  // submission for the leaderboard (toolkit/load.ts), so it ships.
  /^autograder\/bench\/(?!(generator|histogram|protocols|cpus)\.ts$)/,
];

/** Paths no bundle needs at all: version control, caches, local results. */
const NEVER: RegExp[] = [/(^|\/)\.git(\/|$)/, /(^|\/)node_modules(\/|$)/, /^results(\/|$)/];

/**
 * Lists the files under `top` (relative to the repository) as committed in git's HEAD, skipping
 * what `skip` matches: a bundle never picks up work in progress or local leftovers. Outside a
 * git checkout it lists what is on disk.
 */
export function listFiles(top: string, skip: RegExp[] = []): string[] {
  const keep = (path: string) => ![...NEVER, ...skip].some((re) => re.test(path));
  return (trackedFiles(top) ?? filesOnDisk(top)).filter(keep).sort();
}

function trackedFiles(top: string): string[] | null {
  try {
    const { code, stdout } = new Deno.Command("git", {
      args: ["ls-tree", "-r", "-z", "--name-only", "HEAD", "--", top],
      cwd: REPO_ROOT,
      stderr: "null",
    }).outputSync();
    if (code !== 0) return null;
    return new TextDecoder().decode(stdout).split("\0").filter((path) => path !== "");
  } catch {
    return null; // no git on this machine
  }
}

function filesOnDisk(top: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(join(REPO_ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) out.push(path);
    }
  };
  if (Deno.statSync(join(REPO_ROOT, top)).isFile) return [top];
  walk(top);
  return out;
}

/** True when `path` (relative to the repository) is for course staff only. */
export function isStaffOnly(path: string): boolean {
  return STAFF_ONLY.some((re) => re.test(path));
}

/**
 * Writes `files` (relative to the repository) into `dest`, keeping their paths and modes: their
 * committed content when the repository is a git checkout (so a bundle is exactly what HEAD
 * holds), else what is on disk.
 */
export async function exportFiles(files: string[], dest: string): Promise<void> {
  await Deno.mkdir(dest, { recursive: true });
  if (files.length === 0) return;
  if (trackedFiles(".") !== null) {
    const archive = new Deno.Command("git", {
      args: ["archive", "--format=tar", "HEAD", "--", ...files],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const untar = new Deno.Command("tar", { args: ["-x", "-C", dest], stdin: "piped" }).spawn();
    const [archived, untarred] = await Promise.all([
      archive.stdout.pipeTo(untar.stdin).then(() => archive.output()),
      untar.status,
    ]);
    if (!archived.success || !untarred.success) {
      throw new Error(`git archive failed: ${new TextDecoder().decode(archived.stderr).trim()}`);
    }
    return;
  }
  for (const file of files) {
    const target = join(dest, file);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    await Deno.copyFile(join(REPO_ROOT, file), target);
  }
}

/** The path of `abs` relative to the repository, `/`-separated. */
export function repoPath(abs: string): string {
  return relative(REPO_ROOT, abs).split("\\").join("/");
}
