/**
 * The socket API of the course: real Linux system calls (`socket`, `bind`, `listen`, `accept`,
 * `connect`, `read`, `write`, `poll`, `epoll_*`, ...) called through FFI on libc, with typed
 * arguments, JSDoc, and one error type, `SysError`, carrying the errno name (`err.code ===
 * "EAGAIN"`). Each call is thin: it may move fewer bytes than asked, exactly like C, so the
 * robust helpers in the RIO style (`readN`, `readToEnd`, `writeAll`, `LineReader`) loop for you.
 * Calls are synchronous and block the calling thread (use non-blocking fds, `poll`/`epoll`, or
 * Workers for concurrency). Programs need `--allow-ffi`.
 *
 * Short-count injection: when the environment variable `COURSE_SHORT_COUNTS` holds an integer
 * seed (and `--allow-env` lets this module read it), `read` and `write` pass the kernel a shorter
 * length than asked half the time, chosen by a PRNG seeded with it. The kernel is allowed to do
 * this anyway; the autograder does it on purpose so that code which assumes one call moves the
 * whole buffer fails every time rather than once in a while.
 *
 * @example Echo one connection
 * ```ts
 * import {
 *   accept, close, connectTcp, getsockname, listenTcp, readN, readToEnd, SHUT_WR, shutdown,
 *   writeAll,
 * } from "@course/shared";
 *
 * const listener = listenTcp({ host: "127.0.0.1", port: 0 });
 * const client = connectTcp(getsockname(listener)); // completes in the listen backlog
 * const conn = accept(listener);
 * try {
 *   writeAll(client, new TextEncoder().encode("hello"));
 *   shutdown(client, SHUT_WR); // the server will read end-of-file after "hello"
 *   writeAll(conn, readToEnd(conn)); // echo everything back
 *   close(conn);
 *   console.log(new TextDecoder().decode(readN(client, 5))); // "hello"
 * } finally {
 *   close(client);
 *   close(listener);
 * }
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./sys_error.ts";
export * from "./address.ts";
export * from "./socket.ts";
export * from "./poll.ts";
export * from "./epoll.ts";
export * from "./rio.ts";
export * from "./todo.ts";
export * from "./options.ts";
export * from "./wait.ts";
export * from "./mutex.ts";
export * from "./arena.ts";
export * from "./table.ts";
export { findCycles, type LockOrderEdge, type LockOrderEvent } from "./lock_order.ts";
