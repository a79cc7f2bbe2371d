import { errno, libc } from "./_libc.ts";
import { EINTR } from "./constants.ts";
import { SysError } from "./sys_error.ts";

/**
 * One readiness report from `epollWait`: the `fd` that was registered with `epollCtl` and the
 * `events` that occurred on it (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`, ...).
 */
export interface EpollEvent {
  /** The file descriptor that is ready. */
  fd: number;
  /** What happened, as `EPOLL*` bits OR-ed together. */
  events: number;
}

// struct epoll_event is packed on x86_64: u32 events at offset 0, u64 data at offset 4.
const EVENT_SIZE = 12;
let waitBuf = new Uint8Array(64 * EVENT_SIZE); // reused across epollWait calls

/**
 * Create an epoll instance and return its fd; close it with `close` when done. `flags` is 0 or
 * `EPOLL_CLOEXEC`. Throws SysError.
 */
export function epollCreate1(flags: number = 0): number {
  const fd = libc().epoll_create1(flags | 0);
  if (fd === -1) throw new SysError("epoll_create1", errno());
  return fd;
}

/**
 * Add (`EPOLL_CTL_ADD`), change (`EPOLL_CTL_MOD`) or remove (`EPOLL_CTL_DEL`) the watch on `fd`
 * in the epoll instance `epfd`, for the given `events` (`EPOLLIN | EPOLLET`, ...). The fd itself
 * is stored as the event data, so `epollWait` reports it back. Throws SysError (EEXIST when
 * adding an fd twice, ENOENT when changing one that is not there).
 */
export function epollCtl(epfd: number, op: number, fd: number, events: number = 0): void {
  const ev = new Uint8Array(EVENT_SIZE);
  const view = new DataView(ev.buffer);
  view.setUint32(0, events >>> 0, true);
  view.setUint32(4, fd >>> 0, true);
  while (libc().epoll_ctl(epfd | 0, op | 0, fd | 0, ev) === -1) {
    const e = errno();
    if (e !== EINTR) throw new SysError("epoll_ctl", e, `fd ${fd}`);
  }
}

/**
 * Wait up to `timeoutMs` (-1 forever, 0 just check) for registered fds to become ready and
 * return up to `maxEvents` reports; an empty array means the timeout expired. Retried on EINTR
 * with the same timeout. Blocks the calling thread. Throws SysError.
 */
export function epollWait(epfd: number, maxEvents: number, timeoutMs: number): EpollEvent[] {
  if (waitBuf.length < maxEvents * EVENT_SIZE) waitBuf = new Uint8Array(maxEvents * EVENT_SIZE);
  let n: number;
  while ((n = libc().epoll_wait(epfd | 0, waitBuf, maxEvents | 0, timeoutMs | 0)) === -1) {
    const e = errno();
    if (e !== EINTR) throw new SysError("epoll_wait", e, `fd ${epfd}`);
  }
  const view = new DataView(waitBuf.buffer);
  return Array.from({ length: n }, (_, i) => ({
    fd: view.getInt32(i * EVENT_SIZE + 4, true),
    events: view.getUint32(i * EVENT_SIZE, true),
  }));
}
