import assert from "node:assert/strict";
import { join } from "node:path";
import { listFiles } from "./bundle.ts";
import { inRelease, writeRelease } from "./release.ts";
import { REPO_ROOT } from "../harness/submission.ts";

/** Per solution file, its lines that no starter shares: the answers themselves. */
function solutionLines(): Map<string, string[]> {
  const starters = listFiles("assignments").map((f) => Deno.readTextFileSync(join(REPO_ROOT, f)));
  const out = new Map<string, string[]>();
  for (const file of listFiles("solutions")) {
    const lines = Deno.readTextFileSync(join(REPO_ROOT, file)).split("\n").map((l) => l.trim())
      .filter((text) => text.length >= 20 && !starters.some((s) => s.includes(text)));
    out.set(file, [...new Set(lines)]);
  }
  return out;
}

/** Solution files of which `text` holds a quarter or more of the distinctive lines. */
function leakedSolutions(text: string, solutions: Map<string, string[]>): string[] {
  return [...solutions].filter(([, lines]) => {
    const found = lines.filter((line) => text.includes(line)).length;
    return lines.length > 0 && found >= Math.max(3, lines.length / 4);
  }).map(([file]) => file);
}

Deno.test("the student release holds no solution, variant, hidden probe or kit test", async () => {
  const out = await Deno.makeTempDir({ prefix: "release-test-" });
  try {
    const files = await writeRelease(out);
    const staff = files.filter((f) =>
      /^solutions\/|\/variants\/|\/alternatives\/|hidden_probes\.ts$|kits\/[^/]+\/kit_test\.ts$/
        .test(f)
    );
    assert.deepEqual(staff, []);
    const solutions = solutionLines();
    const echo = await Deno.readTextFile(join(REPO_ROOT, "solutions/01-echo/server.ts"));
    assert.deepEqual(leakedSolutions(echo, solutions), ["solutions/01-echo/server.ts"]);
    for (const file of files) {
      const leaked = leakedSolutions(await Deno.readTextFile(join(out, file)), solutions);
      assert.deepEqual(leaked, [], `${file} holds much of a solution`);
    }
    for (const hidden of ["autograder/kits/01-echo/hidden_probes.ts", "solutions/01-echo/x.ts"]) {
      assert.equal(inRelease(hidden), false, hidden); // no kit has hidden probes yet
    }
    const tasks = Object.keys(JSON.parse(await Deno.readTextFile(join(out, "deno.json"))).tasks);
    assert.deepEqual(
      tasks.filter((t) => ["bench", "release", "package-gradescope"].includes(t)),
      [],
    );
    const readme = await Deno.readTextFile(join(out, "README.md"));
    assert.match(readme, /\[01-echo\]\(assignments\/01-echo\/README\.md\)/);
    assert.doesNotMatch(readme, /solutions\//);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("in the release, the grader grades the student's starter", async () => {
  const out = await Deno.makeTempDir({ prefix: "release-test-" });
  try {
    await writeRelease(out);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "autograder/harness/grade.ts", "01-echo", "--only", "client-refused"],
      cwd: out,
      env: { NO_COLOR: "1", INIT_CWD: out },
      stdout: "null",
    }).output();
    assert.equal(
      code,
      1,
      `graded and failed, not a grader error: ${new TextDecoder().decode(stderr)}`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test({
  name: "a probe in a kit's public probes.ts is never hidden: hidden ones go in hidden_probes.ts",
  sanitizeResources: false, // the probes load libc through the course library, once per process
  async fn() {
    for (const kit of listFiles("autograder/kits").filter((f) => f.endsWith("/probes.ts"))) {
      const { probes } = await import(join(REPO_ROOT, kit));
      const hidden = (probes as { name: string; visibility: string }[])
        .filter((p) => p.visibility === "hidden").map((p) => p.name);
      assert.deepEqual(hidden, [], `${kit} ships to students`);
    }
  },
});
