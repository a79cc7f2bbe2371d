import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CGROUP_ROOT, kernelFs, PARENT } from "../sandbox/cgroups.ts";
import { GradescopeResultsSchema } from "../report/gradescope.ts";
import { knownAssignments, modeNote, parseCommandLine } from "./grade.ts";
import { isAlive, within } from "./process.ts";
import { runKit } from "./runner.ts";
import { processesMatching } from "../sandbox/sandbox.ts";

const grade = fileURLToPath(new URL("./grade.ts", import.meta.url));
const fixtures = fileURLToPath(new URL("../fixtures", import.meta.url));

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

Deno.test("grade: missing submission files score 0 with the reason in every probe, results written", async () => {
  const results = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await cli(["kit", "never_listens/..", "--kits", ".", "--results", results]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /not run: Missing files in .*: server\.ts/);
    const written = GradescopeResultsSchema.parse(JSON.parse(await Deno.readTextFile(results)));
    assert.equal(written.score, 0);
    assert.ok(written.tests.length > 0);
    for (const t of written.tests) assert.match(t.output ?? "", /Missing files in .*: server\.ts/);
  } finally {
    await Deno.remove(results);
  }
});

Deno.test("grade --help prints the usage and what each option does, and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: deno task grade <assignment>/);
  assert.match(r.stdout, /--no-sandbox +do not/);
  assert.equal(r.stderr, "");
});

Deno.test("grade: bad arguments exit 2 with one line and the usage", async () => {
  const r = await cli(["kit", "--bogus"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^grade: Unknown option '--bogus'.* \(usage: deno task grade /);
  assert.equal(r.stderr.split("\n").length, 2);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
});

Deno.test("grade: an output file in a missing directory exits 2 before grading", async () => {
  const r = await cli(["kit", "ok", "--kits", ".", "--results", "/nonexistent-dir/r.json"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    "grade: cannot write /nonexistent-dir/r.json: no directory /nonexistent-dir\n",
  );
  assert.equal(r.stdout, "", "nothing was graded");
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

Deno.test("grade sandboxes someone else's code by default, and every report names the mode", () => {
  const other = parseCommandLine(["01-echo", "sub"], "/home/ta");
  assert.equal(other.sandbox, true);
  assert.match(modeNote(other), /^mode: sandboxed/);
  const own = parseCommandLine(["01-echo"], "/home/u");
  assert.equal(own.sandbox, false, "the student's own assignments/01-echo");
  assert.match(modeNote(own), /^mode: not sandboxed \(the student's own assignments\/01-echo;/);
  const asked = parseCommandLine(["01-echo", "sub", "--no-sandbox"], "/home/ta");
  assert.equal(asked.sandbox, false);
  assert.match(modeNote(asked), /^mode: NOT sandboxed \(--no-sandbox\)/);
  assert.equal(parseCommandLine(["01-echo", "--sandbox"], "/").sandbox, true);
  assert.throws(() => parseCommandLine(["01-echo", "--sandbox", "--no-sandbox"]), /contradict/);
  assert.equal(other.submissionLabel, "sub", "reports show the submission as given");
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

/**
 * A kit whose first probe starts the server, says so (on stdout, and as an event for a test in
 * this process), and then waits for the server to exit, as a probe of a crash does; its second
 * probe starts another server. Written into `dir`.
 */
async function writeHoldingKit(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const manifest = {
    name: "holding",
    title: "A probe that holds the server up until the run is stopped",
    handout: "README.md",
    files: ["server.ts"],
    entries: { server: { file: "server.ts", args: ["--port", "{port}"] } },
    budgetMs: 120_000,
  };
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  await Deno.writeTextFile(
    join(dir, "probes.ts"),
    `const base = { points: 1, visibility: "visible", hint: "README.md §1", deadlineMs: 120_000 };
export const probes = [
  {
    ...base,
    name: "holds",
    title: "holds the server up",
    async run(ctx) {
      const server = await ctx.startServer();
      const up = { pid: server.pid, runDir: Deno.env.get("TMPDIR") };
      console.log(\`server up: \${up.pid} \${up.runDir}\`);
      globalThis.dispatchEvent(new CustomEvent("holding-kit:up", { detail: up }));
      await server.status;
      return ctx.fail({ what: "the server went away" });
    },
  },
  {
    ...base,
    name: "after",
    title: "the probe after it",
    async run(ctx) {
      await ctx.startServer();
      return ctx.pass();
    },
  },
];
`,
  );
}

/** The cgroups `pid` is in, from /proc ("" once it is gone). */
function cgroupsOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cgroup`);
  } catch {
    return "";
  }
}

/** The directories the run `name`'s cgroups have, in either cgroup version. */
function cgroupDirs(name: string): string[] {
  return ["", "memory", "pids"].map((h) => join(CGROUP_ROOT, h, PARENT, name));
}

function exists(path: string): boolean {
  return kernelFs.exists(path);
}

for (const sandbox of [false, true]) {
  Deno.test(`runKit with a stopped signal${sandbox ? " (sandboxed)" : ""}: the probe is cut short, none starts after, all cleaned up`, async () => {
    const kits = await Deno.makeTempDir({ prefix: "holding-kit-" });
    try {
      await writeHoldingKit(join(kits, "holding"));
      const stop = new AbortController();
      const started: string[] = [];
      let up: { pid: number; runDir: string; cgroups: string } | undefined;
      const onUp = (e: Event) => {
        up = { ...(e as CustomEvent).detail, cgroups: cgroupsOf((e as CustomEvent).detail.pid) };
        stop.abort(new Error("stopped by the test"));
      };
      globalThis.addEventListener("holding-kit:up", onUp, { once: true });
      const run = runKit({
        kitDir: join(kits, "holding"),
        submissionDir: join(fixtures, "ok"),
        sandbox,
        signal: stop.signal,
        onStart: (p) => started.push(p.name),
      });
      const outcome = await within(
        run.then(() => "finished", (e: Error) => e.message),
        60_000,
        null,
      );
      globalThis.removeEventListener("holding-kit:up", onUp);
      assert.equal(outcome, "stopped by the test");
      assert.deepEqual(started, ["holds"], "no probe starts after the stop");
      assert.ok(up !== undefined);
      assert.equal(isAlive(up.pid), false, "the server was stopped");
      if (sandbox) {
        assert.match(up.cgroups, new RegExp(`/${PARENT}/${basename(up.runDir)}\n`), "it was in");
        assert.deepEqual(processesMatching(up.runDir), [], "no student process is left");
        assert.equal(exists(up.runDir), false, "the run's directory is removed");
        for (const dir of cgroupDirs(basename(up.runDir))) assert.equal(exists(dir), false, dir);
      }
    } finally {
      await Deno.remove(kits, { recursive: true });
    }
  });
}

Deno.test("grade --sandbox: SIGTERM stops the run, then cleans up and exits, leaving nothing", async () => {
  const kits = await Deno.makeTempDir({ prefix: "holding-kit-" });
  try {
    await writeHoldingKit(join(kits, "holding"));
    const args = ["run", "--allow-all", grade, "holding", join(fixtures, "ok"), "--kits", kits];
    const results = join(kits, "results.json");
    const child = new Deno.Command(Deno.execPath(), {
      args: [...args, "--sandbox", "--results", results],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stdout = "";
    let serverUp: (m: RegExpMatchArray) => void = () => {};
    const up = new Promise<RegExpMatchArray>((resolve) => serverUp = resolve);
    const reading = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        stdout += chunk;
        const m = stdout.match(/^server up: (\d+) (\S+)$/m);
        if (m !== null) serverUp(m);
      }
    })();
    const stderr = new Response(child.stderr).text();
    const m = await within(up, 60_000, null);
    const cgroups = m === null ? "" : cgroupsOf(Number(m[1]));
    if (m !== null) child.kill("SIGTERM");
    const status = await within(child.status, 10_000, null);
    if (status === null) child.kill("SIGKILL");
    await child.status;
    await reading;
    const output = `${stdout}${await stderr}`;
    assert.ok(m !== null, `the server came up: ${output}`);
    assert.equal(status?.code, 143, `it exited on its own, as stopped by SIGTERM: ${output}`);
    const [pid, runDir] = [Number(m[1]), m[2]];
    assert.match(cgroups, new RegExp(`/${PARENT}/${basename(runDir)}\n`), "the server was in");
    assert.doesNotMatch(stdout, /the probe after it/, "no probe starts once stopped");
    assert.match(output, /grade: stopped by SIGTERM/);
    // The results say what ran: the probe cut short failed, the one after it did not run.
    const written = GradescopeResultsSchema.parse(JSON.parse(await Deno.readTextFile(results)));
    assert.deepEqual(written.tests.map((t) => t.status), ["failed", "failed"]);
    assert.match(written.tests[0].output ?? "", /grading was stopped before the probe finished/);
    assert.match(written.tests[1].output ?? "", /not run: grading was stopped/);
    assert.match(written.output ?? "", /grading was stopped \(stopped by SIGTERM\)/);
    assert.equal(isAlive(pid), false, "the server is gone");
    assert.deepEqual(processesMatching(runDir), [], "no student process is left");
    assert.deepEqual(processesMatching(kits), [], "no grader or bubblewrap is left");
    assert.equal(exists(runDir), false, "the run's directory is removed");
    for (const dir of cgroupDirs(basename(runDir))) assert.equal(exists(dir), false, dir);
  } finally {
    await Deno.remove(kits, { recursive: true });
  }
});

Deno.test("grade: stopped, with a clean-up slower than its 2 s, still writes the probes that finished", async () => {
  const kits = await Deno.makeTempDir({ prefix: "slow-stop-kit-" });
  try {
    const dir = join(kits, "slowstop");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      join(dir, "manifest.json"),
      JSON.stringify({
        name: "slowstop",
        title: "A run whose clean-up outlasts the grader's patience",
        handout: "README.md",
        files: ["server.ts"],
        entries: { server: { file: "server.ts", args: ["--port", "{port}"] } },
        budgetMs: 120_000,
      }),
    );
    // The second probe, once stopped, keeps the grader busy for 4 s: the run cannot end in time.
    await Deno.writeTextFile(
      join(dir, "probes.ts"),
      `const base = { points: 1, visibility: "visible", hint: "README.md §1", deadlineMs: 120_000 };
export const probes = [
  { ...base, name: "quick", title: "passes at once", run: (ctx) => ctx.pass("quick") },
  {
    ...base,
    name: "holds",
    title: "holds the server up, and is slow to let go",
    async run(ctx) {
      const server = await ctx.startServer();
      ctx.signal.addEventListener("abort", () => setTimeout(() => {
        const end = Date.now() + 4_000;
        while (Date.now() < end) { /* busy */ }
      }, 0));
      console.log("SERVER-IS-UP");
      await server.status;
      return ctx.fail({ what: "the server went away" });
    },
  },
  { ...base, name: "after", title: "the probe after it", run: (ctx) => ctx.pass() },
];
`,
    );
    const results = join(kits, "results.json");
    await Deno.writeTextFile(results, "{}"); // whatever is there is replaced
    const args = ["run", "--allow-all", grade, "slowstop", join(fixtures, "ok"), "--kits", kits];
    const graded = new Deno.Command(Deno.execPath(), {
      args: [...args, "--results", results],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stdout = "";
    const decoder = new TextDecoder();
    const reader = graded.stdout.getReader();
    const end = Date.now() + 60_000;
    while (!stdout.includes("SERVER-IS-UP") && Date.now() < end) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += decoder.decode(value);
    }
    graded.kill("SIGTERM");
    const rest = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        stdout += decoder.decode(value);
      }
    })();
    const errors = new Response(graded.stderr).text();
    const status = await within(graded.status, 20_000, null);
    if (status === null) graded.kill("SIGKILL");
    await rest;
    const output = `${stdout}${await errors}`;
    assert.equal(status?.code, 143, output);
    assert.match(output, /results written for the probes that finished/);
    const written = GradescopeResultsSchema.parse(JSON.parse(await Deno.readTextFile(results)));
    assert.deepEqual(written.tests.map((t) => t.status), ["passed", "failed", "failed"], output);
    assert.match(written.tests[2].output ?? "", /not run: grading was stopped/);
    assert.match(written.output ?? "", /clean-up took longer than 2 s/, output);
  } finally {
    await Deno.remove(kits, { recursive: true });
  }
});

Deno.test({
  name: "grade works offline: with no network but loopback, a run grades as usual",
  ignore: !new Deno.Command("bwrap", {
    args: ["--dev-bind", "/", "/", "--unshare-net", "true"],
    stderr: "null",
  }).outputSync().success,
  async fn() {
    const out = await new Deno.Command("bwrap", {
      args: ["--dev-bind", "/", "/", "--unshare-net", "--", Deno.execPath(), "run", "--allow-all"]
        .concat([grade, "kit", "ok", "--kits", ".", "--only", "connects", "--sandbox"]),
      cwd: fixtures,
      env: { NO_COLOR: "1", INIT_CWD: fixtures },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    assert.match(stdout, /1\/1 probes passed/);
  },
});
