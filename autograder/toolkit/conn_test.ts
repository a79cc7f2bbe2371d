import assert from "node:assert/strict";
import { TraceRecorder } from "../observe/trace.ts";
import { dial } from "./conn.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("Conn: reads exactly, until a delimiter, a line; bytes past a deadline are kept", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await dial(listener.addr.port);
  const peer = await listener.accept();
  try {
    await peer.write(enc("abcdef\r\nline two\nrest"));
    assert.equal(dec((await conn.readExactly(3, { ms: 1_000 })).bytes), "abc");
    const until = await conn.readUntil("\r\n", { ms: 1_000 });
    assert.deepEqual([dec(until.bytes), until.found], ["def\r\n", true]);
    assert.equal(await conn.readLine({ ms: 1_000 }), "line two");
    const short = await conn.readExactly(10, { ms: 100 });
    assert.deepEqual([dec(short.bytes), short.timedOut], ["rest", true]);
    const pending = conn.readExactly(2, { ms: 50 }); // times out with a read left pending
    assert.equal((await pending).timedOut, true);
    await peer.write(enc("XY"));
    assert.equal(dec((await conn.readExactly(2, { ms: 1_000 })).bytes), "XY"); // not lost
    peer.close();
    const end = await conn.receive({ ms: 1_000 });
    assert.deepEqual([end.bytes.length, end.eof], [0, true]);
  } finally {
    conn.close();
  }
});

Deno.test("Conn: reset sends RST with no end of file first; the trace shows it", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const trace = new TraceRecorder();
  const conn = await dial(listener.addr.port, {}, trace);
  const peer = await listener.accept();
  try {
    conn.reset();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(() => peer.read(new Uint8Array(16)), Deno.errors.ConnectionReset);
  } finally {
    peer.close();
  }
  const kinds = trace.finish().connections[0].events.map((e) => e.kind);
  assert.deepEqual(kinds, ["connect", "error", "close"]);
});

Deno.test("Conn: resets reach the right socket while others close and their fds are reused", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = async () => {
    const conn = await dial(listener.addr.port);
    return { conn, peer: await listener.accept() };
  };
  const reset = async (pair: { conn: { reset(): void }; peer: Deno.Conn }) => {
    pair.conn.reset();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(() => pair.peer.read(new Uint8Array(16)), Deno.errors.ConnectionReset);
    pair.peer.close();
  };
  const pairs = [await open(), await open(), await open()];
  await reset(pairs[0]); // the scan: every socket recorded
  pairs[1].conn.close(); // its fd is free, and goes to the next socket opened
  pairs[1].peer.close();
  const later = await open();
  await reset(later); // recorded nowhere: a new scan
  await reset(pairs[2]); // recorded by that scan
});

Deno.test("Conn: a small receive buffer, IPv6, and an error on connect are recorded", async () => {
  using listener = Deno.listen({ hostname: "::1", port: 0 });
  const trace = new TraceRecorder();
  const conn = await dial(listener.addr.port, { host: "::1", receiveBuffer: 4096 }, trace);
  const peer = await listener.accept();
  peer.close();
  conn.close();
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(() => dial(port, {}, trace));
  const lanes = trace.finish().connections;
  assert.equal(lanes.length, 2);
  assert.equal(lanes[1].events[0].kind, "error");
});
