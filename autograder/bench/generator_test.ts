import assert from "node:assert/strict";
import { fromJson, percentile } from "./histogram.ts";
import { holdConnections, latencyFrom, runLoad } from "./generator.ts";
import { startTarget, stopTarget, type Target } from "./targets.ts";

const echo: Target = {
  id: "echo",
  label: "echo",
  protocol: { kind: "echo", size: 64 },
  connections: [1],
  memoryConnections: 0,
  command: (p) => [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-lock",
    new URL("../../solutions/01-echo/server.ts", import.meta.url).pathname,
    "--port",
    `${p}`,
  ],
};

Deno.test("closed and open loop against the iterative echo reference", async () => {
  const server = await startTarget(echo);
  try {
    const base = {
      port: server.port,
      protocol: echo.protocol,
      warmupMs: 100,
      durationMs: 400,
      graceMs: 300,
    };
    const closed = await runLoad({ ...base, connections: 1, depth: 4 });
    assert.ok(closed.responses > 50, `closed loop: ${closed.responses} responses`);
    assert.equal(closed.errors + closed.unanswered, 0);
    assert.equal(closed.servedConnections, 1);
    const h = fromJson(closed.latency);
    assert.equal(h.total, closed.responses);
    assert.ok(percentile(h, 0.5) <= percentile(h, 0.99));

    // 200 requests per second for 0.4 s: about 80 answered, never many more (open loop).
    const open = await runLoad({ ...base, connections: 1, mode: "open", rate: 200 });
    assert.ok(open.responses >= 40 && open.responses <= 120, `open loop: ${open.responses}`);

    // An iterative server answers one of three connections; the run still ends on time.
    const started = performance.now();
    const three = await runLoad({ ...base, connections: 3 });
    assert.ok(performance.now() - started < 3000);
    assert.equal(three.servedConnections, 1);
  } finally {
    await stopTarget(server);
  }
});

Deno.test("a server that never answers: the run stops by itself and counts what is missing", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) accepted.push(c);
  })().catch(() => {});
  const started = performance.now();
  const r = await runLoad({
    port,
    protocol: { kind: "echo", size: 8 },
    connections: 2,
    warmupMs: 50,
    durationMs: 200,
    graceMs: 200,
  });
  assert.ok(performance.now() - started < 2000);
  assert.equal(r.responses, 0);
  assert.equal(r.unanswered, 2);
  const held = await holdConnections(port, 3, {
    protocol: { kind: "echo", size: 8 },
    timeoutMs: 300,
  });
  assert.equal(held.conns.length, 3);
  assert.equal(held.answered, 0);
  for (const c of held.conns) c.close();
  listener.close();
  await accepting;
  for (const c of accepted) c.close();
});

Deno.test("open-loop latency starts when the batch was due if late, at its send if early", () => {
  assert.equal(latencyFrom(null, 105), 105); // closed loop: from the send
  assert.equal(latencyFrom(100, 130), 100); // late by 30 ms: charged from when it was due
  assert.equal(latencyFrom(100, 98.6), 98.6); // woken early: from the send, never before it
});
