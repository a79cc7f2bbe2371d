/**
 * The servers the benchmark measures, and how to start, observe and stop each: the reference
 * solutions of the kits, and memcached as the production anchor. Every server listens on a free
 * loopback port, runs in its own process group (so stopping it stops its children and Workers),
 * and is ready when a TCP connect succeeds.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { CLOCK_TICKS, cpuTimeMs, processTree, rssBytes } from "../observe/proc.ts";
import { type ChildHandle, delay, startChild } from "../harness/process.ts";
import { onCpus } from "./cpus.ts";
import { holdConnections } from "./generator.ts";
import type { ProtocolSpec } from "./protocols.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A server the benchmark can measure. */
export interface Target {
  /** Short id, used in file names: `echo`, `http-fork`, `weensydb-epoll`, ... */
  id: string;
  /** What a reader of the report sees. */
  label: string;
  /** The protocol a generator speaks to it (the op and size are the bench's). */
  protocol: ProtocolSpec;
  /** Connection counts it is measured at; a count left out is explained in `limits`. */
  connections: number[];
  /** How many connections the memory test holds open, or 0 to skip it. */
  memoryConnections: number;
  /** Why some counts are left out, for the report. */
  limits?: string;
  /** The command line, for the report: what a reader runs to reproduce it. */
  command(port: number, backendPort?: number): string[];
  /** A second server it needs first (the gateway's WeensyDB). */
  backend?: Target;
}

/** A started server. */
export interface Running {
  target: Target;
  port: number;
  child: ChildHandle;
  backend?: Running;
}

const deno = (script: string, ...args: string[]) => [
  Deno.execPath(),
  "run",
  "--allow-all",
  "--no-lock",
  `--config=${ROOT}deno.json`,
  script,
  ...args,
];

/** Returns a port no one is listening on now (the kernel's pick). */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** True if `path` (relative to the repository) exists. */
export function present(path: string): boolean {
  try {
    Deno.statSync(`${ROOT}${path}`);
    return true;
  } catch {
    return false;
  }
}

/** A tiny document root for the HTTP servers, in `dir`; returns the path of its file. */
export function writeDocRoot(dir: string): string {
  Deno.mkdirSync(`${dir}/www`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/www/hello.txt`, "hello, world\n");
  return `${dir}/www`;
}

/**
 * Copies the 03-weensydb reference into `dir` with its one global lock in place of the lock per
 * bucket (the kit's `global-lock` variant, a patch: `git apply`); returns the server's path.
 */
export function stageGlobalLock(dir: string): string {
  const to = `${dir}/global-lock`;
  Deno.mkdirSync(to, { recursive: true });
  for (const file of ["server.ts", "worker.ts"]) {
    Deno.copyFileSync(`${ROOT}solutions/03-weensydb/${file}`, `${to}/${file}`);
  }
  const patch = `${ROOT}autograder/kits/03-weensydb/variants/global-lock.patch`;
  const applied = new Deno.Command("git", {
    args: ["apply", patch],
    cwd: to,
    env: { GIT_CEILING_DIRECTORIES: dir },
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!applied.success) {
    throw new Error(
      `the global-lock variant does not apply: ${new TextDecoder().decode(applied.stderr)}`,
    );
  }
  return `${to}/server.ts`;
}

/** memcached's command: one worker thread, loopback only, no UDP, room for 20,000 clients. */
export function memcachedCommand(port: number): string[] {
  const root = Deno.uid() === 0 ? ["-u", "nobody"] : []; // memcached refuses to run as root
  return [
    "memcached",
    "-l",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    "1",
    "-U",
    "0",
    "-c",
    "20000",
    "-m",
    "64",
    ...root,
  ];
}

/**
 * Starts `target` (and its backend first) and waits until it accepts connections; with `cpus`,
 * on those CPUs only (taskset; its children and threads inherit them).
 */
export async function startTarget(
  target: Target,
  timeoutMs = 20_000,
  cpus: number[] | null = null,
): Promise<Running> {
  const backend = target.backend ? await startTarget(target.backend, timeoutMs, cpus) : undefined;
  const port = freePort();
  const [cmd, ...args] = onCpus(target.command(port, backend?.port), cpus);
  const child = startChild(cmd, args);
  const running: Running = { target, port, child, backend };
  try {
    await waitListening(running, timeoutMs);
  } catch (err) {
    await stopTarget(running);
    throw err;
  }
  return running;
}

async function waitListening(r: Running, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (r.child.exited()) break;
    // Ready means answering, not just accepting: a pre-forked pool accepts into the backlog
    // well before its workers have started.
    const ping = await holdConnections(r.port, 1, {
      protocol: r.target.protocol,
      timeoutMs: end - Date.now(),
    });
    ping.conns.forEach((c) => c.close());
    if (ping.answered === 1) return;
    await delay(50);
  }
  const output = new TextDecoder().decode(r.child.combined.chunks.at(-1) ?? new Uint8Array());
  throw new Error(`Cannot start ${r.target.id}: not answering on ${r.port} (${output.trim()})`);
}

/** Stops the server's process group, then its backend's. */
export async function stopTarget(r: Running): Promise<void> {
  await r.child.stop(1000);
  if (r.backend) await stopTarget(r.backend);
}

/** The resident memory of the server and every process it started, in bytes. */
export function treeRss(r: Running): number {
  return processTree(r.child.pid).reduce((sum, pid) => sum + rssBytes(pid), 0);
}

/**
 * The CPU time of the server, of its live processes, and of the children it has reaped (a
 * process per connection is gone by the time we look; its time is in its parent's `cutime` and
 * `cstime`), plus its backend's, in milliseconds.
 */
export function treeCpuMs(r: Running): number {
  const live = processTree(r.child.pid).reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
  return live + reapedCpuMs(r.child.pid) + (r.backend ? treeCpuMs(r.backend) : 0);
}

/** Every process of the server and of its backend: whose run-queue wait the generator reads. */
export function treePids(r: Running): number[] {
  return [...processTree(r.child.pid), ...(r.backend ? treePids(r.backend) : [])];
}

/** `cutime + cstime` of `pid`: the CPU time of the children it has waited for, in ms. */
export function reapedCpuMs(pid: number): number {
  try {
    const line = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = line.slice(line.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[13]) + Number(f[14])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Where the benchmark's scratch files (the document root, the staged global-lock server) go. */
export interface CatalogOptions {
  scratch: string;
}

const kv = (kind: "weensydb" | "memcached"): ProtocolSpec => ({ kind, op: "get", size: 100 });
const C4 = [1, 10, 100, 1000];

/** A target whose kit or program is absent carries the reason in `missing`. */
export type Entry = Target & { missing?: string };

/** Every server the benchmark knows, those whose kit is not in the checkout marked `missing`. */
export function catalog(o: CatalogOptions): Entry[] {
  const www = writeDocRoot(o.scratch);
  const http = { kind: "http", path: "/hello.txt", close: true } as const;
  const threads: Target = {
    id: "weensydb-threads",
    label: "WeensyDB, a Worker per connection, per-bucket locks (03)",
    protocol: kv("weensydb"),
    connections: [1, 10, 100],
    memoryConnections: 100,
    limits:
      "1,000 connections not run: a Worker (a V8 isolate, about 9 MB) per connection; --max-threads 128",
    command: (p) =>
      deno(`${ROOT}solutions/03-weensydb/server.ts`, "--port", `${p}`, "--max-threads", "128"),
  };
  const globalLock = stageGlobalLock(o.scratch);
  const epoll: Target = {
    id: "weensydb-epoll",
    label: "WeensyDB, one thread, epoll (04)",
    protocol: kv("weensydb"),
    connections: C4,
    memoryConnections: 10_000,
    command: (p) =>
      deno(`${ROOT}solutions/04-poll/server.ts`, "--port", `${p}`, "--engine", "epoll"),
  };
  const has04 = present("solutions/04-poll/server.ts");
  const missing04 = has04 ? undefined : "not measured: kit 04-poll not present";
  return [
    {
      id: "echo",
      label: "echo, iterative (01)",
      protocol: { kind: "echo", size: 100 },
      connections: [1, 10],
      memoryConnections: 0,
      limits:
        "iterative: one client at a time, the others wait in the backlog; memory not measured",
      command: (p) => deno(`${ROOT}solutions/01-echo/server.ts`, "--port", `${p}`),
    },
    {
      id: "http-fork",
      label: "HTTP/1.0, a process per connection (02)",
      protocol: http,
      connections: [1, 10, 100],
      memoryConnections: 40,
      limits:
        "1,000 not run and memory at 40 connections: a Deno process per connection, --max-children 64",
      command: (p) =>
        deno(`${ROOT}solutions/02-forking/server.ts`, "--port", `${p}`, "--root", www),
    },
    {
      id: "http-prefork",
      label: "HTTP/1.0, pre-forked pool of 4 (02)",
      protocol: http,
      connections: C4,
      memoryConnections: 100,
      limits:
        "4 workers serve 4 connections at a time; idle connections past 4 wait in the backlog",
      command: (p) =>
        deno(
          `${ROOT}solutions/02-forking/server.ts`,
          "--port",
          `${p}`,
          "--root",
          www,
          "--prefork",
          "4",
          "--requests",
          "10000",
        ),
    },
    threads,
    {
      ...threads,
      id: "weensydb-global",
      label: "WeensyDB, a Worker per connection, one global lock (03 alternative)",
      command: (p) => deno(globalLock, "--port", `${p}`, "--max-threads", "128"),
    },
    {
      ...epoll,
      id: "weensydb-poll",
      label: "WeensyDB, one thread, poll (04)",
      command: (p) =>
        deno(`${ROOT}solutions/04-poll/server.ts`, "--port", `${p}`, "--engine", "poll"),
      missing: missing04,
    },
    { ...epoll, missing: missing04 },
    {
      id: "gateway",
      label: `async HTTP gateway (05) over ${has04 ? "epoll" : "threaded"} WeensyDB`,
      protocol: { kind: "http", path: "/kv/key:0" },
      connections: C4,
      memoryConnections: 10_000,
      backend: has04 ? epoll : threads,
      command: (p, b) =>
        deno(
          `${ROOT}solutions/05-async/server.ts`,
          "--port",
          `${p}`,
          "--backend",
          `127.0.0.1:${b}`,
        ),
      missing: present("solutions/05-async/server.ts")
        ? undefined
        : "not measured: kit 05-async not present",
    },
    {
      id: "memcached",
      label: "memcached -t 1 (production anchor)",
      protocol: kv("memcached"),
      connections: C4,
      memoryConnections: 10_000,
      command: memcachedCommand,
      missing: hasCommand("memcached")
        ? undefined
        : "not measured: memcached not installed (setup.sh --bench)",
    },
  ];
}

/** True if `name` is a program on the PATH. */
export function hasCommand(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}
