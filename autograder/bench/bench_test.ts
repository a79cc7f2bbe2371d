import assert from "node:assert/strict";

/**
 * Keeps the benchmark working: `--quick` on a small subset, as a separate process with a
 * deadline, must write a report and charts that hold numbers. memcached is included when it is
 * installed (`autograder/setup.sh --bench`).
 */
Deno.test("bench --quick writes a report with numbers and its charts", async () => {
  const out = await Deno.makeTempDir({ prefix: "bench-test-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--no-lock",
        new URL("./bench.ts", import.meta.url).pathname,
        "--quick",
        "--only",
        "echo,weensydb-epoll,memcached,poll",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const result = await child.output();
    clearTimeout(timer);
    const log = new TextDecoder().decode(result.stderr);
    assert.ok(result.success, `bench failed: ${log.slice(-1000)}`);
    const md = await Deno.readTextFile(`${out}/report.md`);
    assert.match(md, /\| echo, iterative \(01\) \| 1 \| 1 \| [\d,.]+ \| [\d.]+ (µs|ms) \|/);
    assert.match(md, /\| 10000 \| [\d.,]+ (µs|ms) \| [\d.,]+ (µs|ms) \|/, "poll/epoll table");
    const report = JSON.parse(await Deno.readTextFile(`${out}/report.json`));
    assert.ok(report.load.every((p: { throughput: number }) => p.throughput > 0));
    for (const svg of ["throughput.svg", "p99.svg", "memory.svg", "poll_epoll.svg"]) {
      assert.match(await Deno.readTextFile(`${out}/${svg}`), /^<svg[^]*<\/svg>\n$/);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
