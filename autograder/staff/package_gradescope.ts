/**
 * Builds a Gradescope autograder zip for one assignment:
 *
 * ```sh
 * deno task package-gradescope <assignment> [--out FILE]
 * ```
 *
 * The zip holds `setup.sh` (installs the pinned Deno through npm and the Debian packages the
 * probes use), `run_autograder` (grades /autograder/submission and always leaves
 * /autograder/results/results.json behind, even when the grader itself fails or hangs), and the
 * grader with that one kit, hidden probes included: no solutions, no buggy variants, no kit tests.
 * See docs/gradescope.md.
 *
 * @module
 */

import { zipSync } from "fflate";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { exportFiles, isStaffOnly, listFiles } from "./bundle.ts";
import { loadManifest } from "../harness/manifest.ts";
import { REPO_ROOT } from "../harness/submission.ts";

/** The Deno that setup.sh installs: the version this repository is tested with. */
export const DENO_VERSION = "2.9.6";

/**
 * True when the repository file `path` may go into a Gradescope package. Hidden probes are
 * staff-only for the student release, but Gradescope is where they run, unseen by students.
 */
export function inPackage(path: string): boolean {
  return /^autograder\/kits\/[^/]+\/hidden_probes\.ts$/.test(path) || !isStaffOnly(path);
}

/** The repository files a Gradescope package for `assignment` holds. */
export function packageFiles(assignment: string): string[] {
  const tests = /(^|\/)[^/]*_test\.ts$|^autograder\/fixtures\//;
  // Other kits are left out; code the kits share (`kits/_weensydb/`) is not a kit.
  const otherKits = new RegExp(`^autograder/kits/(?!${assignment}(/|$)|_)`);
  return [
    "deno.json",
    "deno.lock",
    ...listFiles("shared", [tests]),
    ...listFiles("autograder", [tests, otherKits]),
  ].filter(inPackage);
}

/** setup.sh: Gradescope runs it once, as root, when it builds the autograder image. */
export function setupScript(): string {
  return `#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nodejs npm socat curl ca-certificates >/dev/null
# The pinned Deno, from the npm registry: its Linux binary ships in this package.
work=$(mktemp -d)
(cd "$work" && npm pack --silent @deno/linux-x64-glibc@${DENO_VERSION} >/dev/null && tar -xzf ./*.tgz)
install -m 0755 "$work/package/deno" /usr/local/bin/deno
rm -rf "$work"
# The probes' own needs (socat, ...) and the npm packages, cached for offline runs.
cd /autograder/source
bash autograder/setup.sh
`;
}

/**
 * run_autograder: grades the submission; results.json exists afterwards whatever happens. The
 * grader gets `limitS` seconds (keep Gradescope's own timeout above that): a grader that hangs
 * is stopped, and the student gets a results.json that says so instead of Gradescope's error.
 */
export function runScript(assignment: string, firstFile: string, limitS: number): string {
  return `#!/usr/bin/env bash
# Gradescope runs this for every submission. Whatever happens, results.json exists afterwards.
root=\${AUTOGRADER_ROOT:-/autograder}
results="$root/results/results.json"
mkdir -p "$root/results"
rm -f "$results"
cd "$root/source"
export NO_COLOR=1
# Students may upload their files inside a folder: grade the shallowest folder that holds
# ${firstFile} (not, say, an old copy nested deeper).
found=$(find "$root/submission" -name '${firstFile}' -type f -printf '%d\\t%p\\n' 2>/dev/null |
  sort -n | head -n 1 | cut -f 2-)
submission=$(dirname "\${found:-$root/submission/${firstFile}}")
timeout -k 10 ${limitS} \${DENO:-deno} run --allow-all autograder/harness/grade.ts ${assignment} \\
  "$submission" --sandbox --results "$results" 2>&1 | tee "$root/results/grader.log"
status=\${PIPESTATUS[0]}
if [ ! -s "$results" ]; then
  reason=$(grep -v '^\\s*$' "$root/results/grader.log" | tail -n 1 | tr -d '\\000-\\037"\\\\')
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    reason="it did not finish within ${limitS} s"
  fi
  printf '{"score": 0, "execution_time": 0, "output": "The grader could not run: %s", "tests": []}\\n' \\
    "\${reason:-no output}" > "$results"
fi
exit 0
`;
}

/** Builds the zip's bytes for `assignment`. */
export async function buildPackage(assignment: string): Promise<Uint8Array> {
  const manifest = await loadManifest(join(REPO_ROOT, "autograder", "kits", assignment));
  const entries: Record<string, [Uint8Array, { attrs: number }]> = {};
  const file = (mode: number) => ({ attrs: (0o100000 | mode) << 16 });
  const staging = await Deno.makeTempDir({ prefix: "gradescope-package-" });
  try {
    const files = packageFiles(assignment);
    await exportFiles(files, staging);
    for (const path of files) {
      entries[path] = [await Deno.readFile(join(staging, path)), file(0o644)];
    }
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
  const text = (s: string) => new TextEncoder().encode(s);
  entries["setup.sh"] = [text(setupScript()), file(0o755)];
  const limitS = Math.ceil(manifest.budgetMs / 1000) + 60; // as grade-all's default --timeout
  entries["run_autograder"] = [
    text(runScript(assignment, manifest.files[0], limitS)),
    file(0o755),
  ];
  return zipSync(entries, { level: 6, os: 3 });
}

/** Runs the packager; returns the exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { out: { type: "string" } },
    });
    const [assignment] = positionals;
    if (assignment === undefined || positionals.length > 1) {
      throw new Error("usage: deno task package-gradescope <assignment> [--out FILE]");
    }
    const cwd = Deno.env.get("INIT_CWD") || Deno.cwd();
    const out = resolve(cwd, values.out ?? `gradescope-${assignment}.zip`);
    await Deno.writeFile(out, await buildPackage(assignment));
    console.log(`wrote ${out}: upload it as the autograder of ${assignment} (docs/gradescope.md)`);
    return 0;
  } catch (e) {
    console.error(`package-gradescope: ${(e as Error).message.split("\n")[0]}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
