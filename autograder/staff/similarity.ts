/**
 * Code similarity across a batch of submissions, for course staff:
 *
 * ```sh
 * deno task similarity <kit> <dir-of-submissions> [--out DIR] [--json FILE] [--pages N]
 * ```
 *
 * Each sub-directory of `<dir-of-submissions>` is one submission; of each, the files the kit's
 * manifest lists are read (`autograder/kits/<kit>/manifest.json`, "files"), and the starter's
 * files of the same names (`assignments/<kit>/`) are base code whose fingerprints are ignored.
 * Every pair is compared with MOSS-style winnowed token fingerprints (fingerprint.ts,
 * compare.ts). `DIR/report.html` (default `./similarity`) ranks the pairs and links the top
 * `--pages` (default 100) to side-by-side pages with the matched lines highlighted; `--json`
 * writes the ranked pairs with their scores and matched line ranges. The report is evidence
 * for a human to read, never a verdict.
 *
 * Exit status: 0 when the report was written, 2 on bad arguments or inputs, 1 on any other
 * error; an error is one line on stderr.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compareSubmissions, type SourceFile, type Submission } from "./compare.ts";
import { NOT_A_VERDICT, pairPageName, renderIndex, renderPair } from "./similarity_html.ts";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const USAGE = "usage: deno task similarity <kit> <dir-of-submissions> [--out DIR] " +
  "[--json FILE] [--pages N]";

/** A mistake in the command line or its inputs: reported as one line, exit status 2. */
export class UsageError extends Error {}

/** The parsed command line. */
export interface SimilarityArgs {
  /** The kit's name, e.g. `01-echo`. */
  kit: string;
  /** The directory whose sub-directories are the submissions. */
  dir: string;
  /** Where report.html and the pair pages go. */
  out: string;
  /** Where to write the JSON, if anywhere. */
  json?: string;
  /** How many top pairs get a page. */
  pages: number;
}

/** Parses the command line; throws {@linkcode UsageError} on a mistake. */
export function parseSimilarityArgs(args: string[]): SimilarityArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { out: { type: "string" }, json: { type: "string" }, pages: { type: "string" } },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (${USAGE})`);
  }
  const [kit, dir, ...extra] = parsed.positionals;
  if (!kit || !dir || extra.length > 0) throw new UsageError(USAGE);
  const pages = Number(parsed.values.pages ?? 100);
  if (!Number.isInteger(pages) || pages < 0) {
    throw new UsageError(`--pages must be a whole number, not "${parsed.values.pages}"`);
  }
  return { kit, dir, out: parsed.values.out ?? "similarity", json: parsed.values.json, pages };
}

async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The kit's graded file names, read from its manifest. */
async function kitFiles(kit: string): Promise<string[]> {
  const kits = join(REPO_ROOT, "autograder/kits");
  const text = /^[\w.-]+$/.test(kit) ? await readIfPresent(join(kits, kit, "manifest.json")) : null;
  if (text === null) {
    const known = [...Deno.readDirSync(kits)].filter((e) => e.isDirectory).map((e) => e.name);
    throw new UsageError(`Unknown kit "${kit}": known kits are ${known.sort().join(", ")}`);
  }
  const files = JSON.parse(text).files;
  if (!Array.isArray(files) || !files.every((f) => typeof f === "string")) {
    throw new UsageError(`Cannot read kit "${kit}": its manifest has no "files" list`);
  }
  return files;
}

/** The listed files that exist in `dir`, in the listed order. */
async function readFiles(dir: string, names: string[]): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for (const name of names) {
    const text = await readIfPresent(join(dir, name));
    if (text !== null) files.push({ name, text });
  }
  return files;
}

/** Every non-hidden sub-directory of `dir` as a submission, sorted by name. */
async function readSubmissions(dir: string, names: string[]): Promise<Submission[]> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`No such directory: ${dir}`);
    if (e instanceof Error) throw new UsageError(`Cannot read ${dir}: ${e.message}`);
    throw e;
  }
  const subs: Submission[] = [];
  for (const entry of entries.sort((x, y) => x.name < y.name ? -1 : 1)) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (!(await Deno.stat(path)).isDirectory) continue;
    subs.push({ name: entry.name, files: await readFiles(path, names) });
  }
  if (subs.length < 2) {
    throw new UsageError(
      `Need at least 2 submissions (sub-directories) in ${dir}, found ${subs.length}`,
    );
  }
  return subs;
}

/** Runs the command; returns the exit status. Errors are printed as one line on stderr. */
export async function main(args: string[]): Promise<number> {
  try {
    const options = parseSimilarityArgs(args);
    const names = await kitFiles(options.kit);
    const submissions = await readSubmissions(resolve(options.dir), names);
    for (const s of submissions.filter((s) => s.files.length === 0)) {
      console.error(`similarity: warning: ${s.name} has none of ${names.join(", ")}`);
    }
    const starter = await readFiles(join(REPO_ROOT, "assignments", options.kit), names);
    const run = compareSubmissions(submissions, starter);
    const byName = new Map(submissions.map((s) => [s.name, s]));
    await Deno.mkdir(options.out, { recursive: true });
    const pages = Math.min(options.pages, run.pairs.length);
    for (let rank = 1; rank <= pages; rank++) {
      const pair = run.pairs[rank - 1];
      const html = renderPair(pair, byName.get(pair.a)!, byName.get(pair.b)!, rank);
      await Deno.writeTextFile(join(options.out, pairPageName(rank)), html);
    }
    const report = join(options.out, "report.html");
    await Deno.writeTextFile(report, renderIndex(run, { kit: options.kit, pages }));
    if (options.json) {
      const record = { kit: options.kit, note: NOT_A_VERDICT, ...run };
      await Deno.writeTextFile(options.json, JSON.stringify(record, null, 2) + "\n");
    }
    const top = run.pairs[0];
    console.log(
      `similarity: ${submissions.length} submissions, ${run.pairs.length} pairs; highest ` +
        `${Math.round(top.score * 100)}% (${top.a} ↔ ${top.b}); report: ${report}`,
    );
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError;
    console.error(`similarity: ${usage ? "" : "error: "}${e instanceof Error ? e.message : e}`);
    return usage ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
