/**
 * Observation of processes from outside, through Linux `/proc`. The grader trusts these
 * numbers, never the student's own word. Every function tolerates processes that vanish
 * mid-scan: a vanished process simply is not counted.
 *
 * Reading `/proc` needs `--allow-all`.
 *
 * @module
 */

/** Clock ticks per second used by `/proc/<pid>/stat` times (USER_HZ on Linux). */
export const CLOCK_TICKS = 100;

/** The fields of `/proc/<pid>/stat` the grader uses. */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  utime: number;
  stime: number;
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** Parses one `/proc/<pid>/stat` line; the command name may hold spaces and parentheses. */
export function parseStat(line: string): ProcStat | null {
  const close = line.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number(line.slice(0, line.indexOf(" ")));
  const f = line.slice(close + 2).split(" ");
  return {
    pid,
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    utime: Number(f[11]),
    stime: Number(f[12]),
  };
}

/** Reads `/proc/<pid>/stat`, or null when the process is gone. */
export function readStat(pid: number): ProcStat | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  return text === null ? null : parseStat(text);
}

/** Lists the pids currently in `/proc`. */
export function allPids(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(e.name)) pids.push(Number(e.name));
  }
  return pids;
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const pid of allPids()) {
    const s = readStat(pid);
    if (s !== null) stats.push(s);
  }
  return stats;
}

/** Returns `pid` and all its descendants (by ppid), or `[]` if `pid` is gone. */
export function processTree(pid: number): number[] {
  const stats = allStats();
  if (!stats.some((s) => s.pid === pid)) return [];
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const tree: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    tree.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return tree;
}

/** Returns the pids whose process group is `pgid`. */
export function processGroup(pgid: number): number[] {
  return allStats().filter((s) => s.pgrp === pgid).map((s) => s.pid);
}

function statusField(pid: number, field: string): string | null {
  const text = readOrNull(`/proc/${pid}/status`);
  if (text === null) return null;
  const line = text.split("\n").find((l) => l.startsWith(field + ":"));
  return line === undefined ? null : line.slice(field.length + 1).trim();
}

/** Returns the number of threads of `pid` (`Threads:` in `/proc/<pid>/status`), or 0. */
export function threadCount(pid: number): number {
  return Number(statusField(pid, "Threads") ?? 0);
}

/** Returns the resident set size of `pid` in bytes (`VmRSS:`), or 0 if gone or a zombie. */
export function rssBytes(pid: number): number {
  const v = statusField(pid, "VmRSS");
  return v === null ? 0 : Number(v.split(/\s+/)[0]) * 1024;
}

/** Returns the number of open file descriptors of `pid`, or 0 if it is gone. */
export function openFdCount(pid: number): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return 0;
  }
}

/** Returns the children of `pid` in state Z (exited, not yet reaped by `pid`). */
export function zombieChildren(pid: number): number[] {
  return allStats().filter((s) => s.ppid === pid && s.state === "Z").map((s) => s.pid);
}

/** Returns the user+system CPU time `pid` has used, in milliseconds, or 0 if it is gone. */
export function cpuTimeMs(pid: number): number {
  const s = readStat(pid);
  return s === null ? 0 : ((s.utime + s.stime) * 1000) / CLOCK_TICKS;
}

/** Returns the one-letter state of `pid` (R, S, D, Z, T, …), or null if it is gone. */
export function processState(pid: number): string | null {
  return readStat(pid)?.state ?? null;
}

/** One end of a TCP connection; only the port is matched. */
export interface Endpoint {
  port: number;
}

/**
 * Parses `/proc/net/tcp` or `/proc/net/tcp6` text into socket inodes keyed by
 * `"localPort:remotePort"`. Addresses are hex (IPv4 little-endian), ports big-endian hex.
 */
export function parseNetTcp(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = parseInt(f[1].split(":")[1], 16);
    const remote = parseInt(f[2].split(":")[1], 16);
    const inode = Number(f[9]);
    if (inode === 0) continue; // TIME_WAIT and friends belong to no process
    const key = `${local}:${remote}`;
    out.set(key, [...(out.get(key) ?? []), inode]);
  }
  return out;
}

function socketInodes(local: Endpoint, remote: Endpoint): Set<number> {
  const found = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = readOrNull(file);
    if (text === null) continue;
    for (const inode of parseNetTcp(text).get(`${local.port}:${remote.port}`) ?? []) {
      found.add(inode);
    }
  }
  return found;
}

function holdsSocket(pid: number, inodes: Set<number>): boolean {
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      const link = readLinkOrNull(`/proc/${pid}/fd/${e.name}`);
      const m = link?.match(/^socket:\[(\d+)\]$/);
      if (m && inodes.has(Number(m[1]))) return true;
    }
  } catch {
    // gone, or not ours to look at
  }
  return false;
}

function readLinkOrNull(path: string): string | null {
  try {
    return Deno.readLinkSync(path);
  } catch {
    return null;
  }
}

/**
 * Returns the pids holding the TCP socket whose local port is `local.port` and remote port is
 * `remote.port` (as seen from that socket's side), found through `/proc/net/tcp{,6}` and the
 * `socket:[inode]` links in `/proc/<pid>/fd`.
 */
export function socketOwners(local: Endpoint, remote: Endpoint): number[] {
  const inodes = socketInodes(local, remote);
  if (inodes.size === 0) return [];
  return allPids().filter((pid) => holdsSocket(pid, inodes));
}

/** Returns the local ports of TCP sockets in LISTEN state (`st` 0A in `/proc/net/tcp{,6}`). */
export function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = readOrNull(file);
    if (text === null) continue;
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 4 && f[3] === "0A") ports.add(parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/**
 * Counts the ESTABLISHED TCP connections (`st` 01 in `/proc/net/tcp{,6}`) whose local port is
 * `port`: seen from a server listening on `port`, the connections its clients have open to it.
 */
export function establishedTo(port: number): number {
  // A read of /proc/net/tcp is no snapshot: while other sockets come and go, the kernel can list
  // one connection twice across read() calls. Count each (local, remote) pair once.
  const seen = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = readOrNull(file);
    if (text === null) continue;
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 4 && f[3] === "01" && parseInt(f[1].split(":")[1], 16) === port) {
        seen.add(`${f[1]} ${f[2]}`);
      }
    }
  }
  return seen.size;
}
