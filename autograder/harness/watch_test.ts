import assert from "node:assert/strict";
import type { RunResult } from "./runner.ts";
import { watchRounds } from "./watch.ts";

Deno.test("watch: after a save, the probes that failed last run first, then the rest", () => {
  const last = {
    probes: [
      { name: "a", passed: true },
      { name: "b", passed: false },
      { name: "c", passed: true },
      { name: "d", passed: false },
    ],
  } as unknown as RunResult;
  assert.deepEqual(watchRounds(null, ["a", "b", "c", "d"]), [["a", "b", "c", "d"]]);
  assert.deepEqual(watchRounds(last, ["a", "b", "c", "d"]), [["b", "d"], ["a", "c"]]);
  const allPassed = { probes: [{ name: "a", passed: true }] } as unknown as RunResult;
  assert.deepEqual(watchRounds(allPassed, ["a"]), [["a"]]);
});
