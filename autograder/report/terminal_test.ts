import assert from "node:assert/strict";
import { formatProbe, formatTotals, probeLine, progressHooks, safeText } from "./terminal.ts";
import type { ProbeResult, RunResult } from "./result.ts";

const pass: ProbeResult = {
  name: "echo-all-bytes",
  title: "echoes every byte value",
  points: 2,
  score: 2,
  passed: true,
  message: "ok",
  hint: "README.md §3",
  visibility: "visible",
  ms: 310,
};
const fail: ProbeResult = { ...pass, score: 0, passed: false, message: "short\nread" };

Deno.test("probeLine is one uniform line", () => {
  assert.equal(probeLine(pass), "  PASS  echo-all-bytes                 2/2    0.31s");
  assert.ok(probeLine(fail, true).includes("\x1b[31mFAIL\x1b[0m"));
});

Deno.test("formatProbe indents the message and hint of a failure", () => {
  assert.equal(formatProbe(pass), probeLine(pass) + "\n");
  const text = formatProbe({ ...fail, serverOutput: "boom" });
  assert.match(
    text,
    /\n {8}short\n {8}read\n {8}hint: README\.md §3\n {8}server output:\n {10}boom\n$/,
  );
});

Deno.test("formatTotals and progress hooks", () => {
  const run: RunResult = {
    assignment: "a",
    submission: "/s",
    seed: 3,
    startedAt: "",
    ms: 1234,
    score: 2,
    maxScore: 4,
    probes: [pass, fail],
    notes: ["x: killed"],
  };
  assert.match(
    formatTotals(run),
    /1\/2 probes passed, score 2\/4, 1\.2s, seed 3\n {2}note: x: killed\n$/,
  );
  let out = "";
  const hooks = progressHooks({ color: false, write: (t) => out += t });
  hooks.onStart!({
    ...pass,
    deadlineMs: 1,
    run: () => Promise.resolve({ passed: true, message: "" }),
  });
  hooks.onResult!(pass);
  assert.equal(out, "  …     echo-all-bytes  echoes every byte value\n" + probeLine(pass) + "\n");
});

Deno.test("no control byte of student output reaches the terminal; newline and tab do", () => {
  const hostile = "a\x1b]0;pwned\x07b\x1b[2J\x00c\r\x9b31m\td\ne";
  const text = formatProbe({ ...fail, message: hostile, serverOutput: hostile }) +
    probeLine({ ...pass, message: hostile });
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  assert.match(text, /a\\x1b\]0;pwned\\x07b\\x1b\[2J\\x00c\\x0d\\x9b31m\td\n/);
  assert.equal(safeText("tab\there\nnext"), "tab\there\nnext");
});
