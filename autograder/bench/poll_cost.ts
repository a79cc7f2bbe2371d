/**
 * The cost of one `poll()` and one `epoll_wait()` call when `n` file descriptors are watched and
 * one of them is ready: the number behind "poll is O(watched), epoll is O(ready)". The watched
 * fds are eventfds (one fd each, so 10,000 fit under the open-file limit), and the last one is
 * made readable. Both calls use timeout 0 and are called straight through FFI with buffers
 * built once, so the figure is the system call, not the JavaScript around it. Time is the
 * thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so other load on a shared machine, which
 * stretches wall-clock time, does not inflate it.
 *
 *     deno run --allow-all poll_cost.ts 10 100 10000     # prints one JSON line
 *
 * @module
 */

const POLLIN = 0x1, EPOLLIN = 0x1, EPOLL_CTL_ADD = 1;
const POLLFD_SIZE = 8; // int fd; short events; short revents
const EPOLL_EVENT_SIZE = 12; // packed on x86_64: u32 events; u64 data

/** Per-call microseconds for one count of watched fds. */
export interface PollCost {
  fds: number;
  pollUs: number;
  epollUs: number;
}

const SYMBOLS = {
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

const CLOCK_THREAD_CPUTIME_ID = 3;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** This thread's CPU time in microseconds. */
function threadCpuUs(libc: Libc): number {
  const ts = new BigInt64Array(2);
  libc.clock_gettime(CLOCK_THREAD_CPUTIME_ID, new Uint8Array(ts.buffer));
  return Number(ts[0]) * 1e6 + Number(ts[1]) / 1000;
}

/** Calls `fn` for about `ms` ms of CPU time; returns the mean CPU µs per call. */
function timePerCall(libc: Libc, fn: () => void, ms: number): number {
  for (let i = 0; i < 100; i++) fn(); // warm the JIT and the kernel's caches
  let calls = 0;
  const start = threadCpuUs(libc);
  let now = start;
  while (now - start < ms * 1000) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
    now = threadCpuUs(libc);
  }
  return (now - start) / calls;
}

/** Measures both calls with `n` eventfds watched, the last one readable. */
export function measure(libc: Libc, n: number, ms = 200): PollCost {
  const fds = Array.from({ length: n }, () => libc.eventfd(0, 0));
  if (fds.some((fd) => fd < 0)) {
    fds.filter((fd) => fd >= 0).forEach((fd) => libc.close(fd));
    throw new RangeError(`Cannot open ${n} eventfds: out of file descriptors`);
  }
  const ep = libc.epoll_create1(0);
  try {
    const one = new BigUint64Array([1n]);
    libc.write(fds[n - 1], new Uint8Array(one.buffer), 8n); // now readable, and stays so
    const pollfds = new DataView(new ArrayBuffer(n * POLLFD_SIZE));
    const ev = new DataView(new ArrayBuffer(EPOLL_EVENT_SIZE));
    fds.forEach((fd, i) => {
      pollfds.setInt32(i * POLLFD_SIZE, fd, true);
      pollfds.setInt16(i * POLLFD_SIZE + 4, POLLIN, true);
      ev.setUint32(0, EPOLLIN, true);
      ev.setInt32(4, i, true);
      libc.epoll_ctl(ep, EPOLL_CTL_ADD, fd, new Uint8Array(ev.buffer));
    });
    const count = BigInt(n);
    const pollBuf = new Uint8Array(pollfds.buffer), out = new Uint8Array(64 * EPOLL_EVENT_SIZE);
    if (libc.poll(pollBuf, BigInt(n), 0) !== 1 || libc.epoll_wait(ep, out, 64, 0) !== 1) {
      throw new Error(`Cannot measure poll with ${n} fds: expected exactly one ready fd`);
    }
    return {
      fds: n,
      pollUs: timePerCall(libc, () => libc.poll(pollBuf, count, 0), ms),
      epollUs: timePerCall(libc, () => libc.epoll_wait(ep, out, 64, 0), ms),
    };
  } finally {
    libc.close(ep);
    fds.forEach((fd) => libc.close(fd));
  }
}

/** Measures each count in `counts`, in a fresh set of fds each time. */
export function measureAll(counts: number[], ms = 200): PollCost[] {
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  try {
    return counts.map((n) => measure(lib.symbols, n, ms));
  } finally {
    lib.close();
  }
}

if (import.meta.main) {
  const counts = Deno.args.map(Number).filter((n) => Number.isInteger(n) && n > 0);
  console.log(JSON.stringify(measureAll(counts.length > 0 ? counts : [10, 100, 10_000])));
}
