/**
 * The cgroups of one sandboxed run: a memory limit and a process-count limit for all its student
 * processes together (a memory hog or a fork bomb hits them, not the machine), and a way to kill
 * every one of those processes at the end, daemons included. Both cgroup versions are handled:
 *
 * - v2, the unified hierarchy (cgroup2 mounted at /sys/fs/cgroup, as on Debian 12 and Ubuntu
 *   22.04+): one cgroup `course-grader/<run>` with memory.max, memory.swap.max and pids.max. A
 *   v2 cgroup hands controllers down to its children (cgroup.subtree_control) only while no
 *   process sits in it, so the run's cgroup hangs under `course-grader`, which never holds one,
 *   and the grader's own process stays where it is.
 * - v1, one hierarchy per controller: `memory/course-grader/<run>` and
 *   `pids/course-grader/<run>`.
 *
 * Every path is under a root given as a parameter, and every file operation goes through a
 * {@link CgroupFs}, so the tests can run the v2 path against a fake tree.
 *
 * @module
 */

import { join } from "node:path";

/** Where the kernel's cgroup file systems are mounted. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** The cgroup (in each hierarchy) under which every run's cgroup is made. */
export const PARENT = "course-grader";

/** The controllers a run needs. */
const NEEDED = ["memory", "pids"];

/** The limits the cgroups enforce. */
export interface CgroupLimits {
  /** Memory of all the run's processes together. */
  memoryBytes: number;
  /** Processes and threads of all of them together. */
  pids: number;
}

/** The file operations on a cgroup file system: the kernel's by default, a fake in tests. */
export interface CgroupFs {
  /** True when `path` exists. */
  exists(path: string): boolean;
  /** The text of a file. */
  read(path: string): string;
  /** Writes to a file that must exist already (the kernel makes them all). */
  write(path: string, text: string): void;
  /** Makes one directory; throws `Deno.errors.AlreadyExists` when it is there. */
  mkdir(path: string): void;
  /** Removes one directory; throws while processes are in it. */
  rmdir(path: string): void;
}

/** The kernel's cgroup file systems. */
export const kernelFs: CgroupFs = {
  exists(path) {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  },
  read: (path) => Deno.readTextFileSync(path),
  write: (path, text) => Deno.writeTextFileSync(path, text, { create: false }),
  mkdir: (path) => Deno.mkdirSync(path),
  rmdir: (path) => Deno.removeSync(path),
};

/** The cgroups of one run. */
export interface RunCgroups {
  /** The cgroup version of the machine's hierarchy. */
  version: 1 | 2;
  /** The directories every student process joins (writing its pid to their cgroup.procs). */
  dirs: string[];
  /** Kills every process in them and removes them. */
  close(): Promise<void>;
}

/** Where the cgroups live and how to reach them. */
export interface CgroupOptions {
  /** Defaults to {@link CGROUP_ROOT}. */
  root?: string;
  /** Defaults to {@link kernelFs}. */
  fs?: CgroupFs;
}

/**
 * Makes the cgroups of the run named `name` under `limits`. Throws an `Error` saying why when
 * this machine cannot, after removing whatever it made.
 */
export function openCgroups(
  name: string,
  limits: CgroupLimits,
  options: CgroupOptions = {},
): RunCgroups {
  const root = options.root ?? CGROUP_ROOT;
  const fs = options.fs ?? kernelFs;
  const made: string[] = [];
  try {
    const v2 = fs.exists(join(root, "cgroup.controllers"));
    const dirs = v2 ? openV2(root, name, limits, fs, made) : openV1(root, name, limits, fs, made);
    return { version: v2 ? 2 : 1, dirs, close: () => removeCgroups(dirs, { fs }) };
  } catch (e) {
    for (const dir of made.reverse()) {
      try {
        fs.rmdir(dir);
      } catch {
        // another run's cgroup is in it (course-grader), or it is gone already
      }
    }
    throw new Error((e as Error).message.split("\n")[0]);
  }
}

function openV2(
  root: string,
  name: string,
  limits: CgroupLimits,
  fs: CgroupFs,
  made: string[],
): string[] {
  const available = words(fs.read(join(root, "cgroup.controllers")));
  const missing = NEEDED.filter((c) => !available.includes(c));
  if (missing.length > 0) {
    throw new Error(`cgroup v2 at ${root} has no ${missing.join(" or ")} controller`);
  }
  const parent = join(root, PARENT);
  enableControllers(root, fs);
  makeDir(parent, fs, made);
  enableControllers(parent, fs);
  const dir = join(parent, name);
  makeDir(dir, fs, made);
  fs.write(join(dir, "memory.max"), String(limits.memoryBytes));
  // Only there when the kernel accounts swap; without it the hog would page out, not die.
  const swap = join(dir, "memory.swap.max");
  if (fs.exists(swap)) fs.write(swap, "0");
  fs.write(join(dir, "pids.max"), String(limits.pids));
  return [dir];
}

/**
 * Makes the controllers a run needs available to the children of `dir`. The kernel refuses
 * (EBUSY) while a process sits in `dir`, unless it is the real root cgroup.
 */
function enableControllers(dir: string, fs: CgroupFs): void {
  const file = join(dir, "cgroup.subtree_control");
  const enabled = words(fs.read(file));
  const off = NEEDED.filter((c) => !enabled.includes(c));
  if (off.length === 0) return;
  try {
    fs.write(file, off.map((c) => `+${c}`).join(" "));
  } catch (e) {
    const why = e instanceof Deno.errors.Busy
      ? "processes live in it, and cgroup v2 hands controllers down only from a cgroup without any"
      : (e as Error).message;
    throw new Error(`Cannot enable ${off.join(" and ")} in ${file}: ${why}`);
  }
}

function openV1(
  root: string,
  name: string,
  limits: CgroupLimits,
  fs: CgroupFs,
  made: string[],
): string[] {
  const memory = join(root, "memory");
  const pids = join(root, "pids");
  // Making directories where no hierarchy is mounted would make plain directories, not cgroups.
  if (!fs.exists(join(memory, "cgroup.procs")) || !fs.exists(join(pids, "cgroup.procs"))) {
    throw new Error(`no cgroup v2, nor v1 memory and pids hierarchies, at ${root}`);
  }
  for (const dir of [memory, pids]) {
    makeDir(join(dir, PARENT), fs, made);
    makeDir(join(dir, PARENT, name), fs, made);
  }
  fs.write(join(memory, PARENT, name, "memory.limit_in_bytes"), String(limits.memoryBytes));
  fs.write(join(pids, PARENT, name, "pids.max"), String(limits.pids));
  return [join(memory, PARENT, name), join(pids, PARENT, name)];
}

/** Makes `dir` unless it exists, and records it in `made` if this call made it. */
function makeDir(dir: string, fs: CgroupFs, made: string[]): void {
  try {
    fs.mkdir(dir);
    made.push(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** The pids listed in `dir`'s cgroup.procs (none when it is gone). */
export function cgroupPids(dir: string, fs: CgroupFs = kernelFs): number[] {
  try {
    return words(fs.read(join(dir, "cgroup.procs"))).map(Number);
  } catch {
    return [];
  }
}

/**
 * Kills every process in `dirs` and removes them, retrying while a process is still on its way
 * in or out, for at most about a second. A v2 cgroup with cgroup.kill has the kernel kill them
 * all at once, even those forking meanwhile; otherwise (v1, kernels before 5.14) each pid in
 * cgroup.procs gets SIGKILL. A cgroup directory is never removed by the kernel: one left here
 * stays until someone runs rmdir on it.
 */
export async function removeCgroups(
  dirs: string[],
  options: { fs?: CgroupFs } = {},
): Promise<void> {
  const fs = options.fs ?? kernelFs;
  let left = dirs;
  for (let i = 0; i < 50 && left.length > 0; i++) {
    for (const dir of left) killAll(dir, fs);
    left = left.filter((dir) => {
      try {
        fs.rmdir(dir);
        return false;
      } catch (e) {
        return !(e instanceof Deno.errors.NotFound); // busy: its processes are still exiting
      }
    });
    if (left.length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function killAll(dir: string, fs: CgroupFs): void {
  const kill = join(dir, "cgroup.kill");
  if (fs.exists(kill)) {
    try {
      fs.write(kill, "1");
      return;
    } catch {
      // fall back to killing them one by one
    }
  }
  for (const pid of cgroupPids(dir, fs)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * The command that puts its own process into every cgroup of `dirs` and then runs `inner`: the
 * student's process and everything it starts inherit them.
 */
export function joinCommand(dirs: string[], inner: string[]): { cmd: string; args: string[] } {
  const enter = dirs.map((dir) => `echo $$ > '${dir}/cgroup.procs'`).join(" && ");
  return { cmd: "/bin/sh", args: ["-c", `${enter} && exec "$@"`, "sandbox", ...inner] };
}
