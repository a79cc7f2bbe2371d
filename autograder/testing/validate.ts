/**
 * `deno task validate [kit...] [--alternatives N] [--variants N] [--only PROBE,...]`: the repeated
 * runs that prove a kit's grade can be trusted, too slow for `deno task test`. Every alternative
 * design is graded N times (default 20) with all probes: a failure is a false failure (a correct
 * design marked down). Every buggy variant is graded N times (default 3) with all probes: it must
 * fail each probe `expect.json` names for it, every time, and no other probe (a failure a probe
 * misnames sends the student to the wrong place). `--only` repeats just those probes (one that
 * was added or changed). Prints a table per kit and exits 1 when anything is off.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { knownAssignments } from "../harness/grade.ts";
import { REPO_ROOT } from "../harness/submission.ts";
import type { RunResult } from "../report/result.ts";
import { loadExpectations } from "./expectations.ts";
import { gradeOverlay, gradeVariant } from "./kit_testing.ts";

const KITS_DIR = join(REPO_ROOT, "autograder", "kits");

/** One subject's row: how many runs, and per probe how often it failed. */
export interface Row {
  kit: string;
  kind: "alternative" | "variant";
  name: string;
  runs: number;
  /** Probe name -> runs it failed. */
  failed: Map<string, number>;
  /** For a variant: the probes it must fail. */
  named: string[];
  /** For a variant: probes it may fail too, through its own bug (`alsoFails` in expect.json). */
  alsoFails?: string[];
  /** A run that threw (could not be graded). */
  errors: string[];
}

/** What is wrong with a row, or [] when it is as expected. */
export function verdict(row: Row): string[] {
  const out: string[] = [];
  for (const e of row.errors) out.push(`could not grade: ${e}`);
  if (row.kind === "alternative") {
    for (const [probe, n] of row.failed) out.push(`false failure: ${probe} ${n}/${row.runs}`);
    return out;
  }
  for (const probe of row.named) {
    const n = row.failed.get(probe) ?? 0;
    if (n < row.runs) out.push(`missed: ${probe} failed ${n}/${row.runs}`);
  }
  for (const [probe, n] of row.failed) {
    const expected = row.named.includes(probe) || row.alsoFails?.includes(probe);
    if (!expected) out.push(`also failed: ${probe} ${n}/${row.runs}`);
  }
  return out;
}

/** The table, in markdown. */
export function table(rows: Row[]): string {
  const lines = [
    "| kit | subject | runs | failed probes (runs) | verdict |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const failed = [...r.failed].map(([p, n]) => `${p} (${n})`).join(", ") || "none";
    const v = verdict(r);
    lines.push(
      `| ${r.kit} | ${r.kind} ${r.name} | ${r.runs} | ${failed} | ${
        v.length ? v.join("; ") : "ok"
      } |`,
    );
  }
  return lines.join("\n");
}

function tally(row: Row, result: RunResult): void {
  for (const p of result.probes) {
    if (!p.passed) row.failed.set(p.name, (row.failed.get(p.name) ?? 0) + 1);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      alternatives: { type: "string" },
      variants: { type: "string" },
      only: { type: "string" },
    },
  });
  const known = knownAssignments(KITS_DIR);
  const kits = positionals.length > 0 ? positionals : known;
  for (const k of kits) {
    if (!known.includes(k)) {
      console.error(`validate: unknown kit "${k}" (known: ${known.join(", ")})`);
      return 2;
    }
  }
  const altRuns = Number(values.alternatives ?? 20);
  const varRuns = Number(values.variants ?? 3);
  // A probe just added or changed, repeated alone: a variant is then judged on these probes only.
  const only = values.only?.split(",");
  const rows: Row[] = [];
  for (const kitName of kits) {
    const kitDir = join(KITS_DIR, kitName);
    const expected = await loadExpectations(kitDir);
    const kit = { kitDir, reference: expected.reference };
    const subjects: [Row, (seed: number) => Promise<RunResult>][] = [];
    for (const name of Object.keys(expected.alternatives)) {
      const row: Row = {
        kit: kitName,
        kind: "alternative",
        name,
        runs: altRuns,
        failed: new Map(),
        named: [],
        errors: [],
      };
      subjects.push([
        row,
        (seed) => gradeOverlay(kit, join(kitDir, "alternatives", name), { seed, only }),
      ]);
    }
    for (const [name, named] of Object.entries(expected.variants)) {
      const row: Row = {
        kit: kitName,
        kind: "variant",
        name,
        runs: varRuns,
        failed: new Map(),
        named: only === undefined ? named : named.filter((p) => only.includes(p)),
        alsoFails: expected.alsoFails[name] ?? [],
        errors: [],
      };
      const patch = join(kitDir, "variants", `${name}.patch`);
      subjects.push([row, (seed) => gradeVariant(kit, patch, { seed, only })]);
    }
    for (const [row, grade] of subjects) {
      for (let i = 0; i < row.runs; i++) {
        try {
          const result = await grade(1000 + i); // a seed per run: each run's payloads differ
          tally(row, result);
          // An unexpected failure is shown at once, with its message: the evidence for a flake.
          for (const p of result.probes) {
            if (p.passed || row.named.includes(p.name) || row.alsoFails?.includes(p.name)) continue;
            const why = p.message.split("\n").slice(0, 4).join(" / ");
            console.log(`  ${row.name}, seed ${result.seed}: ${p.name}: ${why}`);
          }
        } catch (err) {
          row.errors.push((err as Error).message.split("\n")[0]);
        }
      }
      const v = verdict(row);
      console.log(`${kitName} ${row.kind} ${row.name}: ${v.length ? v.join("; ") : "ok"}`);
      rows.push(row);
    }
  }
  console.log(`\n${table(rows)}`);
  return rows.every((r) => verdict(r).length === 0) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
