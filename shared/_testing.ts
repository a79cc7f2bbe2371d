// Test helpers: a connected loopback TCP pair, closed structurally with `using`.
import type { PeerJob } from "./_peer_worker.ts";
import { accept, close, connectTcp, getsockname, listenTcp } from "./socket.ts";

export interface TcpPair extends Disposable {
  listener: number;
  client: number;
  server: number;
}

/** Listen on an ephemeral port, connect to it, accept. Connect completes in the backlog first. */
export function tcpPair(host = "127.0.0.1"): TcpPair {
  const listener = listenTcp({ host, port: 0 });
  const fds = [listener];
  const closeAll = () => fds.splice(0).reverse().forEach((fd) => close(fd));
  try {
    const client = connectTcp(getsockname(listener));
    fds.push(client);
    const server = accept(listener);
    fds.push(server);
    return { listener, client, server, [Symbol.dispose]: closeAll };
  } catch (err) {
    closeAll();
    throw err;
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Run one job in a peer Worker while `block` runs on this thread; resolve with the worker's
 * reply. The worker is terminated afterwards (it has finished by then: its reply came).
 */
export async function withPeer<T>(job: PeerJob, block: () => void): Promise<T> {
  const worker = new Worker(new URL("./_peer_worker.ts", import.meta.url), { type: "module" });
  try {
    const reply = new Promise<T>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e.error ?? new Error(e.message));
    });
    worker.postMessage(job);
    block();
    return await reply;
  } finally {
    worker.terminate();
  }
}
