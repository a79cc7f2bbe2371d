/**
 * 05-async reference, the main thread's side of /hash: a few Workers, each given one job at a
 * time, and a queue of jobs waiting for a free one. The main thread only posts messages and
 * awaits answers, so it stays free for other requests while the hashing runs.
 *
 * @module
 */
import type { HashDone, HashJob } from "./hash_worker.ts";

interface Job {
  job: HashJob;
  resolve(hex: string): void;
}

/**
 * A pool of at most `size` hashing Workers, started on demand: each is a V8 isolate of its own
 * (about 20 MB), so a server that is never asked to hash starts none. Only the main thread
 * touches `#idle`, `#queue` and `#running`, so they need no lock.
 */
export class Hashers {
  #size: number;
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #queue: Job[] = [];
  /** Job each busy Worker is running, by job id. */
  #running = new Map<number, Job>();
  #nextId = 0;

  constructor(size: number) {
    this.#size = size;
  }

  /** Hashes `data` `rounds` times on a Worker; resolves with the hex digest. */
  hash(data: string, rounds: number): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    this.#queue.push({ job: { id: this.#nextId++, data, rounds }, resolve });
    this.#dispatch();
    return promise;
  }

  /** Ends every Worker (jobs still queued never finish: call it after the server drained). */
  close(): void {
    for (const worker of this.#all) worker.terminate();
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const worker = this.#idle.pop() ?? this.#start();
      if (worker === undefined) return; // all busy: the job waits for one to finish
      const next = this.#queue.shift()!;
      this.#running.set(next.job.id, next);
      worker.postMessage(next.job);
    }
  }

  /** One more Worker while fewer than `size` run, else undefined. */
  #start(): Worker | undefined {
    if (this.#all.length >= this.#size) return undefined;
    const worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<HashDone>) => this.#finished(worker, e.data);
    this.#all.push(worker);
    return worker;
  }

  #finished(worker: Worker, done: HashDone): void {
    this.#running.get(done.id)?.resolve(done.hex);
    this.#running.delete(done.id);
    this.#idle.push(worker);
    this.#dispatch();
  }
}
