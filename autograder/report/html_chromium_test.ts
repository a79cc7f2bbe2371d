/**
 * The HTML report in a real browser: grades buggy servers of 01-echo, 03-weensydb and 04-poll
 * with `--html`, then renders each file with Debian's headless chromium and checks that the
 * failing probe, its message and its timeline (the probe's own connections) are on the page,
 * and that a screenshot comes out. 03 and 04 talk their own protocol through the kits' WeensyDB
 * client: their connections are traced like any other (`ctx.dial`).
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

/** A solution with one bug (a kit test's variant), written to `dir`. */
async function buggySubmission(kitName: string, variant: string, dir: string): Promise<void> {
  const kit = {
    kitDir: join(root, "autograder/kits", kitName),
    reference: join(root, "solutions", kitName),
  };
  await applyVariant(kit, join(kit.kitDir, `variants/${variant}.patch`), dir);
}

/** Each case: a kit, a variant, the probe it fails (run with one it passes). */
const CASES = [
  {
    kit: "01-echo",
    variant: "server-waits-to-fill",
    passes: "server-all-bytes",
    fails: "server-interactive",
    shows: /no reply in the/,
  },
  {
    kit: "03-weensydb",
    variant: "lock-while-reading",
    passes: "commands",
    fails: "slow-client",
    shows: /slow|stalled|waited/i,
  },
  {
    kit: "04-poll",
    variant: "no-pollout",
    passes: "epoll-commands",
    fails: "epoll-slow-reader",
    shows: /slow|read|reply/i,
  },
];

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

for (const c of CASES) {
  Deno.test({
    name: `html report: chromium renders ${c.kit}'s failing ${c.fails}, its message and timeline`,
    ignore: !present && !isRoot,
    async fn() {
      const browser = await chromium();
      const scratch = await Deno.makeTempDir({ prefix: "html-report-" });
      try {
        const submission = join(scratch, "submission");
        await Deno.mkdir(submission);
        await buggySubmission(c.kit, c.variant, submission);
        const html = join(scratch, "report.html");
        const results = join(scratch, "results.json");
        const grade = await new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", join(root, "autograder/harness/grade.ts"), c.kit]
            .concat([submission, "--only", `${c.passes},${c.fails}`, "--seed", "1"])
            .concat(["--html", html, "--results", results]),
          cwd: root,
          env: { NO_COLOR: "1" },
        }).output();
        assert.equal(grade.code, 1, decode(grade.stdout) + decode(grade.stderr));
        const tests = JSON.parse(await Deno.readTextFile(results)).tests;
        const failing = tests.find((t: { status: string }) => t.status === "failed");
        assert.equal(failing.name, c.fails);

        const url = `file://${html}`;
        const png = join(scratch, "report.png");
        const [dom] = await Promise.all([
          headless(browser, scratch, ["--dump-dom", url]),
          headless(browser, scratch, [`--screenshot=${png}`, "--window-size=1200,1600", url]),
        ]);
        const section = dom.indexOf(`<section class="failed" id="probe-${c.fails}">`);
        assert.ok(section >= 0, `no section for ${c.fails}`);
        const mine = dom.slice(section, dom.indexOf("</section>", section));
        const firstLine = failing.output.split("\n")[1]; // the output starts with the title
        assert.ok(dom.includes(firstLine), `DOM lacks the message line "${firstLine}"`);
        assert.match(mine, /<svg class="timeline"[^]*client 1 {2}port \d+ → \d+/);
        assert.match(mine, c.shows);
        const { size } = await Deno.stat(png);
        assert.ok(size > 20_000, `screenshot is only ${size} bytes`);
        const keep = Deno.env.get("HTML_REPORT_KEEP");
        if (keep) await Deno.copyFile(png, keep.replace(/(\.png)?$/, `-${c.kit}.png`));
      } finally {
        await Deno.remove(scratch, { recursive: true });
      }
    },
  });
}
