import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOSTILE, PLANTED, writeTestBatch } from "./_test_batch.ts";
import { compareSubmissions, type PairResult, type SourceFile } from "./compare.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "autograder/staff/similarity.ts");
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** A planted copy must score at least this; an independent pair at most the other. */
const PLANTED_MIN = 0.5;
const INDEPENDENT_MAX = 0.3;

async function similarity(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function starterFiles(): SourceFile[] {
  return ["server.ts", "client.ts"].map((name) => ({
    name,
    text: Deno.readTextFileSync(join(ROOT, "assignments/01-echo", name)),
  }));
}

Deno.test("compare: submissions that only share the starter score 0", () => {
  const starter = starterFiles();
  const edited = starter.map((f) => ({ ...f, text: `${f.text}\n// TODO: finish\nconst x = 1;\n` }));
  const run = compareSubmissions([
    { name: "a", files: starter },
    { name: "b", files: edited },
  ], starter);
  assert.equal(run.pairs[0].score, 0);
  assert.deepEqual(run.pairs[0].matches, []);
  // Without the starter as base code the same pair is identical, so the exclusion is what works.
  assert.equal(
    compareSubmissions([{ name: "a", files: starter }, { name: "b", files: edited }], [])
      .pairs[0].score,
    1,
  );
});

Deno.test("compare: a copy moved into another file still matches, with its line ranges", () => {
  const text = Deno.readTextFileSync(join(ROOT, "solutions/01-echo/client.ts"));
  const run = compareSubmissions([
    { name: "a", files: [{ name: "client.ts", text }] },
    { name: "b", files: [{ name: "server.ts", text: `\n\n${text}` }] },
  ], []);
  const [pair] = run.pairs;
  assert.equal(pair.score, 1);
  const first = pair.matches[0];
  assert.equal(first.a.file, "client.ts");
  assert.equal(first.b.file, "server.ts");
  assert.equal(first.b.start, first.a.start + 2);
  assert.equal(pair.matches.length, 1, "one contiguous copy should be one region");
});

Deno.test("similarity: planted copies rank on top, independent solutions score low", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "similarity-" });
  try {
    const batch = join(scratch, "submissions");
    await Deno.mkdir(batch);
    await writeTestBatch(batch);
    const out = join(scratch, "out"), json = join(scratch, "pairs.json");
    const run = await similarity(["01-echo", batch, "--out", out, "--json", json]);
    assert.equal(run.code, 0, run.stderr);
    const record = JSON.parse(await Deno.readTextFile(json));
    const name = (p: PairResult) => `${p.a} ↔ ${p.b}`;
    const pairs: PairResult[] = record.pairs;
    const scores = pairs.map((p) => `${name(p)} ${p.score.toFixed(2)}`).join(", ");
    assert.deepEqual(pairs.slice(0, 2).map(name).sort(), PLANTED, scores);
    for (const p of pairs) {
      const planted = PLANTED.includes(name(p));
      if (planted) assert.ok(p.score >= PLANTED_MIN, `${name(p)} scored only ${p.score}`);
      else assert.ok(p.score <= INDEPENDENT_MAX, `independent ${name(p)} scored ${p.score}`);
      assert.ok(Math.abs(p.score - Math.max(p.aInB, p.bInA)) < 1e-9);
    }
    const starters = pairs.find((p) => name(p) === "starter-1 ↔ starter-2")!;
    assert.equal(starters.score, 0);
    const top: PairResult = pairs[0];
    assert.ok(top.matches.length > 0 && top.matches.every((m) => m.a.start <= m.a.end));
    assert.match(record.note, /not a verdict/);

    const report = await Deno.readTextFile(join(out, "report.html"));
    assert.match(report, /not a verdict/);
    assert.equal(report.match(/<tr class="pair">/g)?.length, pairs.length);
    const page = await Deno.readTextFile(join(out, "pair-0001.html"));
    assert.match(page, /<span class="l hl m0" id="a\d+-\d+" data-match="1">/);
    assert.ok(!page.includes("<script>"), "submission text must be escaped");
    assert.ok(page.includes("&lt;script&gt;alert(&quot;copied&quot;)"), HOSTILE);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("similarity: command-line errors are one line and a non-zero exit", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "similarity-" });
  try {
    await Deno.mkdir(join(scratch, "only-one"));
    const cases: [string[], RegExp][] = [
      [["no-such-kit", scratch], /^similarity: Unknown kit "no-such-kit": known kits are 01-echo/],
      [["01-echo", join(scratch, "missing")], /^similarity: No such directory: .*missing$/],
      [["01-echo", scratch], /^similarity: Need at least 2 submissions .* found 1$/],
      [["01-echo"], /^similarity: usage: deno task similarity/],
    ];
    const runs = await Promise.all(cases.map(([args]) => similarity(args)));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, run.stderr);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0], cases[i][1]);
    });
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
