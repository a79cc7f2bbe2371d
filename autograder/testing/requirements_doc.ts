/**
 * `docs/requirements.md`, made from every kit's `expect.json`: per kit, each handout requirement
 * with the section that states it, the probes that check it and the buggy variants that break
 * it. `deno run -A autograder/testing/requirements_doc.ts` rewrites the file; a test checks that
 * it is up to date.
 *
 * @module
 */

import { join } from "node:path";
import { knownAssignments } from "../harness/grade.ts";
import { REPO_ROOT } from "../harness/submission.ts";
import { loadExpectations } from "./expectations.ts";

/** Where the document lives. */
export const REQUIREMENTS_DOC: string = join(REPO_ROOT, "docs", "requirements.md");

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The document, from the kits' data. */
export async function requirementsDoc(): Promise<string> {
  const kitsDir = join(REPO_ROOT, "autograder", "kits");
  const out = [
    "# What each kit requires, and how it is checked",
    "",
    "Made from `autograder/kits/<kit>/expect.json` by",
    "`deno run -A autograder/testing/requirements_doc.ts`; do not edit by hand. Each row is a MUST",
    "or MUST NOT of the kit's handout, the probes that check it, and the buggy variants (patches",
    "in `autograder/kits/<kit>/variants/`) that break it. The kit tests prove every variant fails",
    "its probes; `deno task validate` proves no correct design fails them.",
  ];
  for (const kit of knownAssignments(kitsDir)) {
    const e = await loadExpectations(join(kitsDir, kit));
    const variants = Object.keys(e.variants).length;
    const alternatives = Object.keys(e.alternatives).length;
    out.push("", `## ${kit}`, "");
    out.push(
      `${e.requirements.length} requirements, ${variants} buggy variants, ` +
        `${alternatives} alternative designs (${Object.keys(e.alternatives).join(", ")}).`,
      "",
    );
    if (e.requirements.length === 0) {
      out.push("No requirements table yet.");
      continue;
    }
    out.push("| requirement | section | probes | variants |", "| --- | --- | --- | --- |");
    for (const r of e.requirements) {
      out.push(
        `| ${cell(r.says)} | ${cell(r.section)} | ${r.probes.join(", ")} | ${
          r.variants.join(", ")
        } |`,
      );
    }
  }
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  await Deno.writeTextFile(REQUIREMENTS_DOC, await requirementsDoc());
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--line-width", "100", REQUIREMENTS_DOC],
  });
  await fmt.output();
  console.log(`wrote ${REQUIREMENTS_DOC}`);
}
