// Test worker playing the other end of a connection on its own thread, so the main thread can
// block (in writeAll, or in poll inside readN) while this side makes progress.
//   { op: "drain", fd }: read to end-of-file, reply { total, sum } (byte count and checksum).
//   { op: "send", fd, chunks, delayMs }: write each chunk, pausing delayMs before each; reply {}.
import { read } from "./socket.ts";
import { writeAll } from "./rio.ts";

export type PeerJob =
  | { op: "drain"; fd: number }
  | { op: "send"; fd: number; chunks: string[]; delayMs: number };

function drain(fd: number): { total: number; sum: number } {
  const buf = new Uint8Array(64 * 1024);
  let total = 0, sum = 0;
  for (let n; (n = read(fd, buf)) > 0; total += n) {
    for (let i = 0; i < n; i++) sum = (sum + buf[i]) % 65521;
  }
  return { total, sum };
}

function send(fd: number, chunks: string[], delayMs: number): Record<string, never> {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (const chunk of chunks) {
    Atomics.wait(sleeper, 0, 0, delayMs);
    writeAll(fd, new TextEncoder().encode(chunk));
  }
  return {};
}

// `deno check shared/` types this file as a window script, so name the worker scope's API.
const scope = self as unknown as {
  onmessage: (e: MessageEvent<PeerJob>) => void;
  postMessage: (message: unknown) => void;
};

scope.onmessage = (e) => {
  const job = e.data;
  scope.postMessage(job.op === "drain" ? drain(job.fd) : send(job.fd, job.chunks, job.delayMs));
};
