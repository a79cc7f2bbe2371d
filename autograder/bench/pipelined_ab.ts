/**
 * Two builds of the 03 WeensyDB server, side by side in one run: pipelined GETs per second of
 * each, in alternating rounds on the same machine, so that load from other jobs falls on both.
 * Each round starts the server, preloads the keys, runs one generator process (10 connections,
 * 32 GETs of 100-byte values per write, 3 s), and stops the server. Loopback only; it stops by
 * itself.
 *
 *     git archive HEAD~1 solutions/03-weensydb | tar -x -C /tmp/before
 *     deno run --allow-all autograder/bench/pipelined_ab.ts \
 *       /tmp/before/solutions/03-weensydb/server.ts solutions/03-weensydb/server.ts
 *
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "./bench.ts";
import { makeProtocol, type ProtocolSpec } from "./protocols.ts";
import { preload } from "./generator.ts";
import { startTarget, stopTarget, type Target } from "./targets.ts";

const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));
const ROUNDS = 3;
const protocol: ProtocolSpec = { kind: "weensydb", op: "get", size: 100 };

function target(server: string): Target {
  return {
    id: server,
    label: server,
    protocol,
    connections: [10],
    memoryConnections: 0,
    command: (
      p,
    ) => [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--no-lock",
      `--config=${CONFIG}`,
      server,
      "--port",
      `${p}`,
    ],
  };
}

/** GETs per second of one round on `server`. */
async function round(server: string): Promise<number> {
  const r = await startTarget(target(server));
  try {
    await preload(r.port, makeProtocol(protocol));
    const res = await generate({
      port: r.port,
      protocol,
      connections: 10,
      depth: 32,
      warmupMs: 500,
      durationMs: 3000,
      graceMs: 500,
    });
    return res.responses / res.seconds;
  } finally {
    await stopTarget(r);
  }
}

async function main(): Promise<void> {
  const servers = Deno.args.map((a) => resolve(a));
  if (servers.length === 0) throw new TypeError("usage: pipelined_ab.ts SERVER.ts [SERVER.ts...]");
  const rates = new Map(servers.map((s) => [s, [] as number[]]));
  for (let i = 0; i < ROUNDS; i++) {
    for (const s of servers) rates.get(s)!.push(await round(s));
  }
  for (const [s, r] of rates) {
    const median = [...r].sort((a, b) => a - b)[Math.floor(r.length / 2)];
    console.log(
      `${s}: median ${Math.round(median)} GETs/s (rounds: ${r.map(Math.round).join(", ")})`,
    );
  }
}

if (import.meta.main) await main();
