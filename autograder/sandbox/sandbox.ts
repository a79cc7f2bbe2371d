/**
 * The sandbox for untrusted submissions. Their code runs with --allow-ffi, so Deno's permissions
 * contain nothing; the operating system has to. Each student process runs:
 *
 * - in the run's cgroups (cgroups.ts, v1 or v2: a memory hog or a fork bomb hits their limits,
 *   not the machine), whose processes are all killed when the run ends;
 * - under bubblewrap, with no capabilities even when the grader runs as root: its own pid
 *   namespace (a daemon that double-forks out of its process group still dies with the
 *   sandbox), and a file system that shows only the system
 *   directories, Deno, the course library and the run's own directory, read-only, plus a
 *   size-limited scratch /tmp that vanishes with it (no solutions, no hidden probes, no other
 *   student's work);
 * - under rlimits: CPU seconds, open files, file size, no core dumps.
 *
 * The network is confined by the grader: with `--sandbox` it re-runs itself in a network
 * namespace of its own ({@link networkNamespaceCommand}), where only loopback exists, and the
 * student processes it starts share it. A mechanism the machine lacks is skipped and named once
 * in the run's notes. RLIMIT_AS is not used: V8 reserves tens of GiB of address space at start,
 * so memory is bounded by the cgroup instead.
 *
 * @module
 */

import { joinCommand, openCgroups, type RunCgroups } from "./cgroups.ts";
import { allPids, processTree } from "../observe/proc.ts";

/** The limits one run's student processes live under. */
export interface SandboxLimits {
  /** Memory of all the run's student processes together (cgroup). */
  memoryBytes: number;
  /** Processes and threads of all of them together (cgroup). */
  pids: number;
  /** CPU seconds per process (RLIMIT_CPU). */
  cpuSeconds: number;
  /** Open files per process (RLIMIT_NOFILE). */
  openFiles: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes: number;
  /** Size of each sandbox's scratch /tmp (a tmpfs). */
  scratchBytes: number;
}

/** Limits that fit every kit on a 2-core, 24 GiB machine; a manifest may override them. */
export const DEFAULT_LIMITS: SandboxLimits = {
  memoryBytes: 4 * 2 ** 30,
  pids: 4096,
  cpuSeconds: 300,
  openFiles: 20_000,
  fileSizeBytes: 64 << 20,
  scratchBytes: 256 << 20,
};

/** A run's sandbox: wraps student commands, and kills what is left of them at the end. */
export interface Sandbox {
  /** What the machine could not provide, one line each. */
  notes: string[];
  /** The command that runs `cmd args` in the sandbox, seeing `visible` read-only. */
  wrap(cmd: string, args: string[], o: { cwd: string; visible: string[] }): {
    cmd: string;
    args: string[];
  };
  /** The student's own process under a wrapper, once it has started (else null). */
  mainPid(wrapperPid: number): number | null;
  /** Kills every process still in the sandbox and removes its cgroups. */
  close(): Promise<void>;
}

/** True when `cmd args` runs and exits 0. */
function works(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

function bwrapArgs(o: { cwd: string; visible: string[] }, limits: SandboxLimits): string[] {
  const system = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc"];
  const deno = Deno.execPath();
  return [
    "--die-with-parent",
    // Run as root (as cgroups need), bubblewrap keeps every capability: the student could then
    // mknod the disk and mount it, solutions and all. Inside, it needs none.
    "--cap-drop",
    "ALL",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    ...system.flatMap((dir) => ["--ro-bind-try", dir, dir]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--size",
    String(limits.scratchBytes),
    "--tmpfs",
    "/tmp",
    "--ro-bind",
    deno,
    deno,
    ...[...new Set([o.cwd, ...o.visible])].flatMap((dir) => ["--ro-bind", dir, dir]),
    "--setenv",
    "DENO_DIR",
    "/tmp/.deno",
    "--setenv",
    "HOME",
    "/tmp",
    "--setenv",
    "TMPDIR",
    "/tmp",
    "--chdir",
    o.cwd,
    "--",
  ];
}

function prlimitArgs(limits: SandboxLimits): string[] {
  return [
    "prlimit",
    `--cpu=${limits.cpuSeconds}`,
    `--nofile=${limits.openFiles}`,
    `--fsize=${limits.fileSizeBytes}`,
    "--core=0",
    "--",
  ];
}

/**
 * Opens the sandbox of one run named `name`, finding out once what this machine provides.
 * `limits` defaults to {@link DEFAULT_LIMITS}.
 */
export function openSandbox(name: string, limits: SandboxLimits = DEFAULT_LIMITS): Sandbox {
  const notes: string[] = [];
  const bwrap = works("bwrap", ["--ro-bind", "/", "/", "--unshare-pid", "true"]);
  if (!bwrap) {
    notes.push(
      "sandbox: bubblewrap is missing or not allowed here: no pid namespace, and " +
        "student processes can read every file the grader can",
    );
  }
  const prlimit = works("prlimit", ["--nofile=64", "true"]);
  if (!prlimit) notes.push("sandbox: prlimit is missing: no CPU, open-file or file-size limits");
  let cgroups: RunCgroups | null = null;
  try {
    cgroups = openCgroups(name, limits);
  } catch (e) {
    const why = (e as Error).message;
    notes.push(`sandbox: cgroups are not writable here: no memory or process-count limit (${why})`);
  }
  const deno = Deno.realPathSync(Deno.execPath());
  let closed = false;
  return {
    notes,
    wrap(cmd, args, o) {
      // A probe that goes on after its run was stopped (it may ignore the abort) must not start a
      // process in cgroups being removed: it would keep them busy, and nobody would remove them.
      if (closed) throw new Error("Cannot start a student process: the sandbox is closed");
      const inner = [
        ...(bwrap ? ["bwrap", ...bwrapArgs(o, limits)] : []),
        ...(prlimit ? prlimitArgs(limits) : []),
        cmd,
        ...args,
      ];
      if (cgroups === null) return { cmd: inner[0], args: inner.slice(1) };
      return joinCommand(cgroups.dirs, inner);
    },
    mainPid(wrapperPid) {
      for (const pid of processTree(wrapperPid)) {
        try {
          if (Deno.realPathSync(`/proc/${pid}/exe`) === deno) return pid;
        } catch {
          // gone, or not a process we may look at
        }
      }
      return null;
    },
    async close() {
      closed = true;
      await cgroups?.close();
    },
  };
}

/**
 * The command that re-runs the grader (`cmd args`) in a network namespace of its own, where
 * only loopback exists, or null when bubblewrap cannot make one here.
 */
export function networkNamespaceCommand(
  cmd: string,
  args: string[],
): { cmd: string; args: string[] } | null {
  if (!works("bwrap", ["--dev-bind", "/", "/", "--unshare-net", "true"])) return null;
  return {
    cmd: "bwrap",
    args: ["--dev-bind", "/", "/", "--unshare-net", "--die-with-parent", "--", cmd, ...args],
  };
}

/** Pids of live processes whose command line contains `marker` (for tests and reports). */
export function processesMatching(marker: string): number[] {
  return allPids().filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(marker);
    } catch {
      return false;
    }
  });
}
