import assert from "node:assert/strict";
import { parseWrk } from "./bench.ts";
import {
  barChart,
  type BenchReport,
  charts,
  checkTargets,
  fmt,
  fmtUs,
  lineChart,
  type LoadPoint,
  median,
  parsePollTable,
  renderMarkdown,
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
    errors: 0,
    unanswered: 0,
    served: connections,
    serverCpuUsPerReq: 10,
    generatorCpuPct: 30,
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
    load: [point("weensydb-epoll", 10, 5000), point("weensydb-epoll", 1000, 4000, { p99Us: 7000 })],
    pipelined: [
      point("weensydb-epoll", 10, 30_000, { depth: 32 }),
      point("memcached", 10, 100_000, { depth: 32 }),
    ],
    openLoop: [point("memcached", 100, 4990, { rate: 5000 })],
    ratios: [{ target: "weensydb-epoll", op: "get", rounds: [0.4, 0.6, 0.7] }],
    generatorCheck: [
      point("memcached", 10, 100_000),
      point("memcached", 10, 101_000, { generators: 2 }),
    ],
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
  assert.equal(by("epoll WeensyDB ≥ 50%").reached, true);
  assert.match(by("epoll WeensyDB ≥ 50%").detail, /median of 3 alternating rounds 60%/);
  assert.equal(by("epoll WeensyDB p99").reached, false);
  assert.equal(by("weensydb-epoll holds").reached, true);
  assert.equal(by("gateway holds").reached, null);
  assert.equal(by("the generator").reached, true);
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
