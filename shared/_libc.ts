// The one place that talks to libc. Every call here is synchronous: errno lives in thread-local
// storage, so it can only be read right after a call made on this same thread.

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // fcntl is variadic in C; every command we use takes at most one int, so three i32s it is.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  pipe: { parameters: ["buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // The same poll(2), run on Deno's thread pool: the JS thread and its event loop stay free while
  // it waits. errno cannot be read after it (another thread made the call).
  poll_nonblocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
} as const;

/** The libc functions this package calls, as loaded by `Deno.dlopen`. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Libc | undefined;

/**
 * The libc symbols. They are opened at import when `--allow-ffi` is already granted (so the
 * library is open before any test starts and the resource sanitizer does not count it as a
 * leak), otherwise on first use, so that importing the package for address parsing alone needs
 * no permission and triggers no prompt.
 */
export function libc(): Libc {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return lib;
}

try {
  if (Deno.permissions.querySync({ name: "ffi" }).state === "granted") libc();
} catch {
  // No permission API or no libc here: the first system call will report the problem.
}

/** The calling thread's errno. Read it immediately after a call that returned -1. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** Turn a `ssize_t` result (number or bigint) into a number. */
export function toNumber(n: number | bigint): number {
  return typeof n === "bigint" ? Number(n) : n;
}
