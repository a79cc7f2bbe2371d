import assert from "node:assert/strict";
import { enc, tcpPair } from "./_testing.ts";
import { POLLIN, POLLNVAL, POLLOUT } from "./constants.ts";
import { poll, type PollFd } from "./poll.ts";
import { close, pipe } from "./socket.ts";
import { writeAll } from "./rio.ts";

Deno.test("poll times out when nothing is ready", () => {
  using p = tcpPair();
  const fds: PollFd[] = [{ fd: p.server, events: POLLIN, revents: -1 }];
  const start = performance.now();
  assert.equal(poll(fds, 30), 0);
  assert.ok(performance.now() - start >= 25);
  assert.equal(fds[0].revents, 0);
});

Deno.test("poll reports POLLIN when data is ready, POLLOUT when there is room", () => {
  using p = tcpPair();
  writeAll(p.client, enc("x"));
  const fds: PollFd[] = [
    { fd: p.server, events: POLLIN, revents: 0 },
    { fd: p.client, events: POLLIN, revents: 0 },
    { fd: p.client, events: POLLOUT, revents: 0 },
  ];
  assert.equal(poll(fds, 1000), 2);
  assert.equal(fds[0].revents, POLLIN);
  assert.equal(fds[1].revents, 0);
  assert.equal(fds[2].revents, POLLOUT);
});

Deno.test("poll reports POLLNVAL for a closed fd and ignores negative fds", () => {
  const [r, w] = pipe();
  close(r);
  close(w);
  const fds: PollFd[] = [{ fd: r, events: POLLIN, revents: 0 }, {
    fd: -1,
    events: POLLIN,
    revents: 0,
  }];
  assert.equal(poll(fds, 0), 1);
  assert.equal(fds[0].revents, POLLNVAL);
  assert.equal(fds[1].revents, 0);
});

Deno.test("poll with no fds just sleeps", () => {
  assert.equal(poll([], 1), 0);
});

/**
 * A worker that, once the main thread (`tid`) is blocked in poll(2), sends it SIGUSR2 with
 * tgkill, waits until the signal is delivered and the thread is back in poll, then writes a byte
 * to `wfd`. It watches /proc/self/task/<tid>: `syscall` starts with "7 " while in poll (x86_64),
 * `status` shows the signal in SigPnd until it is delivered.
 */
const INTERRUPTER = `
self.onmessage = (e) => {
  const { tid, wfd } = e.data;
  const lib = Deno.dlopen("libc.so.6", {
    tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  });
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const task = "/proc/self/task/" + tid;
  const until = (what, ok) => {
    for (const end = Date.now() + 5000; !ok(); Atomics.wait(nap, 0, 0, 1)) {
      if (Date.now() > end) throw new Error("timed out waiting for " + what);
    }
  };
  const inPoll = () => Deno.readTextFileSync(task + "/syscall").startsWith("7 ");
  const pending = () => /SigPnd:\\s*0*[1-9a-f]/.test(Deno.readTextFileSync(task + "/status"));
  let outcome = "ok";
  try {
    until("the main thread to block in poll", inPoll);
    if (lib.symbols.tgkill(Deno.pid, tid, 12) !== 0) throw new Error("tgkill failed");
    until("poll to be called again after the signal", () => !pending() && inPoll());
  } catch (err) {
    outcome = String(err);
  }
  lib.symbols.write(wfd, new Uint8Array([1]), 1n); // wakes the main thread in every case
  lib.close();
  self.postMessage(outcome);
};`;

/** The calling thread's id (not always the pid: `deno test` runs tests on another thread). */
function gettid(): number {
  const lib = Deno.dlopen("libc.so.6", { gettid: { parameters: [], result: "i32" } });
  try {
    return lib.symbols.gettid();
  } finally {
    lib.close();
  }
}

/** Resolves with `p`'s value, or with `fallback` after `ms`; the timer never outlives it. */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve) => timer = setTimeout(() => resolve(fallback), ms));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("poll is retried when a signal interrupts it (EINTR)", async () => {
  let onSignal = () => {};
  const heard = new Promise<string>((resolve) => onSignal = () => resolve("heard"));
  Deno.addSignalListener("SIGUSR2", onSignal); // a handler, so the signal interrupts, not kills
  const [r, w] = pipe();
  const url = URL.createObjectURL(new Blob([INTERRUPTER], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const fds: PollFd[] = [{ fd: r, events: POLLIN, revents: 0 }];
  let polled: number | unknown;
  let outcome: unknown;
  try {
    const replied = new Promise((resolve) => worker.onmessage = (e) => resolve(e.data));
    worker.postMessage({ tid: gettid(), wfd: w });
    try {
      polled = poll(fds, 10_000);
    } catch (err) {
      polled = err; // SysError EINTR: no retry
    }
    // The worker always replies (its waits have deadlines); keep the handler until it has.
    outcome = await replied;
    assert.equal(await within(heard, 5000, "not heard"), "heard"); // the signal really came
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
    Deno.removeSignalListener("SIGUSR2", onSignal);
    close(r);
    close(w);
  }
  assert.equal(polled, 1);
  assert.equal(fds[0].revents, POLLIN);
  assert.equal(outcome, "ok");
});
