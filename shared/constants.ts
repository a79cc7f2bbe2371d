/**
 * Linux x86_64 constants for sockets, file descriptors, poll, epoll and errno, gathered in one
 * place so every other module (and every student) spells them the same way. The values are the
 * ones in glibc's headers on Linux x86_64; they differ on other systems.
 *
 * @module
 */

// ---- socket(2) ----

/** Address family for IPv4 (`struct sockaddr_in`). */
export const AF_INET = 2;
/** Address family for IPv6 (`struct sockaddr_in6`). */
export const AF_INET6 = 10;
/** Socket type for a reliable byte stream (TCP). */
export const SOCK_STREAM = 1;
/** Flag OR-ed into the socket type: create the socket in non-blocking mode. */
export const SOCK_NONBLOCK = 0o4000;
/** Flag OR-ed into the socket type: close the socket automatically on exec. */
export const SOCK_CLOEXEC = 0o2000000;

// ---- setsockopt(2) / getsockopt(2) ----

/** Option level for generic socket options (`SO_*`). */
export const SOL_SOCKET = 1;
/** Allow bind to a port that still has connections in TIME_WAIT. */
export const SO_REUSEADDR = 2;
/** Allow several sockets to listen on one port; the kernel spreads connections over them. */
export const SO_REUSEPORT = 15;
/** Read (and clear) the pending error of a socket, e.g. the result of a non-blocking connect. */
export const SO_ERROR = 4;
/** Size of the kernel send buffer in bytes. */
export const SO_SNDBUF = 7;
/** Size of the kernel receive buffer in bytes. */
export const SO_RCVBUF = 8;
/** Linger on close (takes a `struct linger`, see `setLinger`). */
export const SO_LINGER = 13;
/** Option level (and protocol number) for TCP options (`TCP_*`). */
export const IPPROTO_TCP = 6;
/** Disable Nagle's algorithm: send small segments immediately. */
export const TCP_NODELAY = 1;

// ---- shutdown(2) ----

/** `shutdown` how: no more reads. */
export const SHUT_RD = 0;
/** `shutdown` how: no more writes; the peer reads end-of-file (half-close). */
export const SHUT_WR = 1;
/** `shutdown` how: no more reads or writes. */
export const SHUT_RDWR = 2;

// ---- fcntl(2) ----

/** `fcntl` command: get the file descriptor flags (`FD_CLOEXEC`). */
export const F_GETFD = 1;
/** `fcntl` command: set the file descriptor flags (`FD_CLOEXEC`). */
export const F_SETFD = 2;
/** `fcntl` command: get the file status flags (`O_NONBLOCK`, ...). */
export const F_GETFL = 3;
/** `fcntl` command: set the file status flags (`O_NONBLOCK`, ...). */
export const F_SETFL = 4;
/** File descriptor flag: close this fd when the process calls exec. */
export const FD_CLOEXEC = 1;
/** File status flag: calls that would block fail with `EAGAIN` instead. */
export const O_NONBLOCK = 0o4000;

// ---- poll(2) ----

/** `poll` event: there is data to read (or a connection to accept, or end-of-file). */
export const POLLIN = 0x001;
/** `poll` event: there is urgent (out-of-band) data to read. */
export const POLLPRI = 0x002;
/** `poll` event: writing now will not block. */
export const POLLOUT = 0x004;
/** `poll` result: the fd has an error condition (always reported). */
export const POLLERR = 0x008;
/** `poll` result: the peer hung up (always reported). */
export const POLLHUP = 0x010;
/** `poll` result: the fd is not open (always reported). */
export const POLLNVAL = 0x020;
/** `poll` event: the peer shut down its writing half (Linux-specific). */
export const POLLRDHUP = 0x2000;

// ---- epoll(7) ----

/** `epoll` event: the fd is readable. */
export const EPOLLIN = 0x001;
/** `epoll` event: the fd is writable. */
export const EPOLLOUT = 0x004;
/** `epoll` event: the fd has an error condition (always reported). */
export const EPOLLERR = 0x008;
/** `epoll` event: the peer hung up (always reported). */
export const EPOLLHUP = 0x010;
/** `epoll` event: the peer shut down its writing half. */
export const EPOLLRDHUP = 0x2000;
/** `epoll` flag: edge-triggered; report only changes, so drain the fd until `EAGAIN`. */
export const EPOLLET = 0x80000000;
/** `epoll` flag: report the fd once, then disable it until re-armed with `EPOLL_CTL_MOD`. */
export const EPOLLONESHOT = 0x40000000;
/** `epoll_ctl` op: start watching an fd. */
export const EPOLL_CTL_ADD = 1;
/** `epoll_ctl` op: stop watching an fd. */
export const EPOLL_CTL_DEL = 2;
/** `epoll_ctl` op: change the events watched for an fd. */
export const EPOLL_CTL_MOD = 3;
/** `epoll_create1` flag: close the epoll fd on exec. */
export const EPOLL_CLOEXEC = 0o2000000;

// ---- send(2) / recv(2) ----

/** `send` flag: fail with `EPIPE` instead of raising SIGPIPE when the peer is gone. */
export const MSG_NOSIGNAL = 0x4000;
/** `send`/`recv` flag: do not block for this one call, whatever the fd's mode. */
export const MSG_DONTWAIT = 0x40;

// ---- errno(3) ----

/** errno 1, `EPERM`: operation not permitted. */
export const EPERM = 1;
/** errno 2, `ENOENT`: no such file or directory. */
export const ENOENT = 2;
/** errno 3, `ESRCH`: no such process. */
export const ESRCH = 3;
/** errno 4, `EINTR`: interrupted system call. */
export const EINTR = 4;
/** errno 5, `EIO`: input/output error. */
export const EIO = 5;
/** errno 9, `EBADF`: bad file descriptor. */
export const EBADF = 9;
/** errno 10, `ECHILD`: no child processes. */
export const ECHILD = 10;
/** errno 11, `EAGAIN`: resource temporarily unavailable. */
export const EAGAIN = 11;
/** errno 12, `ENOMEM`: cannot allocate memory. */
export const ENOMEM = 12;
/** errno 13, `EACCES`: permission denied. */
export const EACCES = 13;
/** errno 14, `EFAULT`: bad address. */
export const EFAULT = 14;
/** errno 17, `EEXIST`: file exists. */
export const EEXIST = 17;
/** errno 20, `ENOTDIR`: not a directory. */
export const ENOTDIR = 20;
/** errno 22, `EINVAL`: invalid argument. */
export const EINVAL = 22;
/** errno 23, `ENFILE`: too many open files in system. */
export const ENFILE = 23;
/** errno 24, `EMFILE`: too many open files. */
export const EMFILE = 24;
/** errno 28, `ENOSPC`: no space left on device. */
export const ENOSPC = 28;
/** errno 29, `ESPIPE`: illegal seek. */
export const ESPIPE = 29;
/** errno 32, `EPIPE`: broken pipe. */
export const EPIPE = 32;
/** errno 34, `ERANGE`: result out of range. */
export const ERANGE = 34;
/** errno 38, `ENOSYS`: function not implemented. */
export const ENOSYS = 38;
/** errno 88, `ENOTSOCK`: socket operation on non-socket. */
export const ENOTSOCK = 88;
/** errno 89, `EDESTADDRREQ`: destination address required. */
export const EDESTADDRREQ = 89;
/** errno 90, `EMSGSIZE`: message too long. */
export const EMSGSIZE = 90;
/** errno 91, `EPROTOTYPE`: protocol wrong type for socket. */
export const EPROTOTYPE = 91;
/** errno 92, `ENOPROTOOPT`: protocol not available. */
export const ENOPROTOOPT = 92;
/** errno 93, `EPROTONOSUPPORT`: protocol not supported. */
export const EPROTONOSUPPORT = 93;
/** errno 95, `EOPNOTSUPP`: operation not supported. */
export const EOPNOTSUPP = 95;
/** errno 97, `EAFNOSUPPORT`: address family not supported by protocol. */
export const EAFNOSUPPORT = 97;
/** errno 98, `EADDRINUSE`: address already in use. */
export const EADDRINUSE = 98;
/** errno 99, `EADDRNOTAVAIL`: cannot assign requested address. */
export const EADDRNOTAVAIL = 99;
/** errno 100, `ENETDOWN`: network is down. */
export const ENETDOWN = 100;
/** errno 101, `ENETUNREACH`: network is unreachable. */
export const ENETUNREACH = 101;
/** errno 103, `ECONNABORTED`: software caused connection abort. */
export const ECONNABORTED = 103;
/** errno 104, `ECONNRESET`: connection reset by peer. */
export const ECONNRESET = 104;
/** errno 105, `ENOBUFS`: no buffer space available. */
export const ENOBUFS = 105;
/** errno 106, `EISCONN`: transport endpoint is already connected. */
export const EISCONN = 106;
/** errno 107, `ENOTCONN`: transport endpoint is not connected. */
export const ENOTCONN = 107;
/** errno 108, `ESHUTDOWN`: cannot send after transport endpoint shutdown. */
export const ESHUTDOWN = 108;
/** errno 110, `ETIMEDOUT`: connection timed out. */
export const ETIMEDOUT = 110;
/** errno 111, `ECONNREFUSED`: connection refused. */
export const ECONNREFUSED = 111;
/** errno 112, `EHOSTDOWN`: host is down. */
export const EHOSTDOWN = 112;
/** errno 113, `EHOSTUNREACH`: no route to host. */
export const EHOSTUNREACH = 113;
/** errno 114, `EALREADY`: operation already in progress. */
export const EALREADY = 114;
/** errno 115, `EINPROGRESS`: operation now in progress. */
export const EINPROGRESS = 115;

/** Every errno this module names, as `[number, name, description]`, in numeric order. */
export const ERRNO_TABLE: readonly (readonly [number, string, string])[] = [
  [EPERM, "EPERM", "operation not permitted"],
  [ENOENT, "ENOENT", "no such file or directory"],
  [ESRCH, "ESRCH", "no such process"],
  [EINTR, "EINTR", "interrupted system call"],
  [EIO, "EIO", "input/output error"],
  [EBADF, "EBADF", "bad file descriptor"],
  [ECHILD, "ECHILD", "no child processes"],
  [EAGAIN, "EAGAIN", "resource temporarily unavailable"],
  [ENOMEM, "ENOMEM", "cannot allocate memory"],
  [EACCES, "EACCES", "permission denied"],
  [EFAULT, "EFAULT", "bad address"],
  [EEXIST, "EEXIST", "file exists"],
  [ENOTDIR, "ENOTDIR", "not a directory"],
  [EINVAL, "EINVAL", "invalid argument"],
  [ENFILE, "ENFILE", "too many open files in system"],
  [EMFILE, "EMFILE", "too many open files"],
  [ENOSPC, "ENOSPC", "no space left on device"],
  [ESPIPE, "ESPIPE", "illegal seek"],
  [EPIPE, "EPIPE", "broken pipe"],
  [ERANGE, "ERANGE", "result out of range"],
  [ENOSYS, "ENOSYS", "function not implemented"],
  [ENOTSOCK, "ENOTSOCK", "socket operation on non-socket"],
  [EDESTADDRREQ, "EDESTADDRREQ", "destination address required"],
  [EMSGSIZE, "EMSGSIZE", "message too long"],
  [EPROTOTYPE, "EPROTOTYPE", "protocol wrong type for socket"],
  [ENOPROTOOPT, "ENOPROTOOPT", "protocol not available"],
  [EPROTONOSUPPORT, "EPROTONOSUPPORT", "protocol not supported"],
  [EOPNOTSUPP, "EOPNOTSUPP", "operation not supported"],
  [EAFNOSUPPORT, "EAFNOSUPPORT", "address family not supported by protocol"],
  [EADDRINUSE, "EADDRINUSE", "address already in use"],
  [EADDRNOTAVAIL, "EADDRNOTAVAIL", "cannot assign requested address"],
  [ENETDOWN, "ENETDOWN", "network is down"],
  [ENETUNREACH, "ENETUNREACH", "network is unreachable"],
  [ECONNABORTED, "ECONNABORTED", "software caused connection abort"],
  [ECONNRESET, "ECONNRESET", "connection reset by peer"],
  [ENOBUFS, "ENOBUFS", "no buffer space available"],
  [EISCONN, "EISCONN", "transport endpoint is already connected"],
  [ENOTCONN, "ENOTCONN", "transport endpoint is not connected"],
  [ESHUTDOWN, "ESHUTDOWN", "cannot send after transport endpoint shutdown"],
  [ETIMEDOUT, "ETIMEDOUT", "connection timed out"],
  [ECONNREFUSED, "ECONNREFUSED", "connection refused"],
  [EHOSTDOWN, "EHOSTDOWN", "host is down"],
  [EHOSTUNREACH, "EHOSTUNREACH", "no route to host"],
  [EALREADY, "EALREADY", "operation already in progress"],
  [EINPROGRESS, "EINPROGRESS", "operation now in progress"],
];

/** `EWOULDBLOCK` is the same number as `EAGAIN` on Linux. */
export const EWOULDBLOCK = 11;

const NAMES = new Map(ERRNO_TABLE.map(([n, name]) => [n, name]));
const DESCRIPTIONS = new Map(ERRNO_TABLE.map(([n, , description]) => [n, description]));

/**
 * The symbolic name of an errno number, such as `"EADDRINUSE"` for 98. Numbers this module does
 * not know come back as `"E"` followed by the number (`"E200"`), so the result is always a usable
 * string for messages and comparisons.
 */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}

/**
 * A short lower-case description of an errno number, such as `"address already in use"` for 98,
 * in the words of strerror(3). Unknown numbers give `"unknown error N"`.
 */
export function errnoDescription(errno: number): string {
  return DESCRIPTIONS.get(errno) ?? `unknown error ${errno}`;
}
