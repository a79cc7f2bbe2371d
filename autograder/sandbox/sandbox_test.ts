import assert from "node:assert/strict";
import { join } from "node:path";
import { CGROUP_ROOT, PARENT } from "./cgroups.ts";
import { cappedText, startChild, within } from "../harness/process.ts";
import { openSandbox, type Sandbox, type SandboxLimits } from "./sandbox.ts";
import { REPO_ROOT } from "../harness/submission.ts";
import { claimStudentUser } from "./student_user.ts";

// The harness loads the course library's FFI (dlopen) when imported: import it once here,
// outside any test, so that the sanitizers do not count it against one.
await import("../harness/runner.ts");
await import("../fixtures/kit/probes.ts");

const hostile = join(REPO_ROOT, "autograder", "fixtures", "hostile");
const limits: SandboxLimits = {
  memoryBytes: 384 << 20,
  pids: 200,
  cpuSeconds: 20,
  openFiles: 256,
  fileSizeBytes: 8 << 20,
  scratchBytes: 32 << 20,
};

/** Runs a hostile script in `sandbox` until it exits or `ms` pass; then stops it. */
async function runHostile(sandbox: Sandbox, script: string, args: string[] = [], ms = 15_000) {
  // The checkout is root's alone: the script is staged, as a submission would be.
  const runDir = Deno.env.get("TMPDIR")!;
  await Deno.copyFile(join(hostile, script), join(runDir, script));
  const { cmd, args: wrapped } = sandbox.wrap(
    Deno.execPath(),
    ["run", "--allow-all", "--no-lock", "--no-config", join(runDir, script), ...args],
    { cwd: runDir, visible: [] },
  );
  const child = startChild(cmd, wrapped, {
    cwd: runDir,
    env: sandbox.env({}),
    clearEnv: true,
  });
  const status = await within(child.status, ms, null);
  await child.stop(200);
  return { status, stdout: cappedText(child.stdout), output: cappedText(child.combined) };
}

function withSandbox(name: string, fn: (sandbox: Sandbox) => Promise<void>) {
  Deno.test(`sandbox: ${name}`, async () => {
    const run = `test-${Deno.pid}-${name.replaceAll(" ", "-")}`;
    const runDir = await Deno.makeTempDir({ prefix: "sandbox-test-" });
    const scratch = join(runDir, "scratch");
    const before = Deno.env.get("TMPDIR");
    Deno.env.set("TMPDIR", runDir);
    const user = Deno.uid() === 0 ? await claimStudentUser() : null;
    await Deno.mkdir(scratch);
    if (user !== null) await Deno.chown(scratch, user.uid, user.gid);
    const sandbox = openSandbox(run, limits, { namespaces: true, user, runDir, scratch });
    try {
      assert.deepEqual(sandbox.notes, [], "this machine provides every mechanism (CI is root)");
      await fn(sandbox);
    } finally {
      await sandbox.close();
      user?.release();
      if (before === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", before);
      await Deno.remove(runDir, { recursive: true });
    }
    // v2's course-grader/<run>, or v1's memory/course-grader/<run> and pids/course-grader/<run>
    for (const hierarchy of ["", "memory", "pids"]) {
      const dir = join(CGROUP_ROOT, hierarchy, PARENT, run);
      await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, `${dir} is removed`);
    }
  });
}

withSandbox("a fork bomb hits the process limit and leaves nothing behind", async (sandbox) => {
  const { output } = await runHostile(sandbox, "fork_bomb.ts", [], 3_000); // it may die of it
  assert.match(output, /Cannot fork|Resource temporarily unavailable/, "it hit the limit");
  await sandbox.close();
  const { processesMatching } = await import("./sandbox.ts");
  assert.deepEqual(processesMatching("f & f & wait"), []);
});

withSandbox("a memory hog is killed at the memory limit", async (sandbox) => {
  const { status, output } = await runHostile(sandbox, "memory_hog.ts");
  // Killed by the cgroup's OOM killer (bubblewrap's init reports SIGKILL as 128 + 9), not dead
  // of anything else, such as failing to start.
  const killed = status?.signal === "SIGKILL" || status?.code === 128 + 9;
  assert.ok(killed, `status ${JSON.stringify(status)}: ${output}`);
});

withSandbox("a double-forked daemon dies with the sandbox", async (sandbox) => {
  const { status, output } = await runHostile(sandbox, "daemon.ts");
  assert.equal(status?.code, 0, `it started its daemon and exited: ${output}`);
  const daemons = (await sleepers()).length;
  assert.equal(daemons, 0, "no `sleep 1000` survives");
});

withSandbox("a submission cannot fill the disk", async (sandbox) => {
  const { status, stdout } = await runHostile(sandbox, "fill_disk.ts");
  // Either a write fails (read-only, no space) or the file-size limit's SIGXFSZ ends it (which
  // bubblewrap's init reports as exit code 128 + 25).
  const xfsz = status?.signal === "SIGXFSZ" || status?.code === 128 + 25;
  assert.ok(xfsz || stdout.includes('"scratch"'), `status ${JSON.stringify(status)}: ${stdout}`);
  assert.doesNotMatch(stdout, /wrote 4 GiB/);
  const own = join(Deno.env.get("TMPDIR")!, "fill");
  await assert.rejects(Deno.stat(own), Deno.errors.NotFound, "its directory is read-only");
});

withSandbox("a submission cannot read the solutions", async (sandbox) => {
  const target = join(REPO_ROOT, "solutions", "01-echo", "server.ts");
  const { stdout } = await runHostile(sandbox, "read_solutions.ts", [target]);
  // Not there (bubblewrap shows no checkout), or not readable (the student user).
  assert.match(JSON.parse(stdout).error, /^(NotFound|PermissionDenied)$/, stdout);
});

withSandbox(
  "a submission has no capabilities: it cannot mount the disk or make devices",
  async (sandbox) => {
    const { cmd, args } = sandbox.wrap(
      "/bin/sh",
      ["-c", "grep CapEff /proc/self/status; mount -t tmpfs none /tmp || echo no-mount"],
      { cwd: "/", visible: [] },
    );
    const child = startChild(cmd, args, { cwd: "/" });
    await within(child.status, 10_000, null);
    await child.stop(200);
    const output = cappedText(child.combined);
    assert.match(output, /CapEff:\s+0+\n/, output);
    assert.match(output, /no-mount/, output);
  },
);

/** `sleep 1000` processes: what the daemon fixture leaves when it escapes. */
async function sleepers(): Promise<number[]> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  const { processesMatching } = await import("./sandbox.ts");
  return processesMatching("sleep\u00001000");
}

Deno.test("sandboxed grading: the server runs, and what escaped its group dies with it", async () => {
  const { runKit } = await import("../harness/runner.ts");
  const { processesMatching } = await import("./sandbox.ts");
  const fixtures = join(REPO_ROOT, "autograder", "fixtures");
  const r = await runKit({
    kitDir: join(fixtures, "kit"),
    submissionDir: join(fixtures, "escapes_group"),
    only: ["connects"],
    seed: 1,
    sandbox: true,
  });
  assert.equal(r.probes[0].passed, true, r.probes[0].message);
  assert.deepEqual(r.notes.filter((n) => n.startsWith("sandbox:")), [], "every mechanism is here");
  const end = Date.now() + 3_000;
  while (processesMatching("sleep\u00001000").length > 0 && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(processesMatching("sleep\u00001000"), []);
});

const stubborn: [string, boolean][] = [
  ["ignores_sigterm", true],
  ["floods", true],
  ["never_listens", false],
];
for (const [fixture, passes] of stubborn) {
  Deno.test(`sandboxed grading: ${fixture} is graded, stopped, and leaves nothing running`, async () => {
    const { runKit } = await import("../harness/runner.ts");
    const { processesMatching } = await import("./sandbox.ts");
    const fixtures = join(REPO_ROOT, "autograder", "fixtures");
    let runDir = ""; // the run's own directory: every student process has it in its command line
    const r = await runKit({
      kitDir: join(fixtures, "kit"),
      submissionDir: join(fixtures, fixture),
      only: ["connects"],
      seed: 1,
      sandbox: true,
      readyMs: 800,
      onStart: () => runDir = Deno.env.get("TMPDIR") ?? "",
    });
    assert.equal(r.probes[0].passed, passes, r.probes[0].message);
    assert.match(runDir, /grade-run-/);
    assert.deepEqual(processesMatching(runDir), []);
  });
}
