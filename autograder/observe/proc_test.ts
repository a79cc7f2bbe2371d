import assert from "node:assert/strict";
import {
  capabilities,
  cpuTimeMs,
  establishedTo,
  listenerOn,
  listeningPorts,
  openFdCount,
  parseNetTcp,
  parseStat,
  processGroup,
  processState,
  processTree,
  readStat,
  rssBytes,
  socketOwners,
  threadCount,
  threadCpuMs,
  threadNames,
  viewOf,
  zombieChildren,
} from "./proc.ts";

Deno.test("parseStat copes with spaces and parentheses in the command name", () => {
  const s = parseStat("42 (a (b) c) S 1 42 42 0 -1 4194560 1 2 3 4 150 25 0 0 20 0 1 0");
  assert.deepEqual(s, { pid: 42, state: "S", ppid: 1, pgrp: 42, utime: 150, stime: 25 });
});

Deno.test("proc reads the test process itself", () => {
  assert.equal(processState(Deno.pid) !== null, true);
  assert.ok(threadCount(Deno.pid) >= 1);
  assert.ok(openFdCount(Deno.pid) >= 3);
  assert.ok(rssBytes(Deno.pid) > 1024 * 1024);
  assert.ok(cpuTimeMs(Deno.pid) >= 0);
  assert.ok(processGroup(readStat(Deno.pid)!.pgrp).includes(Deno.pid));
});

Deno.test("threadCpuMs tells a busy Worker's thread from the idle main thread", async () => {
  const spin = "const end = Date.now() + 400; while (Date.now() < end); postMessage('done');";
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(spin)}`, { type: "module" });
  try {
    await new Promise((done) => worker.onmessage = done);
    const threads = threadCpuMs(Deno.pid);
    const others = [...threads].filter(([tid]) => tid !== Deno.pid).map(([, ms]) => ms);
    assert.ok(Math.max(...others) >= 300, `a thread spun 400 ms: ${[...threads]}`);
    // /proc/<tid>/stat would give every thread the whole process's time.
    assert.ok(threads.get(Deno.pid)! < cpuTimeMs(Deno.pid) - 300);
  } finally {
    worker.terminate();
  }
  assert.deepEqual(threadCpuMs(2 ** 22 + 12345), new Map());
});

Deno.test("proc answers quietly for a pid that does not exist", () => {
  const gone = 2 ** 22 + 12345;
  assert.equal(processState(gone), null);
  assert.equal(threadCount(gone), 0);
  assert.equal(openFdCount(gone), 0);
  assert.equal(rssBytes(gone), 0);
  assert.equal(cpuTimeMs(gone), 0);
  assert.deepEqual(processTree(gone), []);
  assert.deepEqual(zombieChildren(gone), []);
});

Deno.test("proc sees a spawned child in the tree and its group", async () => {
  const child = new Deno.Command("sleep", { args: ["5"], detached: true }).spawn();
  try {
    assert.ok(processTree(Deno.pid).includes(child.pid));
    assert.deepEqual(processGroup(child.pid), [child.pid]);
    assert.ok(["S", "R"].includes(processState(child.pid)!));
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal(processState(child.pid), null);
});

Deno.test("zombieChildren lists exited children their parent has not reaped", async () => {
  // sh starts a short sleep in the background, then becomes a long sleep that never reaps it.
  const parent = new Deno.Command("sh", {
    args: ["-c", "sleep 0.05 & exec sleep 5"],
    detached: true,
  }).spawn();
  try {
    const end = Date.now() + 3000;
    while (zombieChildren(parent.pid).length === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const zombies = zombieChildren(parent.pid);
    assert.equal(zombies.length, 1);
    assert.equal(processState(zombies[0]), "Z");
    assert.deepEqual(processTree(parent.pid).sort(), [parent.pid, zombies[0]].sort());
  } finally {
    parent.kill("SIGKILL");
    await parent.status;
  }
});

Deno.test("parseNetTcp reads ports and queues as big-endian hex, states and inodes", () => {
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:1F90 0100007F:C350 01 00000010:00000020 00:00000000 00000000  0 0 12345 1",
    "   1: 0100007F:1F90 0100007F:C351 06 00000000:00000000 00:00000000 00000000  0 0 0 1",
  ].join("\n");
  const [open, timeWait] = parseNetTcp(text);
  assert.deepEqual(
    { ...open, key: undefined },
    {
      localPort: 8080,
      remotePort: 50000,
      state: "01",
      txQueue: 16,
      rxQueue: 32,
      inode: 12345,
      key: undefined,
    },
  );
  assert.equal(timeWait.inode, 0, "a TIME_WAIT socket belongs to no process");
  assert.notEqual(open.key, timeWait.key);
});

Deno.test("listenerOn finds a listener and its accept queue", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.equal(listenerOn(listener.addr.port)?.rxQueue, 0);
  using _client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(listenerOn(listener.addr.port)?.rxQueue, 1, "one connection waits for accept()");
  using _accepted = await listener.accept();
});

Deno.test("threadNames and capabilities read this process from /proc", () => {
  assert.ok(threadNames(Deno.pid).length >= 1);
  const caps = capabilities(Deno.pid);
  assert.ok(caps !== null && (caps.effective & caps.bounding) === caps.effective);
});

Deno.test("socketOwners finds this process as the owner of both ends", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  using _server = await listener.accept();
  const local = (client.localAddr as Deno.NetAddr).port;
  assert.deepEqual(socketOwners({ port: local }, { port }), [Deno.pid]);
  assert.deepEqual(socketOwners({ port }, { port: local }), [Deno.pid]);
  assert.deepEqual(socketOwners({ port }, { port: 1 }), []);
});

Deno.test("listeningPorts sees a listener and forgets it once closed", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assert.ok(listeningPorts().has(port));
  listener.close();
  assert.ok(!listeningPorts().has(port));
});

Deno.test("establishedTo counts the connections open to a listening port", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  assert.equal(establishedTo(port), 0);
  const clients = await Promise.all(
    [1, 2, 3].map(() => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  const accepted = await Promise.all(clients.map(() => listener.accept()));
  assert.equal(establishedTo(port), 3);
  for (const c of [...clients, ...accepted]) c.close();
  assert.equal(establishedTo(port), 0);
});

Deno.test("viewOf sums a process tree's threads, fds, sockets, memory and CPU", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const view = viewOf(Deno.pid);
  assert.ok(view.processes.includes(Deno.pid));
  assert.ok(view.threads >= 1 && view.fds >= 3 && view.rssBytes > 1 << 20 && view.cpuMs >= 0);
  assert.ok(view.sockets >= 1, `the listener on port ${listener.addr.port}`);
});
