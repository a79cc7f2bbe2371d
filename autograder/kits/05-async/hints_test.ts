/**
 * What a student reads points where it should: every probe's hint, visible or hidden, names a
 * section of the handout that exists, and each `todo(...)` of the starter names sections (number
 * and title, as the handout spells them) that the hints of the probes exercising it name too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../../harness/submission.ts";
import { probes as hidden } from "./hidden_probes.ts";
import { probes } from "./probes.ts";

const STARTER = join(REPO_ROOT, "assignments", "05-async");
const handout = await Deno.readTextFile(join(STARTER, "README.md"));
/** "§6 A pool of backend connections", by number. */
const sections = new Map(
  [...handout.matchAll(/^## (\d+) (.+)$/gm)].map((m) => [m[1], `§${m[1]} ${m[2]}`]),
);
const hints = [...probes, ...hidden].map((p) => ({ name: p.name, hint: p.hint }));

Deno.test("05-async: every probe's hint names a section of the handout", () => {
  const titles = new Set(sections.values());
  const wrong = hints.filter((p) => !titles.has(p.hint.replace(/^README\.md /, "")));
  assert.deepEqual(wrong, []);
});

Deno.test("05-async: each starter todo names handout sections, as the probes' hints do", async () => {
  const hinted = new Set(hints.map((p) => p.hint.replace(/^README\.md /, "")));
  const wrong: string[] = [];
  for (const file of ["server.ts", "backend.ts", "hashers.ts"]) {
    const text = await Deno.readTextFile(join(STARTER, file));
    for (const [call] of text.matchAll(/todo\([\s\S]*?\);/g)) {
      const numbers = [...call.matchAll(/§(\d+)/g)].map((m) => m[1]);
      if (numbers.length === 0) wrong.push(`${file}: ${call} names no section`);
      for (const n of numbers) {
        const title = sections.get(n);
        if (title === undefined) wrong.push(`${file}: §${n} is no section of the handout`);
        else if (!call.includes(title)) wrong.push(`${file}: ${call} does not spell "${title}"`);
        else if (!hinted.has(title)) wrong.push(`${file}: no probe's hint names "${title}"`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
