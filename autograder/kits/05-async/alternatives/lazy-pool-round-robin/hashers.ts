/**
 * 05-async, the main thread's side of /hash: up to a few Workers, each given one job at a time,
 * and a queue of jobs waiting for a free one. The main thread only posts messages and awaits
 * answers, so it stays free for other requests while the hashing runs.
 *
 * Workers are started on demand: none exists until the first job comes, and another is started
 * only when a job finds every existing Worker busy and fewer than `size` exist. A server that is
 * never asked for /hash pays nothing for it (a Worker is a thread with its own V8 isolate).
 *
 * @module
 */
import type { HashDone, HashJob } from "./hash_worker.ts";

interface Job {
  job: HashJob;
  resolve(hex: string): void;
  reject(err: Error): void;
}

/**
 * A pool of at most `size` hashing Workers. Only the main thread touches `#idle`, `#queue` and
 * `#running`, so they need no lock.
 */
export class Hashers {
  #size: number;
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #queue: Job[] = [];
  /** Job each busy Worker is running, by job id. */
  #running = new Map<number, Job>();
  /** Which job each busy Worker runs, so that a Worker that dies can fail its job. */
  #jobOf = new Map<Worker, number>();
  #nextId = 0;
  #closed = false;

  constructor(size: number) {
    this.#size = Math.max(1, size);
  }

  /** Hashes `data` `rounds` times on a Worker; resolves with the hex digest. */
  hash(data: string, rounds: number): Promise<string> {
    if (this.#closed) return Promise.reject(new Error("hashers closed"));
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    this.#queue.push({ job: { id: this.#nextId++, data, rounds }, resolve, reject });
    this.#dispatch();
    return promise;
  }

  /** Ends every Worker (jobs still queued never finish: call it after the server drained). */
  close(): void {
    this.#closed = true;
    for (const worker of this.#all) worker.terminate();
    this.#all = [];
    this.#idle = [];
    const gone = new Error("hashers closed");
    for (const job of this.#running.values()) job.reject(gone);
    for (const job of this.#queue.splice(0)) job.reject(gone);
    this.#running.clear();
    this.#jobOf.clear();
  }

  /** Gives queued jobs to idle Workers, starting Workers while under the cap. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      if (this.#idle.length === 0 && this.#all.length < this.#size) this.#idle.push(this.#start());
      const worker = this.#idle.pop();
      if (worker === undefined) return; // every Worker busy: the job waits in the queue
      const job = this.#queue.shift()!;
      this.#running.set(job.job.id, job);
      this.#jobOf.set(worker, job.job.id);
      worker.postMessage(job.job);
    }
  }

  /** Starts one Worker and wires its answers (and its death) back to this pool. */
  #start(): Worker {
    const worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<HashDone>) => this.#finished(worker, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // keep the error from ending the whole program
      this.#died(worker, new Error(`hash worker failed: ${e.message}`));
    };
    this.#all.push(worker);
    return worker;
  }

  /** A Worker answered: settle its job, and give it the next one. */
  #finished(worker: Worker, done: HashDone): void {
    const job = this.#running.get(done.id);
    this.#running.delete(done.id);
    this.#jobOf.delete(worker);
    job?.resolve(done.hex);
    if (this.#closed) return;
    this.#idle.push(worker);
    this.#dispatch();
  }

  /** A Worker threw: fail its job, forget it (the next job starts a fresh one), go on. */
  #died(worker: Worker, err: Error): void {
    const id = this.#jobOf.get(worker);
    this.#jobOf.delete(worker);
    if (id !== undefined) {
      this.#running.get(id)?.reject(err);
      this.#running.delete(id);
    }
    worker.terminate();
    this.#all = this.#all.filter((w) => w !== worker);
    this.#idle = this.#idle.filter((w) => w !== worker);
    if (!this.#closed) this.#dispatch();
  }
}
