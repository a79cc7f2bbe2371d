import assert from "node:assert/strict";
import { parseCommandLine } from "../harness/grade.ts";
import { bars, escapeHtml, renderHtml, timelineSvg } from "./html.ts";
import type { ProbeResult, RunResult } from "./result.ts";
import type { ProbeTrace, TraceEvent, TraceLane } from "../observe/trace.ts";

function lane(id: number, events: TraceEvent[]): TraceLane {
  return { id, label: `port ${40000 + id} → 7000`, events, dropped: 0 };
}

/** Three clients sent at once to a server that answered them one at a time; a fourth stalled. */
const staggered: ProbeTrace = {
  connections: [1, 2, 3].map((i) =>
    lane(i, [
      { kind: "connect", at: 1 },
      { kind: "send", at: 2, bytes: 8 },
      { kind: "receive", at: 100 * i, bytes: 8 },
      { kind: "close", at: 100 * i + 1 },
    ])
  ).concat(lane(4, [
    { kind: "connect", at: 400 },
    { kind: "send", at: 401, bytes: 1 },
    { kind: "timeout", at: 2401 },
    { kind: "close", at: 2402 },
  ])),
  processes: [{
    id: 1,
    label: "server (pid 42)",
    events: [{ kind: "start", at: 0 }, { kind: "ready", at: 0.5 }, {
      kind: "exit",
      at: 2450,
      detail: "signal SIGTERM",
    }],
    dropped: 0,
  }],
  droppedConnections: 0,
  ms: 2460,
};

const history = [
  "no linearization of this history:",
  "client 1   |--put x=1 -> ok--|",
  "client 2        |--get x -> 2--|",
].join("\n");

const failed: ProbeResult = {
  name: "server-concurrent",
  title: "Serves clients at the same time",
  points: 3,
  score: 0,
  passed: false,
  message: `replies came one at a time & late <b>\n${history}`,
  hint: "README.md §3 <Concurrency>",
  visibility: "visible",
  ms: 2440,
  serverOutput: "listening\n<script>alert('owned')</script>\n\x1b[31mred\x1b[0m \x00",
  trace: staggered,
};

const passed: ProbeResult = {
  ...failed,
  name: "server-echo",
  title: "Echoes",
  score: 2,
  points: 2,
  passed: true,
  message: "ok",
  serverOutput: undefined,
  trace: undefined,
};

const run: RunResult = {
  assignment: "02-forking",
  submission: "/subs/<alice>",
  seed: 7,
  startedAt: "2025-01-01T00:00:00.000Z",
  ms: 3000,
  score: 2,
  maxScore: 5,
  probes: [passed, failed],
  notes: ["server-concurrent: killed processes left behind by pid 42: 43"],
};

Deno.test("escapeHtml escapes markup and shows control characters", () => {
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
  assert.equal(escapeHtml("\x1b[31mred\x1b[0m\x00\n"), "red\\x0\n");
});

Deno.test("renderHtml shows student output as text, never as markup", () => {
  const html = renderHtml(run);
  assert.ok(!/<script/i.test(html), "no script element, and no script at all");
  assert.ok(html.includes("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
  assert.ok(html.includes("one at a time &amp; late &lt;b&gt;"));
  assert.ok(html.includes("/subs/&lt;alice&gt;"));
  assert.ok(!html.includes("\x1b") && !html.includes("\x00"));
});

Deno.test("renderHtml is self-contained: nothing fetched, no script", () => {
  const html = renderHtml(run);
  assert.ok(!/\s(src|href)="(https?:)?\/\//i.test(html), "no external resource");
  assert.ok(!/<link|@import|url\(/i.test(html));
  assert.match(html, /^<!doctype html>/);
});

Deno.test("renderHtml shows the failed probe open and passed ones collapsed", () => {
  const html = renderHtml(run);
  const section = html.slice(html.indexOf('<section class="failed" id="probe-server-concurrent"'));
  assert.ok(section.length < html.length, "failed probe has its section");
  assert.match(section, /<pre class="message">replies came/);
  assert.ok(section.includes(history.replaceAll(">", "&gt;")), "history kept line by line");
  assert.ok(section.includes("hint: README.md §3 &lt;Concurrency&gt;"));
  assert.ok(section.includes('<pre class="output">listening'));
  assert.match(html, /<details id="probe-server-echo"><summary><span class="PASS">PASS<\/span>/);
  assert.match(html, /<td class="FAIL">FAIL<\/td><td><a href="#probe-server-concurrent">/);
  assert.ok(html.includes("killed processes left behind"));
});

Deno.test("timelineSvg draws a lane per process and connection, staggered bars, a stall", () => {
  const svg = timelineSvg(staggered, { verdictMs: 2440 });
  assert.equal(svg.match(/<g class="lane">/g)?.length, 5);
  assert.ok(svg.includes(">server (pid 42)</text>"));
  for (const i of [1, 2, 3, 4]) assert.ok(svg.includes(`>client ${i}  port ${40000 + i}`));
  const blue = [...svg.matchAll(/<rect x="([\d.]+)" [^>]*width="([\d.]+)" [^>]*fill="#4f8fd6"/g)];
  const widths = blue.filter((m) => Number(m[1]) > 100).map((m) => Number(m[2]));
  assert.equal(widths.length, 3);
  assert.ok(widths[0] < widths[1] && widths[1] < widths[2], "each reply later than the one before");
  assert.match(svg, /sent 1 byte at 401 ms; no reply in the 2001 ms that followed/);
  assert.ok(svg.includes("verdict"));
  assert.match(svg, />2000<\/text>/, "a time axis in ms");
});

Deno.test("bars run from a send to the reply, or to the lane's end when none came", () => {
  const l = lane(1, [
    { kind: "send", at: 10, bytes: 1 },
    { kind: "send", at: 11, bytes: 2 },
    { kind: "receive", at: 20, bytes: 3 },
    { kind: "receive", at: 21, bytes: 3 },
    { kind: "send", at: 30, bytes: 4 },
    { kind: "timeout", at: 90 },
  ]);
  assert.deepEqual(bars(l, 95), [
    { from: 10, to: 20, replied: true, sent: 3 },
    { from: 30, to: 95, replied: false, sent: 4 },
  ]);
});

Deno.test("timelineSvg cuts long lists of connections and says so", () => {
  const many: ProbeTrace = {
    ...staggered,
    connections: Array.from({ length: 205 }, (_, i) => lane(i + 1, [{ kind: "connect", at: i }])),
    droppedConnections: 3,
  };
  const svg = timelineSvg(many, { maxLanes: 40 });
  assert.equal(svg.match(/<g class="lane">/g)?.length, 41); // 40 connections and the server
  assert.ok(svg.includes("… 168 more connections not drawn"));
  assert.ok(svg.includes(">client 205  "));
});

Deno.test("grade --html takes a file name relative to where it was run", () => {
  const config = parseCommandLine(["01-echo", "sub", "--html", "out/r.html"], "/tmp/x");
  assert.equal(config.html, "/tmp/x/out/r.html");
});
