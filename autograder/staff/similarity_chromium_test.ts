/**
 * The similarity report in a real browser: writes the report for the test batch (planted copies
 * among independent solutions), renders the index and the top pair's page with Debian's
 * headless chromium, and checks that the ranked pairs, the note and the highlighted regions are
 * in the DOM the browser built, and that a screenshot comes out.
 *
 * Chromium is installed by `autograder/setup.sh --chromium` when missing (as root, as in CI);
 * without root and without chromium this test is skipped. `SIMILARITY_KEEP=shot.png` keeps the
 * screenshot of the top pair's page, to look at.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PLANTED, writeTestBatch } from "./_test_batch.ts";
import { main } from "./similarity.ts";

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
    "similarity_chromium_test: skipped: chromium is not installed and installing it needs " +
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
  name: "similarity report: chromium renders the ranked pairs and the highlighted regions",
  ignore: !present && !isRoot,
  async fn() {
    const browser = await chromium();
    const scratch = await Deno.makeTempDir({ prefix: "similarity-html-" });
    try {
      const batch = join(scratch, "submissions"), out = join(scratch, "out");
      await Deno.mkdir(batch);
      await writeTestBatch(batch);
      assert.equal(await main(["01-echo", batch, "--out", out, "--pages", "3"]), 0);

      const index = `file://${join(out, "report.html")}`;
      const pair = `file://${join(out, "pair-0001.html")}`;
      const png = join(scratch, "pair.png");
      const [indexDom, pairDom] = await Promise.all([
        headless(browser, scratch, ["--dump-dom", index]),
        headless(browser, scratch, ["--dump-dom", pair]),
        headless(browser, scratch, [`--screenshot=${png}`, "--window-size=1400,1200", pair]),
      ]);
      assert.match(indexDom, /This report is for a human reader, not a verdict/);
      assert.equal(indexDom.match(/<tr class="pair">/g)?.length, 36); // 9 submissions
      const linked = [...indexDom.matchAll(/<a href="pair-\d+\.html">([^<]+)<\/a>/g)];
      assert.equal(linked.length, 3);
      assert.deepEqual(linked.slice(0, 2).map((m) => m[1]).sort(), PLANTED);

      assert.match(pairDom, /not a verdict/);
      const regions = pairDom.match(/<tr class="match m\d">/g)?.length ?? 0;
      assert.ok(regions >= 1, "the pair page lists no matched region");
      for (const side of ["a", "b"]) {
        const lit = pairDom.match(new RegExp(`class="l hl m\\d" id="${side}\\d+-\\d+"`, "g"));
        assert.ok((lit?.length ?? 0) >= 20, `side ${side}: ${lit?.length ?? 0} highlighted lines`);
      }
      assert.ok(!/<script/i.test(pairDom), "a submission's <script> reached the DOM");
      const { size } = await Deno.stat(png);
      assert.ok(size > 20_000, `screenshot is only ${size} bytes`);
      const keep = Deno.env.get("SIMILARITY_KEEP");
      if (keep) await Deno.copyFile(png, keep);
    } finally {
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
