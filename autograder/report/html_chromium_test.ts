/**
 * The HTML report in a real browser: grades a buggy 01-echo server with `--html`, then renders
 * the file with Debian's headless chromium and checks that the failing probe, its message and
 * its timeline are on the page, and that a screenshot comes out.
 *
 * Chromium is installed by `autograder/setup.sh --chromium` when missing (as root, as in CI).
 * The grader itself never needs it; without root and without chromium this test is skipped.
 * `HTML_REPORT_KEEP=shot.png` keeps the screenshot, to look at.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyVariant } from "../testing/variant.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

function which(program: string): string | null {
  const r = new Deno.Command("sh", { args: ["-c", `command -v ${program}`] }).outputSync();
  return r.success ? decode(r.stdout).trim() : null;
}

const isRoot = Deno.uid() === 0;
const present = which("chromium") !== null;
if (!present && !isRoot) {
  console.warn(
    "html_report_chromium_test: skipped: chromium is not installed and installing it needs " +
      "root (sudo apt-get install chromium, or sudo bash autograder/setup.sh --chromium)",
  );
}

/** Chromium's path, installing it with setup.sh first if needed. */
async function chromium(): Promise<string> {
  if (!present) {
    const setup = await new Deno.Command("bash", {
      args: [join(root, "autograder/setup.sh"), "--chromium"],
      cwd: root,
    }).output();
    assert.ok(setup.success, `setup.sh --chromium failed: ${decode(setup.stderr)}`);
  }
  const path = which("chromium");
  assert.ok(path, "chromium could not be installed by autograder/setup.sh --chromium");
  return path;
}

/** The solution with one bug: a server that waits to fill its buffer (a kit test's variant). */
async function buggySubmission(dir: string): Promise<void> {
  const kit = {
    kitDir: join(root, "autograder/kits/01-echo"),
    reference: join(root, "solutions/01-echo"),
  };
  await applyVariant(kit, join(kit.kitDir, "variants/server-waits-to-fill.patch"), dir);
}

async function headless(browser: string, scratch: string, args: string[]) {
  const profile = await Deno.makeTempDir({ dir: scratch, prefix: "profile-" });
  const out = await new Deno.Command(browser, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.ok(out.success, `chromium failed: ${decode(out.stderr).slice(-2000)}`);
  return decode(out.stdout);
}

Deno.test({
  name: "html report: chromium renders the failing probe, its message and timeline",
  ignore: !present && !isRoot,
  async fn() {
    const browser = await chromium();
    const scratch = await Deno.makeTempDir({ prefix: "html-report-" });
    try {
      const submission = join(scratch, "submission");
      await Deno.mkdir(submission);
      await buggySubmission(submission);
      const html = join(scratch, "report.html");
      const results = join(scratch, "results.json");
      const grade = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", join(root, "autograder/harness/grade.ts"), "01-echo", submission]
          .concat(["--only", "server-all-bytes,server-interactive", "--seed", "1"])
          .concat(["--html", html, "--results", results]),
        cwd: root,
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(grade.code, 1, decode(grade.stdout) + decode(grade.stderr));
      const tests = JSON.parse(await Deno.readTextFile(results)).tests;
      const failing = tests.find((t: { status: string }) => t.status === "failed");
      assert.equal(failing.name, "server-interactive");

      const url = `file://${html}`;
      const png = join(scratch, "report.png");
      const [dom] = await Promise.all([
        headless(browser, scratch, ["--dump-dom", url]),
        headless(browser, scratch, [`--screenshot=${png}`, "--window-size=1200,1600", url]),
      ]);
      assert.match(dom, /<section class="failed" id="probe-server-interactive">/);
      const firstLine = failing.output.split("\n")[1]; // the output starts with the title
      assert.ok(dom.includes(firstLine), `DOM lacks the message line "${firstLine}"`);
      assert.match(dom, /<svg class="timeline"[^]*client 1 {2}port \d+ → \d+/);
      assert.match(dom, /no reply in the/);
      const { size } = await Deno.stat(png);
      assert.ok(size > 20_000, `screenshot is only ${size} bytes`);
      const keep = Deno.env.get("HTML_REPORT_KEEP");
      if (keep) await Deno.copyFile(png, keep);
    } finally {
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
