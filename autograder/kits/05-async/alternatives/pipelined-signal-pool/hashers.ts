/**
 * 05-async starter, the main thread's side of /hash: a few Workers, each given one job at a
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
 * A pool of `size` hashing Workers. Only the main thread touches `#idle`, `#queue` and
 * `#running`, so they need no lock.
 */
export class Hashers {
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #queue: Job[] = [];
  /** Job each busy Worker is running, by job id. */
  #running = new Map<number, Job>();
  #nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (e: MessageEvent<HashDone>) => this.#finished(worker, e.data);
      this.#all.push(worker);
      this.#idle.push(worker);
    }
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

  /** Gives queued jobs to idle Workers. */
  #dispatch(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const job = this.#queue.shift()!; // oldest first
      this.#running.set(job.job.id, job);
      worker.postMessage(job.job);
    }
  }

  /** A Worker answered: settle its job, and give it the next one. */
  #finished(worker: Worker, done: HashDone): void {
    this.#running.get(done.id)?.resolve(done.hex);
    this.#running.delete(done.id);
    this.#idle.push(worker);
    this.#dispatch();
  }
}
