import assert from "node:assert/strict";
import { join } from "node:path";
import { flakyProbes, gradesCsv, type ProbeOutcome, progressLine } from "./grade_all.ts";
import { allPids } from "../observe/proc.ts";
import { REPO_ROOT } from "../harness/submission.ts";

/** Run directories and sandbox cgroups on this machine (a stopped grader must remove its own). */
function leftoverRuns(): string[] {
  const list = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("grade-run-"))
        .map((e) => join(dir, e.name));
    } catch {
      return [];
    }
  };
  return [
    ...list(Deno.env.get("TMPDIR") ?? "/tmp"),
    ...list("/sys/fs/cgroup/pids/course-grader"),
    ...list("/sys/fs/cgroup/memory/course-grader"),
  ];
}

/** A run's outcomes from `[name, score, message]`; a probe passed when its message is "ok". */
function run(...probes: [string, number, string][]): Map<string, ProbeOutcome> {
  return new Map(probes.map(([name, score, message]) => [
    name,
    { score, passed: message === "ok", message },
  ]));
}

Deno.test("flakyProbes names the probes whose score, verdict or reason changed between runs", () => {
  const runs = [
    run(["a", 2, "ok"], ["b", 1, "ok"], ["c", 0, "no reply within 5 s"], [
      "d",
      0,
      "port 4012 refused",
    ]),
    run(["a", 2, "ok"], ["b", 0, "timeout"], ["c", 0, "wrong bytes"], [
      "d",
      0,
      "port 4518 refused",
    ]),
  ];
  // c failed both times, for different reasons; d for the same reason on another port.
  assert.deepEqual(flakyProbes(runs), ["b", "c"]);
  assert.deepEqual(flakyProbes(runs.slice(0, 1)), []);
});

Deno.test("gradesCsv flags flaky probes with every run's score, lists failures, and quotes fields", () => {
  const csv = gradesCsv(["a", "b"], [
    {
      student: "ann",
      runs: [
        run(["a", 2, "ok"], ["b", 1, "ok"]),
        run(["a", 2, "ok"], ["b", 0, "no echo\nsent: x"]),
      ],
      maxScore: 3,
    },
    { student: 'o"neil, b', runs: [], maxScore: 3, error: "grader killed after 5 s" },
    {
      student: "cy",
      runs: [run(["a", 0, 'refused, then "closed"'], ["b", 1, "ok"])],
      maxScore: 3,
      lostRuns: ["run 2: grader killed after 5 s"],
    },
  ], 7);
  assert.equal(
    csv,
    [
      "student,a,b,total,max,seed,status,failures",
      "ann,2,flaky:1/0,3,3,7,flaky: b,",
      '"o""neil, b",0,0,0,3,7,grader killed after 5 s,',
      'cy,0,1,1,3,7,flaky: run 2: grader killed after 5 s,"a: refused, then ""closed"""',
      "",
    ].join("\n"),
  );
});

Deno.test("progressLine shows a bar, counts and an ETA", () => {
  assert.equal(
    progressLine(1, 4, 0, 10_000),
    "[######..................] 1/4 graded, 0 could not be graded, ETA 30s",
  );
});

Deno.test("grade-all: a batch with a crash and a hang still grades everyone", async () => {
  const root = await Deno.makeTempDir({ prefix: "grade-all-test-" });
  try {
    const subs = join(root, "subs");
    const make = async (name: string, files: Record<string, string>) => {
      await Deno.mkdir(join(subs, name), { recursive: true });
      for (const [file, from] of Object.entries(files)) {
        await Deno.copyFile(join(REPO_ROOT, from), join(subs, name, file));
      }
    };
    await make("alice", {
      "server.ts": "solutions/01-echo/server.ts",
      "client.ts": "solutions/01-echo/client.ts",
    });
    await make("bob", {
      "server.ts": "assignments/01-echo/server.ts",
      "client.ts": "assignments/01-echo/client.ts",
    });
    await make("carol", { "server.ts": "solutions/01-echo/server.ts" }); // client.ts missing
    await make("dave", { "client.ts": "solutions/01-echo/client.ts" });
    await Deno.writeTextFile(join(subs, "dave", "server.ts"), "while (true) {}\n"); // never listens
    const out = join(root, "out");
    const runsBefore = leftoverRuns();
    const status = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(REPO_ROOT, "autograder/staff/grade_all.ts"),
        "01-echo",
        subs,
        "--out",
        out,
        "--only",
        "server-all-bytes,client-refused",
        "--timeout",
        "4",
        "--repeat",
        "2",
        "--jobs",
        "2",
        "--seed",
        "11",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(status.code, 1, "one submission could not be graded (dave's hangs)");
    const rows = (await Deno.readTextFile(join(out, "grades.csv"))).trim().split("\n");
    assert.equal(rows[0], "student,server-all-bytes,client-refused,total,max,seed,status,failures");
    assert.equal(rows[1], "alice,2,1,3,3,11,ok,");
    // The starter fails both, for the same reason each run: not flaky; the reasons are listed.
    assert.match(rows[2], /^bob,0,0,0,3,11,ok,"?server-all-bytes: .*; client-refused: .*"?$/);
    // A missing file is graded at 0, every probe saying which file: not a grader failure.
    assert.match(
      rows[3],
      /^carol,0,0,0,3,11,ok,"?server-all-bytes: not run: Missing files.*client\.ts/,
    );
    assert.equal(rows[4], "dave,0,0,0,3,11,grader killed after 4 s,");
    for (const name of ["alice", "bob"]) {
      for (
        const file of ["results.json", "results-2.json", "record.json", "report.html", "log.txt"]
      ) {
        await Deno.stat(join(out, name, file));
      }
    }
    const leftovers = allPids().filter((pid) => {
      try {
        // A sandboxed run's (grade-run-): other checkouts on this machine may be running the
        // 01-echo reference unsandboxed meanwhile (their kit tests), in /tmp/grade-01-echo-*.
        const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
        return cmdline.includes("grade-01-echo") && cmdline.includes("/grade-run-");
      } catch {
        return false;
      }
    });
    assert.deepEqual(leftovers, [], "no student process is left running");
    const newRuns = leftoverRuns().filter((dir) => !runsBefore.includes(dir));
    assert.deepEqual(newRuns, [], "even a killed grader removes its run directory and cgroups");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
