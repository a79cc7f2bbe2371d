/**
 * 05-async, the main thread's side of /hash: a few Workers, and no queue of our own. Each job is
 * posted at once to the Worker with the fewest jobs outstanding; a Worker's message inbox is its
 * queue, and it runs the jobs there one after another. Answers come back tagged with the job's
 * id, so a Map finds the promise to settle. The main thread only posts messages and awaits
 * answers, so it stays free for other requests while the hashing runs.
 *
 * @module
 */
import type { HashDone, HashJob } from "./hash_worker.ts";

interface Hasher {
  worker: Worker;
  /** Jobs posted to this Worker and not answered yet. */
  load: number;
}

/** A pool of `size` hashing Workers. Only the main thread touches these fields: no lock. */
export class Hashers {
  #hashers: Hasher[] = [];
  /** Who is waiting for job `id`. */
  #pending = new Map<number, (hex: string) => void>();
  #nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
      const hasher = { worker, load: 0 };
      worker.onmessage = (e: MessageEvent<HashDone>) => {
        hasher.load--;
        this.#pending.get(e.data.id)?.(e.data.hex);
        this.#pending.delete(e.data.id);
      };
      this.#hashers.push(hasher);
    }
  }

  /** Hashes `data` `rounds` times on a Worker; resolves with the hex digest. */
  hash(data: string, rounds: number): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    const id = this.#nextId++;
    this.#pending.set(id, resolve);
    // Least loaded, so a short job is not stuck behind two long ones while a Worker is idle.
    const hasher = this.#hashers.reduce((a, b) => (b.load < a.load ? b : a));
    hasher.load++;
    hasher.worker.postMessage({ id, data, rounds } satisfies HashJob);
    return promise;
  }

  /** Ends every Worker (jobs still posted never finish: call it after the server drained). */
  close(): void {
    for (const { worker } of this.#hashers) worker.terminate();
  }
}
