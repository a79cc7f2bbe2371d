/**
 * 05-async, the /hash Worker (given complete): a thread of its own that runs the CPU-heavy hashing, so
 * the main thread's event loop keeps serving other requests meanwhile.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A job for the Worker: hash `data` (UTF-8) `rounds` times. */
export interface HashJob {
  id: number;
  data: string;
  rounds: number;
}

/** The Worker's answer to job `id`. */
export interface HashDone {
  id: number;
  hex: string;
}

/**
 * SHA-256 of `data` (UTF-8), then SHA-256 of the 32-byte result, `rounds` times in all; the
 * last digest in hex. Pure CPU: a few microseconds a round (2 to 10 on the course's machines).
 */
export function sha256Rounds(data: string, rounds: number): string {
  let digest: Uint8Array = createHash("sha256").update(data).digest();
  for (let i = 1; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Only when loaded as a Worker: the main thread imports this file for the types alone.
if ("DedicatedWorkerGlobalScope" in globalThis) {
  const worker = self as unknown as Worker;
  worker.onmessage = (e: MessageEvent<HashJob>) => {
    const { id, data, rounds } = e.data;
    worker.postMessage({ id, hex: sha256Rounds(data, rounds) } satisfies HashDone);
  };
}
