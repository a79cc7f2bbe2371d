import assert from "node:assert/strict";
import { enc, tcpPair } from "./_testing.ts";
import { POLLIN, POLLNVAL, POLLOUT } from "./constants.ts";
import { poll, type PollFd } from "./poll.ts";
import { close, pipe } from "./socket.ts";
import { writeAll } from "./rio.ts";

Deno.test("poll times out when nothing is ready", () => {
  using p = tcpPair();
  const fds: PollFd[] = [{ fd: p.server, events: POLLIN, revents: -1 }];
  const start = performance.now();
  assert.equal(poll(fds, 30), 0);
  assert.ok(performance.now() - start >= 25);
  assert.equal(fds[0].revents, 0);
});

Deno.test("poll reports POLLIN when data is ready, POLLOUT when there is room", () => {
  using p = tcpPair();
  writeAll(p.client, enc("x"));
  const fds: PollFd[] = [
    { fd: p.server, events: POLLIN, revents: 0 },
    { fd: p.client, events: POLLIN, revents: 0 },
    { fd: p.client, events: POLLOUT, revents: 0 },
  ];
  assert.equal(poll(fds, 1000), 2);
  assert.equal(fds[0].revents, POLLIN);
  assert.equal(fds[1].revents, 0);
  assert.equal(fds[2].revents, POLLOUT);
});

Deno.test("poll reports POLLNVAL for a closed fd and ignores negative fds", () => {
  const [r, w] = pipe();
  close(r);
  close(w);
  const fds: PollFd[] = [{ fd: r, events: POLLIN, revents: 0 }, {
    fd: -1,
    events: POLLIN,
    revents: 0,
  }];
  assert.equal(poll(fds, 0), 1);
  assert.equal(fds[0].revents, POLLNVAL);
  assert.equal(fds[1].revents, 0);
});

Deno.test("poll with no fds just sleeps", () => {
  assert.equal(poll([], 1), 0);
});
