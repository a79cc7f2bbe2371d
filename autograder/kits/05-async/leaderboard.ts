/**
 * 05-async's leaderboard: what a correct gateway sustains in front of a real WeensyDB, measured
 * after every probe passed and never part of the score. 50 keep-alive connections GET one stored
 * 100-byte value, one request at a time each, for 1 s after a 0.25 s warm-up (the gateway and the
 * load generator on different CPUs where there are two); then 1,000 idle connections, each served
 * once, for the memory each costs.
 */
import type { Leaderboard } from "../../kit.ts";
import { measureLoad, memoryPerConnection } from "../../kit.ts";
import { startRealBackend } from "./_backends.ts";
import { kv, startApp } from "./probes.ts";

export const leaderboard: Leaderboard = {
  deadlineMs: 45_000,
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port);
    const path = kv("leaderboard");
    const put = await ctx.http.request(server.port, { method: "PUT", path, body: "x".repeat(100) });
    if (put.status < 200 || put.status > 299) throw new Error(`PUT ${path}: ${put.status}`);
    const protocol = { kind: "http" as const, path };
    const load = await measureLoad(server, {
      protocol,
      connections: 50,
      depth: 1,
      warmupMs: 250,
      durationMs: 1_000,
    });
    const memory = await memoryPerConnection(server, 1_000, protocol);
    return [
      { name: "throughput (GETs/s)", value: Math.round(load.throughput), order: "desc" },
      { name: "p99 latency (ms)", value: Number(load.p99Ms.toFixed(2)), order: "asc" },
      {
        name: "memory per idle connection (KB)",
        value: Number((memory.bytes / 1024).toFixed(2)),
        order: "asc",
      },
    ];
  },
};
