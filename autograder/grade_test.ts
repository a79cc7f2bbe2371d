import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { GradescopeResultsSchema } from "./results.ts";
import { knownAssignments, parseCommandLine } from "./grade.ts";

const grade = fileURLToPath(new URL("./grade.ts", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures", import.meta.url));

async function cli(args: string[], cwd = fixtures) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", grade, ...args],
    cwd,
    env: { NO_COLOR: "1", INIT_CWD: cwd },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("grade: unknown assignment exits 2 with one line naming the known ones", async () => {
  const r = await cli(["99-nope", "--kits", "."]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'grade: unknown assignment "99-nope" (known: kit)\n');
});

Deno.test("grade: missing submission files exit 2 with one line", async () => {
  const r = await cli(["kit", "never_listens/..", "--kits", "."]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^grade: Missing files in \/.*\/fixtures: server\.ts\n$/);
});

Deno.test("grade: bad arguments exit 2 with one line and the usage", async () => {
  const r = await cli(["kit", "--bogus"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^grade: Unknown option '--bogus'.* \(usage: deno task grade /);
  assert.equal(r.stderr.split("\n").length, 2);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
});

Deno.test("grade: a run with failures exits 1 and writes a valid results.json", async () => {
  const results = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const args = ["kit", "ok", "--kits", ".", "--only", "connects,fails", "--seed", "5"];
    const r = await cli([...args, "--results", results]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /PASS {2}connects +1\/1/);
    assert.match(r.stdout, /FAIL {2}fails +0\/2/);
    assert.match(r.stdout, /hint: README\.md §1/);
    assert.match(r.stdout, /1\/2 probes passed, score 1\/3, .*seed 5/);
    const parsed = GradescopeResultsSchema.parse(JSON.parse(await Deno.readTextFile(results)));
    assert.equal(parsed.score, 1);
  } finally {
    await Deno.remove(results);
  }
});

Deno.test("grade: a fully passing run exits 0", async () => {
  const r = await cli(["kit", "ok", "--kits", ".", "--only", "connects"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
});

Deno.test("parseCommandLine resolves paths against the user's directory", () => {
  const c = parseCommandLine(["01-echo", "sub", "--results", "r.json", "--seed", "9"], "/home/u");
  assert.equal(c.submissionDir, "/home/u/sub");
  assert.equal(c.results, "/home/u/r.json");
  assert.equal(c.seed, 9);
  assert.throws(() => parseCommandLine([], "/"), /missing <assignment>/);
  assert.throws(() => parseCommandLine(["x", "--seed", "abc"], "/"), /^UsageError: seed: /);
  assert.throws(() => parseCommandLine(["x", "--seed", "1.5"], "/"), /^UsageError: seed: /);
  assert.throws(() => parseCommandLine(["a", "b", "c"], "/"), /unexpected argument "c"/);
  assert.deepEqual(knownAssignments(fixtures), ["kit"]);
});
