import assert from "node:assert/strict";
import { type BoardRow, leaderboardCsv, leaderboardHtml, ranks } from "./leaderboard.ts";

const rows: BoardRow[] = [
  {
    student: "ann",
    entries: [{ name: "rps", value: 100, order: "desc" }, { name: "p99", value: 5, order: "asc" }],
  },
  {
    student: "bo<b>",
    entries: [{ name: "rps", value: 300, order: "desc" }, { name: "p99", value: 9, order: "asc" }],
  },
  {
    student: "cy",
    entries: [{ name: "rps", value: 300, order: "desc" }, { name: "p99", value: 1, order: "asc" }],
  },
];

Deno.test("leaderboard ranks each figure in its own order, ties sharing a rank", () => {
  const r = ranks(rows);
  assert.deepEqual([...r.get("cy")!], [["rps", 1], ["p99", 1]]);
  assert.deepEqual([...r.get("bo<b>")!], [["rps", 1], ["p99", 3]]);
  assert.deepEqual([...r.get("ann")!], [["rps", 3], ["p99", 2]]);
});

Deno.test("leaderboard CSV and HTML list the best first, and escape names", () => {
  const csv = leaderboardCsv(rows).split("\n");
  assert.equal(csv[0], "student,rps,rank: rps,p99,rank: p99");
  assert.equal(csv[1], "cy,300,1,1,1");
  const html = leaderboardHtml("04-poll", rows);
  assert.ok(html.includes("bo&lt;b&gt;") && !html.includes("bo<b>"));
  assert.ok(html.indexOf(">cy<") < html.indexOf(">ann<"));
});
