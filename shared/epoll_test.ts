import assert from "node:assert/strict";
import { enc, tcpPair } from "./_testing.ts";
import {
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLET,
  EPOLLIN,
  EPOLLOUT,
} from "./constants.ts";
import { epollCreate1, epollCtl, epollWait } from "./epoll.ts";
import { writeAll } from "./rio.ts";
import { close } from "./socket.ts";
import { SysError } from "./sys_error.ts";

Deno.test("epoll ADD, wait, MOD, DEL", () => {
  using p = tcpPair();
  const ep = epollCreate1(EPOLL_CLOEXEC);
  try {
    epollCtl(ep, EPOLL_CTL_ADD, p.server, EPOLLIN);
    assert.deepEqual(epollWait(ep, 8, 0), []);
    writeAll(p.client, enc("ping"));
    assert.deepEqual(epollWait(ep, 8, 1000), [{ fd: p.server, events: EPOLLIN }]);

    epollCtl(ep, EPOLL_CTL_MOD, p.server, EPOLLIN | EPOLLOUT | EPOLLET);
    assert.deepEqual(epollWait(ep, 1, 0), [{ fd: p.server, events: EPOLLIN | EPOLLOUT }]);
    assert.deepEqual(epollWait(ep, 1, 0), [], "edge-triggered: reported once");

    epollCtl(ep, EPOLL_CTL_DEL, p.server);
    writeAll(p.client, enc("again"));
    assert.deepEqual(epollWait(ep, 8, 0), []);
  } finally {
    close(ep);
  }
});

Deno.test("epoll reports many fds and grows its buffer", () => {
  const pairs = Array.from({ length: 3 }, () => tcpPair());
  const ep = epollCreate1();
  try {
    for (const p of pairs) epollCtl(ep, EPOLL_CTL_ADD, p.client, EPOLLOUT);
    const ready = epollWait(ep, 100, 1000).map((e) => e.fd).sort((a, b) => a - b);
    assert.deepEqual(ready, pairs.map((p) => p.client).sort((a, b) => a - b));
    assert.equal(epollWait(ep, 2, 0).length, 2);
  } finally {
    close(ep);
    pairs.forEach((p) => p[Symbol.dispose]());
  }
});

Deno.test("epollCtl errors are SysErrors", () => {
  using p = tcpPair();
  const ep = epollCreate1();
  try {
    epollCtl(ep, EPOLL_CTL_ADD, p.server, EPOLLIN);
    assert.throws(
      () => epollCtl(ep, EPOLL_CTL_ADD, p.server, EPOLLIN),
      (e) => e instanceof SysError && e.code === "EEXIST" && e.syscall === "epoll_ctl",
    );
    assert.throws(
      () => epollCtl(ep, EPOLL_CTL_MOD, p.client, EPOLLIN),
      (e) => e instanceof SysError && e.code === "ENOENT",
    );
  } finally {
    close(ep);
  }
});
