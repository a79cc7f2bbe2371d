import assert from "node:assert/strict";
import { dial } from "../toolkit/conn.ts";
import { EVENTS_KEPT, type LaneLog, LANES_KEPT, TraceRecorder } from "./trace.ts";

/** A recorder with one connection lane open ("connect" recorded). */
function oneLane(): { recorder: TraceRecorder; lane: LaneLog } {
  const recorder = new TraceRecorder();
  const lane = recorder.connection("to port ?")!;
  lane.add("connect");
  return { recorder, lane };
}

Deno.test("trace merges consecutive events of the same kind, adding up bytes", () => {
  const { recorder, lane: conn } = oneLane();
  for (let i = 0; i < 5; i++) conn.add("send", 10);
  conn.add("receive", 50);
  conn.add("error", undefined, "reset");
  conn.add("error", undefined, "reset"); // with a detail: kept apart
  const trace = recorder.finish();
  const kinds = trace.connections[0].events.map((e) => [e.kind, e.bytes, e.count]);
  assert.deepEqual(kinds, [
    ["connect", undefined, undefined],
    ["send", 50, 5],
    ["receive", 50, undefined],
    ["error", undefined, undefined],
    ["error", undefined, undefined],
  ]);
  assert.equal(trace.connections[0].dropped, 0);
});

Deno.test("trace keeps the first and last events of a chatty connection and counts the rest", () => {
  const { recorder, lane: conn } = oneLane();
  for (let i = 0; i < 10_000; i++) {
    conn.add("send", 1);
    conn.add("receive", 1);
  }
  conn.add("close");
  const [lane] = recorder.finish().connections;
  assert.equal(lane.events.length, 2 * EVENTS_KEPT);
  assert.equal(lane.dropped, 1 + 20_001 - 2 * EVENTS_KEPT);
  assert.equal(lane.gapAfter, EVENTS_KEPT - 1);
  assert.equal(lane.events[0].kind, "connect");
  assert.equal(lane.events.at(-1)!.kind, "close");
  const times = lane.events.map((e) => e.at);
  assert.deepEqual(times, [...times].sort((a, b) => a - b), "events stay in time order");
});

Deno.test("trace records 100,000 events in well under a second", () => {
  const { recorder, lane: conn } = oneLane();
  const started = performance.now();
  for (let i = 0; i < 50_000; i++) {
    conn.add("send", 1);
    conn.add("receive", 1);
  }
  const ms = performance.now() - started;
  recorder.finish();
  assert.ok(ms < 250, `took ${ms.toFixed(0)} ms`);
});

Deno.test("trace records nothing after finish or close; each recorder is its own", () => {
  const { recorder: first } = oneLane();
  const { recorder, lane: other } = oneLane();
  other.add("close");
  other.add("error", undefined, "Bad resource ID"); // a write failing after close
  const trace = recorder.finish();
  other.add("send", 1);
  assert.equal(first.finish().connections.length, 1); // nothing of the other's
  assert.equal(trace.connections.length, 1);
  assert.deepEqual(trace.connections[0].events.map((e) => e.kind), ["connect", "close"]);
});

Deno.test("trace caps the number of connection lanes and counts the others", () => {
  const recorder = new TraceRecorder();
  for (let i = 0; i < LANES_KEPT + 7; i++) recorder.connection("c");
  const trace = recorder.finish();
  assert.equal(trace.connections.length, LANES_KEPT);
  assert.equal(trace.droppedConnections, 7);
});

Deno.test("trace records a process's start, readiness and exit", () => {
  const recorder = new TraceRecorder();
  const lane = recorder.startProcess("server (pid 1)");
  lane.ready();
  lane.exit("exit code 1");
  const [p] = recorder.finish().processes;
  assert.equal(p.label, "server (pid 1)");
  assert.deepEqual(p.events.map((e) => [e.kind, e.detail]), [
    ["start", undefined],
    ["ready", undefined],
    ["exit", "exit code 1"],
  ]);
});

/** An echo server on a free port that serves one client at a time, to the end of its input. */
function sequentialEcho(): { port: number; done: Promise<void>; listener: Deno.TcpListener } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    try {
      for await (const conn of listener) {
        for await (const chunk of conn.readable) await conn.write(chunk); // one at a time
      }
    } catch {
      // listener closed
    }
  })();
  return { port: listener.addr.port, done, listener };
}

Deno.test("a Conn is traced: dial, send, receive, half-close, end of file, close", async () => {
  const server = sequentialEcho();
  const recorder = new TraceRecorder();
  try {
    const conn = await dial(server.port, {}, recorder);
    await conn.send(new TextEncoder().encode("hi"));
    await conn.receive({ ms: 2000, limit: 2 });
    await conn.exchange(new TextEncoder().encode("bye"), { ms: 2000 });
  } finally {
    server.listener.close();
    await server.done;
  }
  const [lane] = recorder.finish().connections;
  assert.match(lane.label, /^port \d+ → \d+$/);
  const kinds = lane.events.map((e) => e.kind);
  assert.deepEqual(kinds.slice(0, 3), ["connect", "send", "receive"]);
  assert.ok(kinds.includes("half-close"), kinds.join(" "));
  assert.deepEqual(kinds.slice(-2), ["eof", "close"]);
});

Deno.test("a server that serves one client at a time: replies come one after another", async () => {
  const server = sequentialEcho();
  const recorder = new TraceRecorder();
  try {
    await Promise.all([1, 2, 3].map(async (i) => {
      const conn = await dial(server.port, {}, recorder);
      await conn.send(new TextEncoder().encode(`client ${i}`));
      // Held open a while after its reply, so the next client waits behind it.
      await conn.receive({ ms: 2000, limit: 8 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      conn.close();
    }));
  } finally {
    server.listener.close();
    await server.done;
  }
  const clients = recorder.finish().connections.filter((l) => l.events[0].kind === "connect");
  assert.equal(clients.length, 3);
  const replies = clients
    .map((lane) => lane.events.find((e) => e.kind === "receive")!.at).sort((a, b) => a - b);
  assert.ok(replies[1] - replies[0] >= 80 && replies[2] - replies[1] >= 80, String(replies));
});
