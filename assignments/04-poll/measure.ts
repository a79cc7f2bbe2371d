/**
 * Measures what one wait costs as the number of watched fds grows: `poll()` against
 * `epoll_wait()`, for 10, 100 and 10,000 watched fds of which exactly one is ready. Prints a
 * Markdown table (the one in README.md §7 came from this command):
 *
 *     deno run --allow-all assignments/04-poll/measure.ts [--calls N]
 *
 * The fds are loopback TCP sockets, as in your server: the idle ones are copies (`dup`) of one
 * connection nobody writes to, and the ready one holds a byte that is never read, so every call
 * finds exactly one fd ready. Three columns:
 *  - `poll()`: the course library's `poll`, as your server calls it: it copies the array of
 *    PollFd records into C's `struct pollfd` layout and back, then the kernel checks every fd.
 *  - `poll(2) only`: the same system call on an array already in C layout, so only the kernel's
 *    part is timed.
 *  - `epoll_wait()`: the fds were registered once with `epoll_ctl`; a wait looks only at the
 *    ready list.
 *
 * @module
 */
import {
  accept,
  close,
  connectTcp,
  dup,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  epollCreate1,
  epollCtl,
  EPOLLIN,
  epollWait,
  getsockname,
  listenTcp,
  poll,
  POLLIN,
  write,
} from "@course/shared";
import { parseArgs } from "node:util";

const SIZES = [10, 100, 10_000];

const raw = Deno.dlopen("libc.so.6", {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
});

/** Microseconds per call of `call`, over `calls` calls after a warm-up. */
function perCall(calls: number, call: () => void): number {
  for (let i = 0; i < Math.min(calls, 100); i++) call();
  const start = performance.now();
  for (let i = 0; i < calls; i++) call();
  return ((performance.now() - start) * 1000) / calls;
}

/** Times the three waits with `n` watched fds, one of them ready. */
function measure(n: number, calls: number, ready: number, idle: number): number[] {
  const fds = [ready, ...Array.from({ length: n - 1 }, () => dup(idle))];
  const epfd = epollCreate1(EPOLL_CLOEXEC);
  try {
    for (const fd of fds) epollCtl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN);
    const pollfds = fds.map((fd) => ({ fd, events: POLLIN, revents: 0 }));
    const cLayout = new Uint8Array(n * 8);
    const view = new DataView(cLayout.buffer);
    fds.forEach((fd, i) => {
      view.setInt32(i * 8, fd, true);
      view.setInt16(i * 8 + 4, POLLIN, true);
    });
    const check = (got: number) => {
      if (got !== 1) throw new Error(`Expected exactly 1 ready fd, got ${got}`);
    };
    return [
      perCall(calls, () => check(poll(pollfds, -1))),
      perCall(calls, () => check(raw.symbols.poll(cLayout, BigInt(n), -1))),
      perCall(calls, () => check(epollWait(epfd, 64, -1).length)),
    ];
  } finally {
    close(epfd);
    fds.slice(1).forEach(close);
  }
}

/** Reads `[--calls N]`: calls timed per size (null: the defaults), or an error line. */
function parseCalls(args: string[]): number | null | string {
  try {
    const { values } = parseArgs({ args, options: { calls: { type: "string" } } });
    if (values.calls === undefined) return null;
    const calls = Number(values.calls);
    if (Number.isInteger(calls) && calls > 0) return calls;
    return `bad --calls ${values.calls}: expected a whole number above 0`;
  } catch (err) {
    return (err as Error).message;
  }
}

function main(): void {
  const calls = parseCalls(Deno.args);
  if (typeof calls === "string") {
    console.error(`measure: ${calls} (usage: measure.ts [--calls N])`);
    Deno.exit(2);
  }
  const listener = listenTcp({ host: "127.0.0.1", port: 0 });
  const [idlePeer, readyPeer] = [
    connectTcp(getsockname(listener)),
    connectTcp(getsockname(listener)),
  ];
  const [idle, ready] = [accept(listener), accept(listener)];
  write(readyPeer, Uint8Array.of(1)); // stays unread: `ready` is readable on every call
  console.log("| watched fds | poll() | poll(2) only | epoll_wait() |");
  console.log("| ----------: | -----: | -----------: | -----------: |");
  for (const n of SIZES) {
    const perSize = calls ?? (n >= 10_000 ? 300 : 20_000);
    const us = measure(n, perSize, ready, idle).map((t) => `${t.toFixed(1)} µs`);
    console.log(`| ${n.toLocaleString("en")} | ${us.join(" | ")} |`);
  }
  [idle, ready, idlePeer, readyPeer, listener].forEach(close);
  raw.close();
}

if (import.meta.main) main();
