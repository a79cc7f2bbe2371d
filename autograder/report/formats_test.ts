import assert from "node:assert/strict";
import { escapeXml, toAutolab, toJunit } from "./formats.ts";
import type { ProbeResult, RunResult } from "./result.ts";

function probe(name: string, passed: boolean, message = ""): ProbeResult {
  const points = 2;
  return {
    name,
    title: name,
    points,
    score: passed ? points : 0,
    passed,
    message,
    hint: "README.md §4",
    visibility: "visible",
    ms: 120,
  };
}

const run: RunResult = {
  assignment: "01-echo",
  submission: "/tmp/s",
  seed: 42,
  startedAt: "2026-11-24T10:00:00Z",
  ms: 1500,
  score: 2,
  maxScore: 4,
  probes: [probe("ok-probe", true), probe("bad-probe", false, 'got "<\x01&>"\nsecond line')],
  notes: [],
};

Deno.test("escapeXml escapes markup and drops characters XML forbids", () => {
  assert.equal(
    escapeXml('<a href="x">&\x01\x1b</a>'),
    "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;",
  );
});

Deno.test("toJunit: one testcase per probe, failures with message and hint", () => {
  const xml = toJunit(run);
  assert.match(xml, /<testsuite name="01-echo" tests="2" failures="1" errors="0" time="1.500">/);
  assert.match(xml, /<testcase classname="01-echo" name="ok-probe" time="0.120"\/>/);
  assert.match(xml, /<failure message="got &quot;&lt;&amp;&gt;&quot;">/);
  assert.match(xml, /second line\nhint: README.md §4<\/failure>/);
  assert.match(xml, /<property name="seed" value="42"\/>/);
});

Deno.test("toAutolab: scores by probe and a scoreboard total", () => {
  assert.deepEqual(JSON.parse(toAutolab(run)), {
    scores: { "ok-probe": 2, "bad-probe": 0 },
    scoreboard: [2],
  });
});
