import assert from "node:assert/strict";
import { parseWrk } from "./bench.ts";
import {
  barChart,
  type BenchReport,
  charts,
  checkTargets,
  classify,
  fmt,
  fmtUs,
  latencyThroughputChart,
  lineChart,
  type LoadPoint,
  median,
  parsePollTable,
  renderMarkdown,
  SWEEP_FRACTIONS,
  sweepRates,
} from "./report.ts";

function point(
  target: string,
  connections: number,
  throughput: number,
  extra: Partial<LoadPoint> = {},
): LoadPoint {
  return {
    target,
    label: target,
    connections,
    depth: 1,
    op: "get",
    generators: 1,
    throughput,
    p50Us: 100,
    p99Us: 900,
    p999Us: 1500,
    errors: 0,
    unanswered: 0,
    served: connections,
    serverCpuUsPerReq: 10,
    generatorCpuPct: 30,
    generatorBusyPct: 40,
    serverCpus: [1],
    generatorCpus: [0],
    limitedBy: "server",
    ...extra,
  };
}

function sample(): BenchReport {
  return {
    command: "deno task bench",
    quick: false,
    started: "2026-01-01T00:00:00Z",
    seconds: 60,
    machine: { cpu: "2 × test" },
    pinning: { server: [1], generator: [0] },
    load: [
      point("weensydb-epoll", 10, 5000),
      point("weensydb-epoll", 1000, 4000, {
        p99Us: 7000,
        limitedBy: "generator",
        limitedWhy: "generator at 95% of a core",
      }),
    ],
    pipelined: [
      point("weensydb-epoll", 10, 30_000, { depth: 32 }),
      point("memcached", 10, 100_000, {
        depth: 32,
        second: { throughput: 101_000, generatorCpuPct: 60 },
      }),
    ],
    sweep: [0.1, 0.5, 1].flatMap((f) => [
      point("weensydb-epoll", 1000, 20_000 * f, {
        rate: 20_000 * f,
        fraction: f,
        saturationRps: 20_000,
        p99Us: 3000 / (1.01 - f),
      }),
      point("memcached", 1000, 40_000 * f, { rate: 40_000 * f, fraction: f, p99Us: 800 }),
    ]),
    openLoop: [point("memcached", 100, 4990, { rate: 5000 })],
    ratios: [{
      target: "weensydb-epoll",
      op: "get",
      rounds: [0.4, 0.6, 0.7, 0.1],
      limited: [false, false, false, true],
      unpinned: [0.3, 0.2, 0.25, 0.3],
    }],
    memory: [{
      target: "weensydb-epoll",
      label: "e",
      asked: 10_000,
      held: 10_000,
      answered: 10_000,
      rssBeforeBytes: 50e6,
      rssAfterBytes: 80e6,
    }],
    poll: [{ fds: 10, pollUs: 1, epollUs: 1 }, { fds: 10_000, pollUs: 500, epollUs: 2 }],
    wrk: [],
    notes: ["gateway: not measured: kit 05-async not present"],
    commands: { "weensydb-epoll": "deno run server.ts --port 1" },
  };
}

Deno.test("targets: reached, missed and not measured, each with its numbers", () => {
  const checks = checkTargets(sample());
  const by = (s: string) => checks.find((c) => c.goal.startsWith(s))!;
  // The fourth round was limited by the generator: left out of the median.
  assert.equal(by("epoll WeensyDB ≥ 50%").reached, true);
  assert.match(by("epoll WeensyDB ≥ 50%").detail, /median of 3 alternating rounds 60%/);
  // Read at the sweep's 50% point (p99 3000 / 0.51 µs), not at the closed-loop 1,000 row.
  assert.equal(by("epoll WeensyDB p99").reached, false);
  assert.match(by("epoll WeensyDB p99").detail, /offered 10,000 req\/s \(half of 20,000\)/);
  assert.match(by("epoll WeensyDB p99").detail, /memcached at half its rate: p99 800 µs/);
  assert.equal(by("weensydb-epoll holds").reached, true);
  assert.equal(by("gateway holds").reached, null);
  assert.match(by("gateway holds").goal, /150 MB/);
  assert.equal(by("the generator").reached, true);
});

Deno.test("targets: no verdict from a row or a round limited by the generator", () => {
  const r = sample();
  r.sweep = r.sweep.map((p) => ({
    ...p,
    limitedBy: "generator",
    limitedWhy: "generator at 97% of a core",
  }));
  r.ratios[0].limited = r.ratios[0].rounds.map(() => true);
  r.pipelined[1] = { ...r.pipelined[1], limitedBy: "generator", limitedWhy: "x" };
  const by = (s: string) => checkTargets(r).find((c) => c.goal.startsWith(s))!;
  assert.equal(by("epoll WeensyDB p99").reached, null);
  assert.match(by("epoll WeensyDB p99").detail, /^no verdict: generator at 97% of a core/);
  assert.equal(by("epoll WeensyDB ≥ 50%").reached, null);
  assert.equal(by("the generator").reached, false);
});

Deno.test("limitedBy: the generator's CPU, its thread's busy time, or a second generator", () => {
  const base = {
    generatorCpuPct: 50,
    generatorBusyPct: 60,
    generatorCpus: [0],
    generators: 1,
    throughput: 10_000,
  };
  assert.deepEqual(classify(base), { limitedBy: "server" });
  assert.equal(classify({ ...base, generatorCpuPct: 89.9 }).limitedBy, "server");
  assert.deepEqual(classify({ ...base, generatorCpuPct: 92 }), {
    limitedBy: "generator",
    limitedWhy: "generator at 92% of a core",
  });
  assert.equal(classify({ ...base, generatorBusyPct: 95 }).limitedBy, "generator");
  // Two processes may use two cores when they have them: 120% of one core is 60% of two.
  const two = { ...base, generators: 2, generatorCpus: [0, 1], generatorCpuPct: 120 };
  assert.equal(classify(two).limitedBy, "server");
  assert.equal(classify({ ...two, generatorCpus: [0] }).limitedBy, "generator");
  const second = (t: number) =>
    classify({ ...base, second: { throughput: t, generatorCpuPct: 70 } });
  assert.equal(second(11_000).limitedBy, "server");
  assert.deepEqual(second(11_500), {
    limitedBy: "generator",
    limitedWhy: "a second generator: ×1.15",
  });
  assert.equal(second(5_000).limitedBy, "server");
});

Deno.test("sweep rates: fractions of the saturation rate, lowest first, past it", () => {
  assert.deepEqual(SWEEP_FRACTIONS, [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.2]);
  assert.deepEqual(sweepRates(20_000).map((x) => x.rate), [
    2000,
    5000,
    10_000,
    15_000,
    18_000,
    20_000,
    24_000,
  ]);
  assert.deepEqual(sweepRates(3, [0.1, 1]), [{ fraction: 0.1, rate: 1 }, {
    fraction: 1,
    rate: 3,
  }]);
  assert.deepEqual(sweepRates(0), []);
  assert.deepEqual(sweepRates(NaN), []);
});

Deno.test("report.json: every throughput row carries its CPUs, generator CPU and limit", () => {
  const r: BenchReport = JSON.parse(JSON.stringify(sample()));
  for (const p of [...r.load, ...r.pipelined, ...r.sweep, ...r.openLoop]) {
    assert.deepEqual(p.serverCpus, [1]);
    assert.deepEqual(p.generatorCpus, [0]);
    assert.equal(typeof p.generatorCpuPct, "number");
    assert.ok(["server", "generator"].includes(p.limitedBy));
  }
  const md = renderMarkdown(r);
  assert.ok(md.includes("**generator** (generator at 95% of a core)"), "limited row shown");
  assert.ok(md.includes("| 1 / 0 |"), "CPUs shown");
  assert.ok(md.includes("Servers pinned to CPU 1, generators (and wrk) to CPU 0"));
  assert.ok(md.includes("1 of 11 rows are limited by the generator"));
  r.pinning = null;
  assert.ok(renderMarkdown(r).includes("not pinned"));
});

Deno.test("latency-throughput chart: p50, p99 and p99.9 per server, one colour each", () => {
  const svg = latencyThroughputChart(sample().sweep);
  assert.equal(svg.match(/<polyline/g)?.length, 6);
  assert.equal(svg.match(/<circle/g)?.length, 18);
  for (const name of ["weensydb-epoll p50", "weensydb-epoll p99", "memcached p99.9"]) {
    assert.ok(svg.includes(`>${name}<`), name);
  }
  assert.equal(svg.match(/stroke-dasharray="6 3"/g)?.length, 4, "p99 dashed: line and legend");
  assert.ok(latencyThroughputChart([]).includes("no data"));
  // A point limited by the generator is drawn hollow, on each of its three series.
  const r = sample();
  r.sweep[0] = { ...r.sweep[0], limitedBy: "generator", limitedWhy: "x" };
  const hollow = latencyThroughputChart(r.sweep);
  assert.equal(hollow.match(/<circle [^>]*fill="white"/g)?.length, 3);
  assert.ok(hollow.includes("hollow: limited by the generator"));
});

Deno.test("median", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("markdown holds every table, the notes, and links the charts", () => {
  const md = renderMarkdown(sample(), ["p99.svg"]);
  for (
    const s of [
      "## Targets",
      "**missed**",
      "5,000",
      "× memcached",
      "5,000 requests per second in all",
      "Open-loop rate sweep",
      "| 50% | 10,000 |",
      "0.4, 0.6, 0.7, 0.1 (gen)",
      "0.3",
      "kit 05-async not present",
      "![p99.svg](p99.svg)",
      "500 µs",
    ]
  ) {
    assert.ok(md.includes(s), `missing ${s}`);
  }
});

Deno.test("charts are SVG with one polyline per series and escaped labels", () => {
  const svg = lineChart("a < b", { x: "x", y: "y" }, [{
    name: "s&t",
    points: [[1, 10], [100, 1000]],
  }]);
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<polyline/g)?.length, 1);
  assert.ok(svg.includes("a &lt; b") && svg.includes("s&amp;t"));
  assert.equal(
    barChart("b", "KB", [{ label: "x", value: 2 }, { label: "y", value: NaN }]).match(/<rect x=/g)
      ?.length,
    2,
  );
  const log = barChart("b", "KB", [{ label: "x", value: 1 }, { label: "y", value: 1000 }], {
    log: true,
  });
  assert.deepEqual(
    [...log.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1])),
    [82.5, 330],
  );
  assert.ok(lineChart("empty", { x: "x", y: "y" }, []).includes("no data"));
  assert.deepEqual(charts(sample()).map((c) => c.name).sort(), [
    "cpu_per_request.svg",
    "latency_throughput.svg",
    "memory.svg",
    "p99.svg",
    "pipelined.svg",
    "poll_epoll.svg",
    "throughput.svg",
  ]);
});

Deno.test("number formats and wrk's output", () => {
  assert.equal(fmt(12345.6), "12,346");
  assert.equal(fmt(0.123456), "0.123");
  assert.equal(fmt(NaN), "–");
  assert.equal(fmtUs(1500), "1.5 ms");
  const wrk =
    `Running 3s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  1.20ms\n     99%  15.50ms\n` +
    `  1234 requests in 3.00s, 1.00MB read\n  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec:    411.33\n`;
  assert.deepEqual(parseWrk(wrk), {
    wrkRps: 411.33,
    wrkP99Us: 15_500,
    note: "Socket errors: connect 0, read 3, write 0, timeout 0",
  });
  assert.deepEqual(parseWrk(""), { wrkRps: null, wrkP99Us: null, note: "wrk printed no result" });
});

Deno.test("poll tables: the kit's command's and the handout's", () => {
  const text =
    "| watched fds | poll() | poll(2) only | epoll_wait() |\n| ---: | ---: | ---: | ---: |\n" +
    "| 10 | 3.1 µs | 1.0 µs | 0.9 µs |\n| 10,000 | 1.2 ms | 900 µs | 1.1 µs |\nnot a row | x |";
  assert.deepEqual([...parsePollTable(text)], [[10, [3.1, 0.9]], [10_000, [1200, 1.1]]]);
});
