/**
 * Writes the student-facing repository:
 *
 * ```sh
 * deno task release <out-dir>
 * ```
 *
 * It holds the assignments, the shared library, the grader with the public probes, the docs
 * meant for students, the devcontainer, and a README made from `docs/release/README.md` with a
 * table of the assignments. It holds no
 * solutions, no hidden probes, no buggy variants or alternative solutions, and no test that
 * needs them. In that tree `deno task grade <assignment>` grades the student's own starter.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { exportFiles, isStaffOnly, listFiles } from "./bundle.ts";
import { loadManifest } from "../harness/manifest.ts";
import { REPO_ROOT } from "../harness/submission.ts";

/** Top-level entries of the repository that a release starts from. */
const TOP = [
  "assignments",
  "shared",
  "autograder",
  "docs",
  ".devcontainer",
  "deno.json",
  "deno.lock",
  ".gitignore",
];

/**
 * Staff documents and tools with no use to a student: packaging, releasing, and the sandbox's
 * hostile tests (which need root to run, and so would fail `deno task test` in a Codespace).
 */
const STAFF_FILES = [
  /^docs\/gradescope\.md$/,
  /^docs\/release\//,
  /^docs\/benchmark\.md$/,
  /^autograder\/(staff|testing)\//,
  /^autograder\/sandbox\/sandbox_test\.ts$/,
  /^autograder\/fixtures\/hostile\//,
];

/** A test that reads staff-only files (solutions, variants) cannot run in a release. */
function needsStaffFiles(path: string): boolean {
  if (!path.endsWith("_test.ts")) return false;
  let text: string;
  try {
    text = Deno.readTextFileSync(join(REPO_ROOT, path));
  } catch {
    return true; // committed but deleted on disk: leave it out rather than guess
  }
  return /solutions\/|\/variants\/|\/alternatives\//.test(text);
}

/** True when the repository file `path` belongs in a student release. */
export function inRelease(path: string): boolean {
  return !STAFF_FILES.some((re) => re.test(path)) && !isStaffOnly(path) && !needsStaffFiles(path);
}

/** The repository files a student release holds. */
export function releaseFiles(): string[] {
  return TOP.flatMap((top) => listFiles(top)).filter(inRelease);
}

/** The release README: the template with a table of the assignments, from their manifests. */
export async function releaseReadme(): Promise<string> {
  const template = await Deno.readTextFile(join(REPO_ROOT, "docs", "release", "README.md"));
  const rows = ["| assignment | what it is about |", "| --- | --- |"];
  for (const kit of listFiles("autograder/kits").filter((f) => f.endsWith("/manifest.json"))) {
    const manifest = await loadManifest(join(REPO_ROOT, kit, ".."));
    rows.push(`| [${manifest.name}](${manifest.handout}) | ${manifest.title} |`);
  }
  return template.replace(/<!-- assignments:.*-->\n/, rows.join("\n") + "\n");
}

/** Tasks of the staff repository that a release cannot run (no solutions, no staff tools). */
const STAFF_TASKS = [
  "bench",
  "release",
  "package-gradescope",
  "grade-all",
  "similarity",
  "validate",
];

async function dropStaffTasks(path: string): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(path));
  for (const task of STAFF_TASKS) delete config.tasks?.[task];
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n");
}

/** Writes the release into `out` (which must not exist yet, or be empty). */
export async function writeRelease(out: string): Promise<string[]> {
  await Deno.mkdir(out, { recursive: true });
  if ([...Deno.readDirSync(out)].length > 0) throw new Error(`${out} is not empty`);
  const files = releaseFiles();
  await exportFiles(files, out);
  await Deno.writeTextFile(join(out, "README.md"), await releaseReadme());
  await dropStaffTasks(join(out, "deno.json"));
  return [...files, "README.md"];
}

/** Runs the release command; returns the exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length !== 1) throw new Error("usage: deno task release <out-dir>");
    const out = resolve(Deno.env.get("INIT_CWD") || Deno.cwd(), argv[0]);
    const files = await writeRelease(out);
    console.log(`wrote ${files.length} files to ${out}`);
    return 0;
  } catch (e) {
    console.error(`release: ${(e as Error).message.split("\n")[0]}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
