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
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const result = await child.output();
    clearTimeout(timer);
    const log = new TextDecoder().decode(result.stderr);
    assert.ok(result.success, `bench failed: ${log.slice(-1000)}`);
    const md = await Deno.readTextFile(`${out}/report.md`);
    assert.match(md, /\| echo, iterative \(01\) \| 1 \| 1 \| [\d,.]+ \| [\d.]+ (µs|ms) \|/);
    assert.match(md, /\| 10000 \| [\d.,]+ (µs|ms) \| [\d.,]+ (µs|ms) \|/, "poll/epoll table");
    const report = JSON.parse(await Deno.readTextFile(`${out}/report.json`));
    assert.ok(report.load.every((p: { throughput: number }) => p.throughput > 0));
    // Every throughput row says where it ran and whose limit it shows (figures are not checked).
    const rows = [...report.load, ...report.pipelined, ...report.sweep, ...report.openLoop];
    for (const p of rows) {
      assert.ok(Array.isArray(p.serverCpus) && p.serverCpus.length > 0, "serverCpus");
      assert.ok(Array.isArray(p.generatorCpus) && p.generatorCpus.length > 0, "generatorCpus");
      assert.equal(typeof p.generatorCpuPct, "number");
      assert.ok(["server", "generator"].includes(p.limitedBy), p.limitedBy);
    }
    if (report.pinning) {
      for (const p of rows) assert.deepEqual(p.serverCpus, report.pinning.server, p.label);
      for (const p of rows) assert.deepEqual(p.generatorCpus, report.pinning.generator, p.label);
    } else assert.match(md, /Not pinned/);
    // The sweep: epoll WeensyDB and memcached, each at rising offered rates.
    for (const t of ["weensydb-epoll", "memcached"]) {
      const rates = report.sweep.filter((p: { target: string }) => p.target === t)
        .map((p: { rate: number }) => p.rate);
      assert.ok(
        rates.length >= 3 && rates.every((r: number, i: number) => i === 0 || r > rates[i - 1]),
      );
    }
    const svgs = ["throughput.svg", "p99.svg", "memory.svg", "poll_epoll.svg"];
    for (const svg of [...svgs, "latency_throughput.svg"]) {
      assert.match(await Deno.readTextFile(`${out}/${svg}`), /^<svg[^]*<\/svg>\n$/);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
