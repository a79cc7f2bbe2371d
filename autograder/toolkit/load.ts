/**
 * Performance figures of a submission's server, for the leaderboard: throughput and latency
 * under the benchmark's load generator (`autograder/bench/generator.ts`, run as its own process),
 * and memory per idle connection. On a machine with two CPUs or more the server and the generator
 * are pinned to different CPUs, so the figure is the server's and not the two fighting for one;
 * the pinning is reported with the figures. Every run is bounded in time.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { holdConnections } from "../bench/generator.ts";
import { fromJson, percentile } from "../bench/histogram.ts";
import type { ProtocolSpec } from "../bench/protocols.ts";
import type { ServerHandle } from "../harness/probe.ts";
import { cappedText, delay, startChild } from "../harness/process.ts";
import { processTree, rssBytes } from "../observe/proc.ts";

export type { ProtocolSpec };

const GENERATOR = fileURLToPath(new URL("../bench/generator.ts", import.meta.url));

/** The load to apply. */
export interface LoadSpec {
  /** What to send (the benchmark's protocols: "weensydb", "http", ...). */
  protocol: ProtocolSpec;
  /** Connections at once. */
  connections: number;
  /** Requests per batch (pipelining); 1 by default. */
  depth?: number;
  /** Not counted; 500 ms by default. */
  warmupMs?: number;
  /** Counted; 2 s by default. */
  durationMs?: number;
}

/** What the load measured. */
export interface LoadFigures {
  /** Responses a second in the measured window. */
  throughput: number;
  /** Median latency, in ms. */
  p50Ms: number;
  /** 99th percentile latency, in ms. */
  p99Ms: number;
  /** Error replies and broken connections. */
  errors: number;
  /** The CPUs the server was pinned to ("" when not pinned). */
  serverCpus: string;
  /** The CPUs the generator was pinned to ("" when not pinned). */
  generatorCpus: string;
}

/** Pins every thread of `pid` and of its descendants to `cpus`; false if taskset failed. */
async function pin(pid: number, cpus: string): Promise<boolean> {
  let ok = true;
  for (const p of processTree(pid)) {
    const out = await new Deno.Command("taskset", {
      args: ["-a", "-p", "-c", cpus, String(p)],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => ({ success: false }));
    ok &&= out.success;
  }
  return ok;
}

/** Applies `spec` to `server` from a generator process; throws when the generator fails. */
export async function measureLoad(server: ServerHandle, spec: LoadSpec): Promise<LoadFigures> {
  const twoCpus = navigator.hardwareConcurrency >= 2;
  const pinned = twoCpus && await pin(server.pid, "1");
  const options = {
    port: server.port,
    protocol: spec.protocol,
    connections: spec.connections,
    depth: spec.depth ?? 1,
    warmupMs: spec.warmupMs ?? 500,
    durationMs: spec.durationMs ?? 2_000,
    graceMs: 1_000,
  };
  const generator = ["run", "--allow-all", GENERATOR, JSON.stringify(options)];
  const [cmd, args] = pinned
    ? ["taskset", ["-c", "0", Deno.execPath(), ...generator]]
    : [Deno.execPath(), generator];
  const child = startChild(cmd as string, args as string[], { stdoutCap: 1 << 20 });
  try {
    const status = await child.status;
    const out = cappedText(child.stdout).trim().split("\n").pop() ?? "";
    if (!status.success) {
      throw new Error(`the load generator failed: ${cappedText(child.stderr).slice(-300)}`);
    }
    const result = JSON.parse(out);
    const hist = fromJson(result.latency);
    return {
      throughput: result.responses / result.seconds,
      p50Ms: percentile(hist, 0.5) / 1000,
      p99Ms: percentile(hist, 0.99) / 1000,
      errors: result.errors + result.connectFailures,
      serverCpus: pinned ? "1" : "",
      generatorCpus: pinned ? "0" : "",
    };
  } finally {
    await child.stop();
  }
}

/** RSS of `pid` and its descendants, in bytes. */
function treeRss(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssBytes(p), 0);
}

/**
 * Bytes of RSS each idle connection costs `server`: `n` connections held open, each proven
 * served by one request of `protocol`, once the RSS has stopped growing (four reads 250 ms
 * apart within 1%, or 10 s), against the RSS before.
 */
export async function memoryPerConnection(
  server: ServerHandle,
  n: number,
  protocol: ProtocolSpec,
): Promise<{ bytes: number; held: number; answered: number }> {
  const before = treeRss(server.pid);
  const { conns, answered } = await holdConnections(server.port, n, {
    protocol,
    timeoutMs: 15_000,
  });
  try {
    let last = treeRss(server.pid);
    for (let i = 0, stable = 0; i < 40 && stable < 4; i++) {
      await delay(250);
      const now = treeRss(server.pid);
      stable = Math.abs(now - last) < now / 100 ? stable + 1 : 0;
      last = now;
    }
    const held = conns.length;
    return { bytes: held === 0 ? 0 : Math.max(0, last - before) / held, held, answered };
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed by the server
      }
    }
  }
}
