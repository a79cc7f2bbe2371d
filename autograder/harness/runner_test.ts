import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkProbes, runKit, type RunOptions, selectProbes } from "./runner.ts";
import { isAlive } from "./process.ts";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const kitDir = here("../fixtures/kit");

function run(submission: string, options: Partial<RunOptions> = {}) {
  return runKit({ kitDir, submissionDir: here(`../fixtures/${submission}`), seed: 1, ...options });
}

Deno.test("runKit passes a working server and stops it", async () => {
  const seen: string[] = [];
  const r = await run("ok", {
    only: ["connects"],
    onStart: (p) => seen.push(`start ${p.name}`),
    onResult: (p) => seen.push(`done ${p.name}`),
  });
  assert.deepEqual(seen, ["start connects", "done connects"]);
  assert.equal(r.assignment, "fixture");
  assert.equal(r.score, 1);
  assert.equal(r.maxScore, 1);
  assert.equal(r.probes[0].passed, true, r.probes[0].message);
  assert.deepEqual(r.notes.filter((n) => !n.startsWith("user:")), []);
});

Deno.test("runKit fails a probe that never settles, at its deadline", async () => {
  const started = Date.now();
  const r = await run("ok", { only: ["never-settles"] });
  assert.equal(r.probes[0].passed, false);
  assert.match(r.probes[0].message, /did not finish within 0\.3 s \(deadline\)/);
  assert.ok(Date.now() - started < 3000);
});

Deno.test("runKit turns a throwing probe into a failure and goes on", async () => {
  const r = await run("ok", { only: ["throws", "connects", "fails"] });
  assert.deepEqual(r.probes.map((p) => [p.name, p.passed]), [
    ["connects", true],
    ["throws", false],
    ["fails", false],
  ]);
  assert.equal(r.probes[1].message, "TypeError: boom");
  assert.match(r.probes[2].message, /expected: "ab\\n" \(3 bytes\)\ngot: +"a" \(1 byte\)/);
  assert.match(r.probes[2].message, /first difference at byte 1/);
  assert.equal(r.score, 1);
  assert.equal(r.maxScore, 4);
});

Deno.test("runKit gives up on a server that never listens", async () => {
  const started = Date.now();
  const r = await run("never_listens", { only: ["connects"], readyMs: 800 });
  const p = r.probes[0];
  assert.equal(p.passed, false);
  assert.match(p.message, /did not accept connections on 127\.0\.0\.1:\d+ within 0\.8 s/);
  assert.match(p.message, /starting, but never listening/);
  assert.equal(p.serverOutput, undefined, "the output is in the message already; not twice");
  assert.ok(Date.now() - started < 5000);
});

Deno.test("runKit reports a server that exits before listening", async () => {
  const r = await run("exits_early", { only: ["connects"] });
  assert.match(r.probes[0].message, /Server exited \(exit code 3\) before accepting/);
  assert.match(r.probes[0].message, /bad configuration/);
});

Deno.test("runKit says so when a probe threw after its server exited by itself", async () => {
  const r = await run("crashes", { only: ["dials-twice", "throws"] });
  const [dials, throws] = ["dials-twice", "throws"].map((n) => r.probes.find((p) => p.name === n)!);
  assert.match(
    dials.message,
    /^the server exited by itself during this probe \(exit code 1\), so the probe could not go on: ConnectionRefused/,
  );
  assert.match(dials.serverOutput ?? "", /uncaught ConnectionReset/);
  assert.equal(throws.message, "TypeError: boom", "no server, nothing added");
  const ok = await run("ok", { only: ["dials-twice"] });
  assert.equal(ok.probes[0].passed, true, ok.probes[0].message);
});

Deno.test("runKit finishes with a server that floods stdout", async () => {
  const r = await run("floods", { only: ["connects"] });
  assert.equal(r.probes[0].passed, true, r.probes[0].message);
});

Deno.test("runKit stops the servers of a probe and reports stragglers in notes", async () => {
  const r = await run("escapes_group", { only: ["connects"] });
  assert.equal(r.probes[0].passed, true);
  const notes = r.notes.filter((n) => !n.startsWith("user:"));
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^connects: killed processes left behind by pid \d+: \d+$/);
  const pid = Number(notes[0].match(/: (\d+)$/)![1]);
  const end = Date.now() + 2000;
  while (isAlive(pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  assert.equal(isAlive(pid), false);
});

Deno.test("runKit fails the remaining probes once the budget is spent", async () => {
  const r = await run("ok", { only: ["never-settles", "throws"], budgetMs: 100 });
  assert.match(r.probes[0].message, /run budget exhausted after 0\.1 s/);
  assert.equal(r.probes[1].message, "run budget exhausted");
});

Deno.test("runKit refuses unknown probe names; missing files give a run that scores 0, saying why", async () => {
  await assert.rejects(run("ok", { only: ["nope"] }), /Unknown probe nope: the kit has connects/);
  const r = await run("no_such_dir", { only: ["connects", "fails"] });
  assert.equal(r.score, 0);
  assert.deepEqual(r.probes.map((p) => p.name), ["connects", "fails"]);
  for (const p of r.probes) assert.match(p.message, /^not run: Missing files in .*: server\.ts$/);
  assert.match(r.notes[0], /could not be graded: Missing files/);
});

Deno.test("runKit skips the probes that need a gate whose server was silent, saying where to look", async () => {
  const only = ["answers", "needs-answers"];
  const silent = await run("silent", { only });
  assert.deepEqual(silent.probes.map((p) => p.passed), [false, false]);
  assert.equal(
    silent.probes[1].message,
    'not run: in "answers", the server accepted connections but sent nothing back; ' +
      'this probe needs a server that answers, so fix "answers" first',
  );
  assert.equal(silent.probes[1].ms, 0);
  const never = await run("never_listens", { only, readyMs: 500 });
  assert.match(never.probes[1].message, /^not run: in "answers", the server never listened; /);
  // A server that exits before listening fails fast each time, with its output: no skipping.
  const exits = await run("exits_early", { only });
  assert.match(exits.probes[0].message, /before accepting connections/);
  assert.equal(exits.probes[1].passed, true, "it ran");
  // The ok server closes at once: "answers" fails, but the server is not silent.
  const closes = await run("ok", { only });
  assert.deepEqual(closes.probes.map((p) => p.passed), [false, true]);
  // Without the gate in the run, the probe runs.
  assert.equal((await run("silent", { only: ["needs-answers"] })).probes[0].passed, true);
});

Deno.test("checkProbes and selectProbes validate a kit's export", () => {
  assert.throws(() => checkProbes({}, "k"), /k: must export "probes" as an array/);
  assert.throws(
    () => checkProbes([{ name: "Bad Name" }], "k"),
    /k: probes\[0\]\.name: must be kebab-case/,
  );
  const p = {
    name: "a",
    title: "A",
    points: 1,
    visibility: "visible",
    deadlineMs: 1,
    hint: "",
    run: () => Promise.resolve({ passed: true, message: "" }),
  };
  assert.throws(() => checkProbes([p, p], "k"), /duplicate probe "a"/);
  assert.throws(() => checkProbes([{ ...p, run: 1 }], "k"), /probes\[0\]\.run: must be a function/);
  assert.deepEqual(selectProbes(checkProbes([p], "k"), []).length, 1);
  const later = { ...p, name: "b", needs: "a" };
  assert.equal(checkProbes([p, later], "k").length, 2);
  assert.throws(
    () => checkProbes([later, p], "k"),
    /probe "b" needs "a", which must come before it/,
  );
});

Deno.test("loadKit adds the probes of hidden_probes.ts after the public ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hidden-kit-" });
  try {
    const manifest = JSON.parse(await Deno.readTextFile(`${kitDir}/manifest.json`));
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest));
    const probe = (name: string, visibility: string) =>
      `{ name: "${name}", title: "t", points: 1, visibility: "${visibility}", deadlineMs: 1000, ` +
      `hint: "h", run: (ctx) => Promise.resolve(ctx.pass()) }`;
    await Deno.writeTextFile(
      `${dir}/probes.ts`,
      `export const probes = [${probe("open", "visible")}];`,
    );
    await Deno.writeTextFile(
      `${dir}/hidden_probes.ts`,
      `export const probes = [${probe("secret", "hidden")}];`,
    );
    const r = await runKit({ kitDir: dir, submissionDir: here("../fixtures/ok"), seed: 1 });
    assert.deepEqual(r.probes.map((p) => [p.name, p.visibility, p.passed]), [
      ["open", "visible", true],
      ["secret", "hidden", true],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
