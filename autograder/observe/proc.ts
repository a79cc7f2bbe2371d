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
  /** The process id. */
  pid: number;
  /** R, S, D, Z, T, ... */
  state: string;
  /** Its parent. */
  ppid: number;
  /** Its process group. */
  pgrp: number;
  /** User CPU time, in clock ticks ({@link CLOCK_TICKS} a second). */
  utime: number;
  /** System CPU time, in clock ticks. */
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
  return s === null ? 0 : cpuMsOf(s);
}

/** A stat's user+system CPU time, in milliseconds. */
function cpuMsOf(s: ProcStat): number {
  return ((s.utime + s.stime) * 1000) / CLOCK_TICKS;
}

/**
 * Returns the user+system CPU time of each thread of `pid`, in milliseconds, by thread id (empty
 * if it is gone). From `/proc/<pid>/task/<tid>/stat`: `/proc/<tid>/stat` counts the whole process.
 */
export function threadCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = readOrNull(`/proc/${pid}/task/${t.name}/stat`); // null: the thread ended
      const s = text === null ? null : parseStat(text);
      if (s !== null) out.set(Number(t.name), cpuMsOf(s));
    }
  } catch {
    // the process ended
  }
  return out;
}

/** Returns the one-letter state of `pid` (R, S, D, Z, T, …), or null if it is gone. */
export function processState(pid: number): string | null {
  return readStat(pid)?.state ?? null;
}

/** Returns the names of `pid`'s threads (`/proc/<pid>/task/<tid>/comm`); Workers are `worker-N`. */
export function threadNames(pid: number): string[] {
  const names: string[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      const name = readOrNull(`/proc/${pid}/task/${t.name}/comm`); // null: the thread ended
      if (name !== null) names.push(name.trim());
    }
  } catch {
    // the process ended
  }
  return names;
}

/** Capability sets of `pid` (`CapEff`, `CapBnd` in `/proc/<pid>/status`), or null if it is gone. */
export function capabilities(pid: number): { effective: bigint; bounding: bigint } | null {
  const effective = statusField(pid, "CapEff");
  const bounding = statusField(pid, "CapBnd");
  if (effective === null || bounding === null) return null;
  return { effective: BigInt(`0x${effective}`), bounding: BigInt(`0x${bounding}`) };
}

/** One end of a TCP connection; only the port is matched. */
export interface Endpoint {
  /** The port. */
  port: number;
}

/** `st` in `/proc/net/tcp`: an open connection. */
export const TCP_ESTABLISHED = "01";
/** `st` in `/proc/net/tcp`: a listening socket. */
export const TCP_LISTEN = "0A";

/** One TCP socket as a line of `/proc/net/tcp{,6}` shows it. */
export interface TcpSocket {
  /** This end's port. */
  localPort: number;
  /** The other end's port (0 for a listener). */
  remotePort: number;
  /** `st`: {@link TCP_ESTABLISHED}, {@link TCP_LISTEN}, or another state's hex code. */
  state: string;
  /** Bytes sent but not yet acknowledged or not yet sent. */
  txQueue: number;
  /** Bytes received and not yet read; for a listener, connections waiting for accept(). */
  rxQueue: number;
  /** The socket's inode (`socket:[inode]` in `/proc/<pid>/fd`); 0 when no process holds it. */
  inode: number;
  /** Addresses, state and inode as the kernel wrote them: the same socket has the same key. */
  key: string;
}

/**
 * Parses `/proc/net/tcp` or `/proc/net/tcp6` text. Addresses are hex (IPv4 little-endian),
 * ports and queues big-endian hex.
 */
export function parseNetTcp(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const port = (address: string) => parseInt(address.split(":")[1], 16);
    const [txQueue, rxQueue] = f[4].split(":").map((n) => parseInt(n, 16));
    const [localPort, remotePort, state, inode] = [port(f[1]), port(f[2]), f[3], Number(f[9])];
    const key = `${f[1]} ${f[2]} ${state} ${inode}`;
    out.push({ localPort, remotePort, state, txQueue, rxQueue, inode, key });
  }
  return out;
}

/**
 * The TCP sockets of the machine (IPv4 and IPv6), each once. A read of `/proc/net/tcp` is no
 * snapshot: while other sockets come and go, the kernel can list one socket twice across the
 * read() calls that make up the file.
 */
export function tcpSockets(): TcpSocket[] {
  const seen = new Map<string, TcpSocket>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const socket of parseNetTcp(readOrNull(file) ?? "")) seen.set(socket.key, socket);
  }
  return [...seen.values()];
}

/** The socket listening on `port` (its `rxQueue` is the accept queue), or null. */
export function listenerOn(port: number): TcpSocket | null {
  return tcpSockets().find((s) => s.state === TCP_LISTEN && s.localPort === port) ?? null;
}

/** Socket inodes that `pid` holds, from the `socket:[N]` links in `/proc/<pid>/fd`. */
export function socketInodesOf(pid: number): Set<number> {
  const found = new Set<number>();
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      const m = readLinkOrNull(`/proc/${pid}/fd/${e.name}`)?.match(/^socket:\[(\d+)\]$/);
      if (m) found.add(Number(m[1])); // no link: closed while we looked
    }
  } catch {
    // gone, or not ours to look at
  }
  return found;
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
  const inodes = new Set(
    tcpSockets()
      .filter((s) => s.localPort === local.port && s.remotePort === remote.port && s.inode !== 0)
      .map((s) => s.inode),
  );
  if (inodes.size === 0) return [];
  return allPids().filter((pid) => [...socketInodesOf(pid)].some((i) => inodes.has(i)));
}

/** Returns the local ports of TCP sockets in LISTEN state. */
export function listeningPorts(): Set<number> {
  return new Set(tcpSockets().filter((s) => s.state === TCP_LISTEN).map((s) => s.localPort));
}

/**
 * Counts the ESTABLISHED TCP connections whose local port is `port`: seen from a server
 * listening on `port`, the connections its clients have open to it.
 */
export function establishedTo(port: number): number {
  return tcpSockets().filter((s) => s.state === TCP_ESTABLISHED && s.localPort === port).length;
}

/** What /proc says of a process and everything it started, at one moment. */
export interface ProcessView {
  /** The process and its live descendants. */
  processes: number[];
  /** Threads of all of them. */
  threads: number;
  /** Open file descriptors of all of them. */
  fds: number;
  /** TCP sockets they hold (by inode). */
  sockets: number;
  /** Resident memory of all of them, in bytes. */
  rssBytes: number;
  /** CPU time of all of them so far (user + system), in ms. */
  cpuMs: number;
}

/** A {@link ProcessView} of `pid` (a student's server, say) and its descendants. */
export function viewOf(pid: number): ProcessView {
  const processes = processTree(pid).filter((p) => readStat(p) !== null);
  const sum = (f: (p: number) => number) => processes.reduce((a, p) => a + f(p), 0);
  const sockets = new Set<number>();
  for (const p of processes) for (const inode of socketInodesOf(p)) sockets.add(inode);
  return {
    processes,
    threads: sum(threadCount),
    fds: sum(openFdCount),
    sockets: sockets.size,
    rssBytes: sum(rssBytes),
    cpuMs: sum(cpuTimeMs),
  };
}
