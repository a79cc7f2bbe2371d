// A correct 01-echo server of another design than the reference, kept so the test suite
// can prove the probes accept it: a dual-stack IPv6 listener ("::" also takes IPv4
// clients), a 256-byte buffer, and its own write loop instead of writeAll.
import { accept, close, listenTcp, read, SysError, write } from "@course/shared";

function echoClient(fd: number): void {
  const buffer = new Uint8Array(256);
  for (let n = read(fd, buffer); n > 0; n = read(fd, buffer)) {
    for (let sent = 0; sent < n;) sent += write(fd, buffer.subarray(sent, n));
  }
}

const portIndex = Deno.args.indexOf("--port") + 1;
const port = Number(Deno.args[portIndex]);
if (portIndex === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("usage: server.ts --port P");
  Deno.exit(2);
}
let listener = -1;
try {
  listener = listenTcp({ host: "::", port });
} catch (err) {
  console.error(`cannot listen on [::]:${port}: ${(err as Error).message}`);
  Deno.exit(1);
}
for (;;) {
  const fd = accept(listener);
  try {
    echoClient(fd);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
  } finally {
    close(fd);
  }
}
