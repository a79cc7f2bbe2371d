import { libc } from "./_libc.ts";
import { POLLIN } from "./constants.ts";

/**
 * Wait without blocking the JavaScript thread until `fd` is readable (for a listening socket: a
 * connection is waiting to be accepted), or until `timeoutMs` passes (-1 waits forever).
 * Resolves true when it is readable, or has an error or hang-up pending (the next call on it
 * will report it), false when the timeout passed or a signal interrupted the wait.
 *
 * The `poll` runs on a thread pool, so timers, signal listeners and child-process promises keep
 * running meanwhile: a server that must also notice its children exiting waits here, then makes
 * the (now immediate) blocking call. Readiness can be stale by the time you act on it (another
 * process may take the connection first), so pair it with a non-blocking fd and treat EAGAIN as
 * "wait again".
 *
 * @example Accept without freezing the event loop
 * ```ts ignore
 * import { accept, setNonBlocking, waitReadable } from "@course/shared";
 * setNonBlocking(listener);
 * while (true) {
 *   if (!(await waitReadable(listener, 1000))) continue; // timers and promises ran meanwhile
 *   const fd = accept(listener); // may throw SysError EAGAIN if someone else took it
 * }
 * ```
 */
export async function waitReadable(fd: number, timeoutMs: number): Promise<boolean> {
  const pollfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd | 0, true);
  view.setInt16(4, POLLIN, true);
  const n = await libc().poll_nonblocking(pollfd, 1n, timeoutMs | 0);
  return n > 0 && view.getInt16(6, true) !== 0;
}
