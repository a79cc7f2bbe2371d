import { errno, libc, toNumber } from "./_libc.ts";
import { shortenLength } from "./_private.ts";
import {
  addressFamily,
  decodeSockAddr,
  encodeSockAddr,
  formatSockAddr,
  type SockAddr,
  SOCKADDR_IN6_SIZE,
} from "./address.ts";
import {
  AF_INET,
  EINTR,
  ENOTSOCK,
  F_GETFL,
  F_SETFL,
  MSG_NOSIGNAL,
  O_NONBLOCK,
  POLLOUT,
  SO_ERROR,
  SO_LINGER,
  SO_REUSEADDR,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.ts";
import { poll } from "./poll.ts";
import { SysError } from "./sys_error.ts";

/**
 * Run `call` until it does not fail with EINTR (a signal arrived mid-call); return its result,
 * or throw SysError naming `syscall` and `target` when it fails for any other reason.
 */
function retry(syscall: string, target: string | undefined, call: () => number | bigint): number {
  for (;;) {
    const r = toNumber(call());
    if (r !== -1) return r;
    const e = errno();
    if (e !== EINTR) throw new SysError(syscall, e, target);
  }
}

const fdName = (fd: number) => `fd ${fd}`;

/**
 * Create a socket and return its file descriptor. `family` is `AF_INET` (default) or
 * `AF_INET6`; `type` is `SOCK_STREAM` (default), optionally OR-ed with `SOCK_NONBLOCK` or
 * `SOCK_CLOEXEC`. Without `SOCK_CLOEXEC` the fd is inherited by child processes. Throws
 * SysError (for example EMFILE when the process is out of file descriptors).
 */
export function socket(family: number = AF_INET, type: number = SOCK_STREAM): number {
  return retry("socket", `family ${family}`, () => libc().socket(family | 0, type | 0, 0));
}

/**
 * Set an integer socket option, such as `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)` or
 * `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)`. Options that take a struct (like `SO_LINGER`,
 * see `setLinger`) are not supported here. Throws SysError.
 */
export function setsockopt(fd: number, level: number, option: number, value: number): void {
  const buf = new Uint8Array(4);
  new DataView(buf.buffer).setInt32(0, value | 0, true);
  retry("setsockopt", fdName(fd), () => libc().setsockopt(fd | 0, level | 0, option | 0, buf, 4));
}

/**
 * Read an integer socket option, such as `getsockopt(fd, SOL_SOCKET, SO_RCVBUF)` or
 * `getsockopt(fd, SOL_SOCKET, SO_ERROR)` (which also clears the pending error). Throws SysError.
 */
export function getsockopt(fd: number, level: number, option: number): number {
  const buf = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  retry("getsockopt", fdName(fd), () => libc().getsockopt(fd | 0, level | 0, option | 0, buf, len));
  return new DataView(buf.buffer).getInt32(0, true);
}

/**
 * Set `SO_LINGER` on a socket. With `seconds` a number, `close` waits up to that long for unsent
 * data; `setLinger(fd, 0)` makes `close` discard unsent data and send a RST instead of a FIN
 * (an abortive close). `null` restores the default. Throws SysError.
 */
export function setLinger(fd: number, seconds: number | null): void {
  const buf = new Uint8Array(new Int32Array([seconds === null ? 0 : 1, (seconds ?? 0) | 0]).buffer);
  retry("setsockopt", fdName(fd), () => libc().setsockopt(fd | 0, SOL_SOCKET, SO_LINGER, buf, 8));
}

/**
 * Bind a socket to a local address; port 0 asks the kernel for an ephemeral port (find it with
 * `getsockname`). The socket's family must match the host's. Throws SysError, such as
 * `bind 127.0.0.1:7000: EADDRINUSE (address already in use)`.
 */
export function bind(fd: number, addr: SockAddr): void {
  const sa = encodeSockAddr(addr);
  retry("bind", formatSockAddr(addr), () => libc().bind(fd | 0, sa, sa.length));
}

/**
 * Mark a bound socket as listening, with room for `backlog` (default 128) connections that
 * the kernel has completed but `accept` has not yet taken. Throws SysError.
 */
export function listen(fd: number, backlog: number = 128): void {
  retry("listen", fdName(fd), () => libc().listen(fd | 0, backlog | 0));
}

/**
 * Take the next completed connection from a listening socket and return its new fd. Blocks
 * while there is none, unless the listener is non-blocking (then SysError EAGAIN). The new fd
 * does not have close-on-exec set, so a child process can inherit it. Throws SysError.
 */
export function accept(fd: number): number {
  return retry("accept", fdName(fd), () => libc().accept(fd | 0, null, null));
}

/**
 * Connect a socket to a remote address. Blocks until the handshake completes, unless the socket
 * is non-blocking (then SysError EINPROGRESS: wait for POLLOUT and read `SO_ERROR`). Throws
 * SysError, such as `connect 127.0.0.1:1: ECONNREFUSED (connection refused)`.
 */
export function connect(fd: number, addr: SockAddr): void {
  const sa = encodeSockAddr(addr);
  const target = formatSockAddr(addr);
  if (libc().connect(fd | 0, sa, sa.length) === 0) return;
  const e = errno();
  if (e !== EINTR) throw new SysError("connect", e, target);
  // Interrupted: the handshake goes on in the kernel, and calling connect again would fail
  // with EALREADY. Wait for it to finish and collect its result instead.
  poll([{ fd, events: POLLOUT, revents: 0 }], -1);
  const err = getsockopt(fd, SOL_SOCKET, SO_ERROR);
  if (err !== 0) throw new SysError("connect", err, target);
}

/**
 * Read up to `buf.length` bytes into `buf` and return how many arrived; 0 means end-of-file.
 * One call: it may return fewer bytes than asked even when more are on the way, so loop (or use
 * `readN`/`LineReader`). Blocks until some data or EOF unless the fd is non-blocking (then
 * SysError EAGAIN). When the environment variable `COURSE_SHORT_COUNTS` holds an integer seed,
 * a seeded PRNG passes the kernel a shorter length half the time, to expose missing loops.
 */
export function read(fd: number, buf: Uint8Array): number {
  if (buf.length === 0) return 0;
  const len = BigInt(shortenLength(buf.length));
  return retry("read", fdName(fd), () => libc().read(fd | 0, buf, len));
}

/**
 * Write some of `buf` with one call and return how many bytes the kernel took: possibly fewer
 * than `buf.length`, so loop (or use `writeAll`). On a socket it calls `send` with
 * `MSG_NOSIGNAL`, so writing to a peer that has gone away throws SysError EPIPE instead of
 * killing the process with SIGPIPE; on anything else (pipes, files) it calls `write`. Blocks
 * while the send buffer is full unless the fd is non-blocking (then SysError EAGAIN). An empty
 * `buf` returns 0 without a system call. Under `COURSE_SHORT_COUNTS` (an integer seed) a seeded
 * PRNG passes the kernel a shorter length half the time, to expose unlooped writes.
 */
export function write(fd: number, buf: Uint8Array): number {
  if (buf.length === 0) return 0;
  const len = BigInt(shortenLength(buf.length));
  for (;;) {
    const r = toNumber(libc().send(fd | 0, buf, len, MSG_NOSIGNAL));
    if (r !== -1) return r;
    const e = errno();
    if (e === ENOTSOCK) return retry("write", fdName(fd), () => libc().write(fd | 0, buf, len));
    if (e !== EINTR) throw new SysError("write", e, fdName(fd));
  }
}

/**
 * Shut down part of a full-duplex connection: `SHUT_WR` sends FIN (the peer reads end-of-file)
 * while this side can still read, `SHUT_RD` stops reading, `SHUT_RDWR` both. The fd stays open;
 * `close` it afterwards. Throws SysError (ENOTCONN if the socket is not connected).
 */
export function shutdown(fd: number, how: number): void {
  retry("shutdown", fdName(fd), () => libc().shutdown(fd | 0, how | 0));
}

/**
 * Close a file descriptor. Not retried on EINTR: on Linux the fd is gone even then, and a retry
 * could close an fd another thread just opened with the same number. Throws SysError (EBADF for
 * an fd that is not open).
 */
export function close(fd: number): void {
  if (libc().close(fd | 0) === -1) {
    const e = errno();
    if (e !== EINTR) throw new SysError("close", e, fdName(fd));
  }
}

function sockName(call: "getsockname" | "getpeername", fd: number): SockAddr {
  const buf = new Uint8Array(SOCKADDR_IN6_SIZE);
  const len = new Uint8Array(new Uint32Array([buf.length]).buffer);
  retry(call, fdName(fd), () => libc()[call](fd | 0, buf, len));
  return decodeSockAddr(buf);
}

/**
 * The local address a socket is bound to; after binding port 0 this is where the ephemeral port
 * shows up. Throws SysError.
 */
export function getsockname(fd: number): SockAddr {
  return sockName("getsockname", fd);
}

/**
 * The address of the peer a socket is connected to. Throws SysError (ENOTCONN if it is not
 * connected).
 */
export function getpeername(fd: number): SockAddr {
  return sockName("getpeername", fd);
}

/**
 * File control with an int argument: `fcntl(fd, F_GETFL)`, `fcntl(fd, F_SETFL, flags)`,
 * `fcntl(fd, F_GETFD)`, `fcntl(fd, F_SETFD, FD_CLOEXEC)`. Returns the call's result. Throws
 * SysError.
 */
export function fcntl(fd: number, cmd: number, arg: number = 0): number {
  return retry("fcntl", fdName(fd), () => libc().fcntl(fd | 0, cmd | 0, arg | 0));
}

/**
 * Turn `O_NONBLOCK` on (default) or off for an fd. In non-blocking mode, calls that would wait
 * throw SysError EAGAIN (EINPROGRESS for `connect`) instead. Throws SysError.
 */
export function setNonBlocking(fd: number, on: boolean = true): void {
  const flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/**
 * Duplicate a file descriptor: the lowest free fd number now refers to the same open socket or
 * file. Throws SysError.
 */
export function dup(fd: number): number {
  return retry("dup", fdName(fd), () => libc().dup(fd | 0));
}

/**
 * Create a pipe and return `[readFd, writeFd]`: bytes written to the second come out of the
 * first. Handy for waking a `poll` or `epoll` loop from elsewhere. Throws SysError.
 */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  retry("pipe", undefined, () => libc().pipe(new Uint8Array(fds.buffer)));
  return [fds[0], fds[1]];
}

/** Options for `listenTcp`. */
export interface ListenTcpOptions {
  /** Local address to bind: an IP literal or "localhost". Default `"127.0.0.1"`. */
  host?: string;
  /** Port to listen on; 0 for an ephemeral port. */
  port: number;
  /** Length of the queue of completed connections. Default 128. */
  backlog?: number;
}

/**
 * Open a listening TCP socket in one step: `socket` of the host's family, `SO_REUSEADDR` (so a
 * restarted server can rebind while old connections sit in TIME_WAIT), `bind`, `listen`.
 * Returns the listening fd; closes it again if any step fails, then throws SysError.
 */
export function listenTcp({ host = "127.0.0.1", port, backlog = 128 }: ListenTcpOptions): number {
  const fd = socket(addressFamily(host));
  try {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, { host, port });
    listen(fd, backlog);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * Open a TCP connection in one step: `socket` of the host's family, then a blocking `connect`.
 * Returns the connected fd; closes it again if connecting fails, then throws SysError (such as
 * ECONNREFUSED).
 */
export function connectTcp(addr: SockAddr): number {
  const fd = socket(addressFamily(addr.host));
  try {
    connect(fd, addr);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}
