import assert from "node:assert/strict";
import { dec, enc, tcpPair, withPeer } from "./_testing.ts";
import {
  AF_INET6,
  F_GETFD,
  FD_CLOEXEC,
  IPPROTO_TCP,
  SHUT_WR,
  SO_REUSEADDR,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./constants.ts";
import { readN, readToEnd, writeAll } from "./rio.ts";
import {
  accept,
  close,
  connectTcp,
  fcntl,
  getpeername,
  getsockname,
  getsockopt,
  listenTcp,
  pipe,
  read,
  setLinger,
  setNonBlocking,
  setsockopt,
  shutdown,
  socket,
  write,
} from "./socket.ts";
import { SysError } from "./sys_error.ts";

function assertSysError(fn: () => unknown, code: string, message?: RegExp): SysError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SysError, `expected SysError, got ${err}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected SysError ${code}, nothing was thrown`);
}

Deno.test("half-close: server reads to EOF, replies, client reads reply then EOF", () => {
  using p = tcpPair();
  writeAll(p.client, enc("request"));
  shutdown(p.client, SHUT_WR);
  assert.equal(dec(readToEnd(p.server)), "request");
  writeAll(p.server, enc("reply"));
  shutdown(p.server, SHUT_WR);
  assert.equal(dec(readN(p.client, 100)), "reply");
  assert.equal(read(p.client, new Uint8Array(10)), 0);
});

Deno.test("read on an empty non-blocking socket throws EAGAIN", () => {
  using p = tcpPair();
  setNonBlocking(p.server);
  const err = assertSysError(() => read(p.server, new Uint8Array(10)), "EAGAIN");
  assert.equal(err.syscall, "read");
  setNonBlocking(p.server, false);
});

Deno.test("connect to a closed port throws ECONNREFUSED", () => {
  const l = listenTcp({ port: 0 });
  const { port } = getsockname(l);
  close(l);
  assertSysError(
    () => connectTcp({ host: "127.0.0.1", port }),
    "ECONNREFUSED",
    new RegExp(`^connect 127\\.0\\.0\\.1:${port}: ECONNREFUSED \\(connection refused\\)$`),
  );
});

Deno.test("two listeners on one port throw EADDRINUSE", () => {
  const l = listenTcp({ port: 0 });
  try {
    const { port } = getsockname(l);
    assertSysError(() => listenTcp({ port }), "EADDRINUSE", /^bind 127\.0\.0\.1:\d+: EADDRINUSE/);
  } finally {
    close(l);
  }
});

Deno.test("a large write on a non-blocking socket is short; writeAll finishes it", async () => {
  using p = tcpPair();
  const big = new Uint8Array(8 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i * 7;
  setNonBlocking(p.client);
  let first = 0;
  try {
    first = write(p.client, big);
    assert.ok(first < big.length, `wrote all ${first} bytes at once`);
  } catch (err) {
    assert.ok(err instanceof SysError && err.code === "EAGAIN");
  }
  const { total, sum } = await withPeer<{ total: number; sum: number }>(
    { op: "drain", fd: p.server },
    () => {
      writeAll(p.client, big); // waits with poll(POLLOUT) while the worker drains
      shutdown(p.client, SHUT_WR);
    },
  );
  assert.equal(total, first + big.length);
  let expected = 0;
  for (const b of big.subarray(0, first)) expected = (expected + b) % 65521;
  for (const b of big) expected = (expected + b) % 65521;
  assert.equal(sum, expected);
});

Deno.test("write after the peer closed throws EPIPE instead of killing the process", async () => {
  const listener = listenTcp({ port: 0 });
  const client = connectTcp(getsockname(listener));
  try {
    close(accept(listener)); // the peer goes away at once
    let err: unknown;
    for (let i = 0; i < 100 && err === undefined; i++) {
      try {
        write(client, enc("are you there?"));
        await new Promise((r) => setTimeout(r, 5)); // let the peer's RST arrive
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err instanceof SysError, String(err));
    assert.equal(err.code, "EPIPE");
    assert.match(err.message, /^write fd \d+: EPIPE \(broken pipe\)$/);
  } finally {
    close(client);
    close(listener);
  }
});

Deno.test("EPIPE even with SIGPIPE at its default action, which would kill the process", async () => {
  // Deno itself ignores SIGPIPE, so the test above passes even without MSG_NOSIGNAL. A child
  // process puts SIGPIPE back to SIG_DFL: a write(2) to the gone peer would then kill it.
  const url = (file: string) => JSON.stringify(new URL(file, import.meta.url).href);
  const script = `
    import { accept, close, connectTcp, getsockname, listenTcp, write } from ${url("./socket.ts")};
    import { poll } from ${url("./poll.ts")};
    import { POLLERR, POLLHUP, POLLIN } from ${url("./constants.ts")};
    const libc = Deno.dlopen("libc.so.6", { signal: { parameters: ["i32", "pointer"], result: "pointer" } });
    libc.symbols.signal(13, null); // SIGPIPE: SIG_DFL
    const listener = listenTcp({ port: 0 });
    const client = connectTcp(getsockname(listener));
    close(accept(listener));
    write(client, new Uint8Array(10)); // the gone peer answers with a reset
    const ready = [{ fd: client, events: POLLIN, revents: 0 }];
    for (let i = 0; i < 10 && !(ready[0].revents & (POLLERR | POLLHUP)); i++) poll(ready, 500);
    try {
      write(client, new Uint8Array(10));
      console.log("no error");
    } catch (err) {
      console.log(err.code);
    }
  `;
  const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
  }).output();
  assert.equal(signal, null, `the child died of ${signal}`);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout).trim(), "EPIPE");
});

Deno.test("getsockname shows the ephemeral port; getpeername matches it", () => {
  using p = tcpPair();
  const local = getsockname(p.listener);
  assert.equal(local.host, "127.0.0.1");
  assert.ok(local.port > 0);
  assert.deepEqual(getpeername(p.client), local);
  assert.deepEqual(getpeername(p.server), getsockname(p.client));
});

Deno.test("IPv6 ::1 listen and connect", () => {
  using p = tcpPair("::1");
  assert.equal(getsockname(p.listener).host, "::1");
  assert.equal(getpeername(p.server).host, "::1");
  writeAll(p.client, enc("v6"));
  assert.equal(dec(readN(p.server, 2)), "v6");
  const fd = socket(AF_INET6);
  close(fd);
});

Deno.test("accepted fds do not have close-on-exec", () => {
  using p = tcpPair();
  assert.equal(fcntl(p.server, F_GETFD) & FD_CLOEXEC, 0);
});

Deno.test("integer socket options round-trip; SO_LINGER sets", () => {
  using p = tcpPair();
  assert.notEqual(getsockopt(p.listener, SOL_SOCKET, SO_REUSEADDR), 0);
  setsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, 1);
  assert.notEqual(getsockopt(p.client, IPPROTO_TCP, TCP_NODELAY), 0);
  setLinger(p.client, 0);
  setLinger(p.client, null);
});

Deno.test("write falls back to write(2) on a pipe; empty buffers make no call", () => {
  const [r, w] = pipe();
  try {
    assert.equal(write(w, new Uint8Array(0)), 0);
    assert.equal(read(r, new Uint8Array(0)), 0);
    writeAll(w, enc("through a pipe"));
    close(w);
    assert.equal(dec(readToEnd(r)), "through a pipe");
  } finally {
    close(r);
  }
  assertSysError(() => close(w), "EBADF", /^close fd \d+: EBADF/);
});
