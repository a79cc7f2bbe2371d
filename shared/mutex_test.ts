import assert from "node:assert/strict";
import type { CounterJob } from "./_counter_worker.ts";
import { MutexGroup } from "./mutex.ts";

/** Runs `jobs.length` counter workers at once; returns the final count. */
async function race(locks: MutexGroup, jobs: Omit<CounterJob, "locks" | "counter">[]) {
  const counter = new SharedArrayBuffer(16);
  const cells = new Int32Array(counter);
  const workers = jobs.map(() =>
    new Worker(new URL("./_counter_worker.ts", import.meta.url), { type: "module" })
  );
  try {
    const done = workers.map((w) =>
      new Promise((resolve, reject) => {
        w.onmessage = resolve;
        w.onerror = (e) => reject(e.error ?? new Error(e.message));
      })
    );
    workers.forEach((w, i) => w.postMessage({ ...jobs[i], locks: locks.buffer, counter }));
    for (let n; (n = Atomics.load(cells, 3)) < jobs.length;) {
      await Atomics.waitAsync(cells, 3, n, 5_000).value; // wait for every worker to be ready
    }
    Atomics.store(cells, 1, 1);
    Atomics.notify(cells, 1);
    await Promise.all(done);
    return cells[0];
  } finally {
    workers.forEach((w) => w.terminate());
  }
}

const TIMES = 200_000;

Deno.test("mutex: without it, two Workers lose updates to a shared counter", async () => {
  const locks = MutexGroup.create(1);
  // Long enough that both loops surely overlap, whichever thread the kernel wakes first.
  const jobs = [1, 2].map(() => ({ times: 10 * TIMES, locked: false }));
  const count = await race(locks, jobs);
  assert.ok(count < 20 * TIMES, `expected lost updates, got exactly ${count}`);
});

Deno.test("mutex: with it, two Workers count exactly", async () => {
  const locks = MutexGroup.create(1);
  const jobs = [1, 2].map(() => ({ times: TIMES, locked: true }));
  assert.equal(await race(locks, jobs), 2 * TIMES);
  assert.deepEqual(locks.cycles(), []);
});

Deno.test("mutex: orders taken in two Workers form a cycle, found without a deadlock", async () => {
  const locks = MutexGroup.create(4, { label: "bucket" });
  // One worker runs before the other (times differ little; the lock keeps the counter exact).
  await race(locks, [{ times: 10, locked: true, order: [1, 2] }]);
  await race(locks, [{ times: 10, locked: true, order: [2, 1] }]);
  assert.deepEqual(locks.edges(), [{ first: 1, then: 2 }, { first: 2, then: 1 }]);
  assert.deepEqual(locks.cycles(), [[1, 2, 1]]);
});

Deno.test("mutex: one global order gives no cycle; tryLock and hold work", () => {
  const locks = MutexGroup.create(3, { label: "bucket" });
  for (const [a, b] of [[0, 1], [1, 2], [0, 2]]) {
    using _a = locks.hold(a);
    using _b = locks.hold(b);
  }
  assert.deepEqual(locks.cycles(), []);
  assert.equal(locks.tryLock(0), true);
  assert.equal(locks.tryLock(0), false);
  locks.unlock(0);
  assert.equal(locks.nameOf(2), "bucket[2]");
});

Deno.test("mutex: a retried tryLock is waiting; a try after letting go is not", () => {
  const locks = MutexGroup.create(2);
  const busy = (i: number, on: boolean) => new Int32Array(locks.buffer)[11 + i] = on ? 1 : 0;
  busy(1, true); // as if another thread held lock 1 (the word after the 11-word header)
  locks.lock(0);
  assert.equal(locks.tryLock(1), false);
  locks.unlock(0); // backs off: holds nothing while lock 1 is busy
  locks.lock(0);
  assert.equal(locks.tryLock(1), false);
  assert.deepEqual(locks.edges(), [], "try, let go, try again: no order");
  assert.equal(locks.tryLock(1), false); // tries again still holding lock 0: a spin
  assert.deepEqual(locks.edges(), [{ first: 0, then: 1 }]);
  locks.unlock(0);
  busy(1, false);
});

Deno.test("mutex: unlocking a mutex this thread does not hold throws", () => {
  const locks = MutexGroup.create(2);
  assert.throws(() => locks.unlock(1), TypeError);
  assert.throws(() => locks.lock(2), RangeError);
  assert.throws(() => MutexGroup.create(0), RangeError);
});

Deno.test("mutex: a self-deadlock and an order are written to COURSE_LOCK_ORDER_REPORT", async () => {
  const report = await Deno.makeTempFile();
  try {
    const mod = new URL("./mutex.ts", import.meta.url).href;
    const code = `import { MutexGroup } from "${mod}";
      const g = MutexGroup.create(8, { label: "bucket" });
      g.lock(5); g.lock(3); g.unlock(3); console.log("ready"); g.lock(5);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { COURSE_LOCK_ORDER_REPORT: report, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The report line is written before the stderr line, and both before the thread waits.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    for (let seen = ""; !seen.includes("already holds it");) {
      const { value, done } = await reader.read();
      assert.ok(!done, `no self-deadlock line; stderr: ${seen}`);
      seen += value;
    }
    child.kill("SIGKILL");
    await reader.cancel();
    await child.stdout.cancel();
    await child.status;
    const events = (await Deno.readTextFile(report)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events, [
      { event: "use", group: "bucket", lock: 5 },
      { event: "order", group: "bucket", first: 5, then: 3 },
      { event: "use", group: "bucket", lock: 3 },
      { event: "self", group: "bucket", lock: 5 },
    ]);
  } finally {
    await Deno.remove(report);
  }
});
