// Test worker: increments a shared counter `times` times, with or without a mutex of a group.
// It waits on a start flag first, so that all workers run their loops at the same time.
//   { locks, counter, times, locked } -> replies "done"
import { MutexGroup } from "./mutex.ts";

export interface CounterJob {
  locks: SharedArrayBuffer;
  /** Int32 words: [0] the counter, [1] the start flag, [2] scratch, [3] workers ready. */
  counter: SharedArrayBuffer;
  times: number;
  locked: boolean;
  /** Locks to take in this order around each increment (default [0]). */
  order?: number[];
}

function increment(cells: Int32Array): void {
  const seen = cells[0];
  for (let spin = 0; spin < 20; spin++) cells[2] = spin; // widen the window between read and write
  cells[0] = seen + 1;
}

function run(job: CounterJob): void {
  const locks = MutexGroup.from(job.locks);
  const cells = new Int32Array(job.counter);
  const order = job.order ?? [0];
  Atomics.add(cells, 3, 1);
  Atomics.notify(cells, 3);
  Atomics.wait(cells, 1, 0); // the start flag
  for (let i = 0; i < job.times; i++) {
    if (!job.locked) {
      increment(cells);
      continue;
    }
    for (const lock of order) locks.lock(lock);
    increment(cells);
    for (const lock of [...order].reverse()) locks.unlock(lock);
  }
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<CounterJob>) => void;
  postMessage: (message: unknown) => void;
};

scope.onmessage = (e) => {
  run(e.data);
  scope.postMessage("done");
};
