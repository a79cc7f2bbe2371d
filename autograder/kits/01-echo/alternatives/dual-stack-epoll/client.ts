// A correct 01-echo client of another design than the reference, kept so the test suite
// can prove the probes accept it: epoll instead of poll, readiness for stdin and the
// socket registered once, and a pending-output queue of any length. (epoll refuses
// regular files, so stdin must be a pipe or a terminal, as the grader's is.)
import {
  close,
  connectTcp,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  epollCreate1,
  epollCtl,
  EPOLLIN,
  EPOLLOUT,
  epollWait,
  read,
  setNonBlocking,
  SHUT_WR,
  shutdown,
  SysError,
  write,
  writeAll,
} from "@course/shared";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

function run(sock: number): void {
  setNonBlocking(sock);
  const ep = epollCreate1();
  epollCtl(ep, EPOLL_CTL_ADD, sock, EPOLLIN);
  epollCtl(ep, EPOLL_CTL_ADD, 0, EPOLLIN);
  const queue: Uint8Array[] = [];
  let inputDone = false;
  let shut = false;
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    for (const event of epollWait(ep, 4, -1)) {
      if (event.fd === 0) {
        const n = read(0, buffer);
        if (n === 0) {
          inputDone = true;
          epollCtl(ep, EPOLL_CTL_DEL, 0);
        } else {
          queue.push(buffer.slice(0, n));
        }
      } else {
        if (event.events & EPOLLOUT) {
          while (queue.length > 0) {
            const sent = write(sock, queue[0]);
            if (sent < queue[0].length) {
              queue[0] = queue[0].subarray(sent);
              break;
            }
            queue.shift();
          }
        }
        if (event.events & ~EPOLLOUT) {
          const n = read(sock, buffer);
          if (n === 0) return close(ep);
          writeAll(1, buffer.subarray(0, n));
        }
      }
    }
    if (inputDone && queue.length === 0 && !shut) {
      shutdown(sock, SHUT_WR);
      shut = true;
    }
    epollCtl(ep, EPOLL_CTL_MOD, sock, EPOLLIN | (queue.length > 0 ? EPOLLOUT : 0));
  }
}

const port = Number(option("--port"));
let sock = -1;
try {
  sock = connectTcp({ host: option("--host") ?? "127.0.0.1", port });
} catch (err) {
  console.error(`cannot connect: ${(err as Error).message}`);
  Deno.exit(1);
}
try {
  run(sock);
} catch (err) {
  if (!(err instanceof SysError)) throw err;
  console.error(`connection lost: ${err.message}`);
  Deno.exit(1);
}
