import assert from "node:assert/strict";
import { enc, tcpPair } from "./_testing.ts";
import { accept, close, connectTcp, getsockname, pipe } from "./socket.ts";
import { writeAll } from "./rio.ts";
import { waitReadable } from "./wait.ts";

Deno.test("waitReadable times out when nothing arrives", async () => {
  using p = tcpPair();
  const start = performance.now();
  assert.equal(await waitReadable(p.server, 50), false);
  assert.ok(performance.now() - start >= 45);
});

Deno.test("waitReadable resolves true once data arrives, while timers keep running", async () => {
  using p = tcpPair();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  setTimeout(() => writeAll(p.client, enc("x")), 100);
  try {
    assert.equal(await waitReadable(p.server, 5000), true);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 3, `the event loop was blocked: ${ticks} ticks`);
});

Deno.test("waitReadable on a listener: true only while a connection waits for accept", async () => {
  using p = tcpPair(); // its one connection was accepted already
  assert.equal(await waitReadable(p.listener, 0), false);
  const second = connectTcp(getsockname(p.listener)); // completes in the backlog
  try {
    assert.equal(await waitReadable(p.listener, 1000), true);
    close(accept(p.listener));
  } finally {
    close(second);
  }
});

Deno.test("waitReadable reports end of file as readable", async () => {
  const [r, w] = pipe();
  close(w);
  try {
    assert.equal(await waitReadable(r, 1000), true);
  } finally {
    close(r);
  }
});
