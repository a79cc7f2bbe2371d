import { errno, libc } from "./_libc.ts";
import { EINTR } from "./constants.ts";
import { SysError } from "./sys_error.ts";

/**
 * One entry of the array given to `poll`, mirroring C's `struct pollfd`: the `fd` to watch, the
 * `events` of interest (`POLLIN`, `POLLOUT`, ...), and `revents`, which `poll` fills with what
 * actually happened (possibly also `POLLERR`, `POLLHUP`, `POLLNVAL`, which are always reported).
 * A negative `fd` is ignored and gets `revents` 0.
 */
export interface PollFd {
  /** The file descriptor to watch. */
  fd: number;
  /** Events of interest, OR-ed together. */
  events: number;
  /** Filled in by `poll`: events that occurred. */
  revents: number;
}

const POLLFD_SIZE = 8; // int fd; short events; short revents

/**
 * Wait until at least one fd in `fds` is ready or `timeoutMs` passes (-1 waits forever, 0
 * just checks). Fills each entry's `revents` and returns how many entries have a non-zero one;
 * 0 means the timeout expired. Retried on EINTR with the same timeout. Blocks the calling
 * thread. Throws SysError.
 */
export function poll(fds: PollFd[], timeoutMs: number): number {
  const buf = new Uint8Array(Math.max(1, fds.length) * POLLFD_SIZE);
  const view = new DataView(buf.buffer);
  fds.forEach((p, i) => {
    view.setInt32(i * POLLFD_SIZE, p.fd | 0, true);
    view.setInt16(i * POLLFD_SIZE + 4, p.events, true);
  });
  let n: number;
  while ((n = libc().poll(buf, BigInt(fds.length), timeoutMs | 0)) === -1) {
    const e = errno();
    if (e !== EINTR) throw new SysError("poll", e, `${fds.length} fds`);
  }
  fds.forEach((p, i) => p.revents = view.getUint16(i * POLLFD_SIZE + 6, true));
  return n;
}
