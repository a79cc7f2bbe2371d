/**
 * 04-poll's leaderboard: what the epoll engine of a correct submission sustains, measured after
 * every probe passed and never part of the score. 50 connections pipelining GETs of 100-byte
 * values, 8 a batch, for 1 s after a 0.25 s warm-up (server and load generator on different CPUs
 * where there are two); then 1,000 idle connections, each served once, for the memory each costs.
 */
import type { Leaderboard } from "../../kit.ts";
import { measureLoad, memoryPerConnection } from "../../kit.ts";

export const leaderboard: Leaderboard = {
  deadlineMs: 40_000,
  async run(ctx) {
    const server = await ctx.startServer({ args: ["--engine", "epoll"] });
    const protocol = { kind: "weensydb" as const, op: "get" as const, size: 100, keys: 100 };
    const load = await measureLoad(server, {
      protocol,
      connections: 50,
      depth: 8,
      warmupMs: 250,
      durationMs: 1_000,
    });
    const memory = await memoryPerConnection(server, 1_000, protocol);
    return [
      { name: "throughput, epoll (GETs/s)", value: Math.round(load.throughput), order: "desc" },
      { name: "p99 latency, epoll (ms)", value: Number(load.p99Ms.toFixed(2)), order: "asc" },
      {
        name: "memory per idle connection (KB)",
        value: Number((memory.bytes / 1024).toFixed(2)),
        order: "asc",
      },
    ];
  },
};
