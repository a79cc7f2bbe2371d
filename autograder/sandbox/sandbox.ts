/**
 * The sandbox for untrusted submissions. Their code runs with --allow-ffi, so Deno's permissions
 * contain nothing; the operating system has to. Each student process runs:
 *
 * - as an unprivileged user of the run's own when the grader is root (student_user.ts), with
 *   no capability and no way to gain one (no-new-privs): the layer that needs nothing from the
 *   host, so it holds in a container without namespaces; files only root may read stay
 *   unread, the grader cannot be signalled, and every process of that user dies at the end;
 * - with a clean environment: an allow-list ({@link studentEnv}), never the grader's variables;
 * - in the run's cgroups (cgroups.ts, v1 or v2: a memory hog or a fork bomb hits their limits,
 *   not the machine), whose processes are all killed when the run ends;
 * - under bubblewrap, with no capabilities even when the grader runs as root: its own pid
 *   namespace (a daemon that double-forks out of its process group still dies with the
 *   sandbox), and a file system that shows only the system
 *   directories, Deno, the course library and the run's own directory, read-only, plus a
 *   size-limited scratch /tmp and /dev/shm that vanish with it (no solutions, no hidden probes,
 *   no other student's work);
 * - under rlimits: CPU seconds, open files, file size, processes of its user, no core dumps.
 *
 * The network is confined by the grader: with `--sandbox` it re-runs itself in a network
 * namespace of its own ({@link networkNamespaceCommand}), where only loopback exists, and the
 * student processes it starts share it. A mechanism the machine lacks is skipped and named once
 * in the run's notes. Tests simulate a host without them: COURSE_SANDBOX_BWRAP names the
 * bubblewrap to use (a script that fails as bubblewrap does without user namespaces), and
 * COURSE_SANDBOX_CGROUP_ROOT the cgroup root (a read-only directory). RLIMIT_AS is not used: V8 reserves tens of GiB of address space at start,
 * so memory is bounded by the cgroup instead.
 *
 * @module
 */

import { joinCommand, openCgroups, type RunCgroups } from "./cgroups.ts";
import { allPids, processTree } from "../observe/proc.ts";
import { asUser, killUser, removeUserFiles, shareWith, type StudentUser } from "./student_user.ts";

/** The limits one run's student processes live under. */
export interface SandboxLimits {
  /** Memory of all the run's student processes together (cgroup). */
  memoryBytes: number;
  /** Processes and threads of all of them together (cgroup; RLIMIT_NPROC for their user). */
  pids: number;
  /** CPU seconds per process (RLIMIT_CPU). */
  cpuSeconds: number;
  /** Open files per process (RLIMIT_NOFILE). */
  openFiles: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes: number;
  /** Size of each sandbox's scratch /tmp and /dev/shm (tmpfs). */
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

/** How a run's sandbox is made. */
export interface SandboxOptions {
  /** bubblewrap and cgroups, where the host has them (false: the user layer alone). */
  namespaces?: boolean;
  /** The user student processes run as (the grader is root), or null to stay as the grader. */
  user?: StudentUser | null;
  /** The run's directory: shared with the user before each start, except `scratch`. */
  runDir?: string;
  /** The user's own writable directory: HOME, TMPDIR and DENO_DIR where bubblewrap is missing. */
  scratch?: string;
}

/** A run's sandbox: wraps student commands, and kills what is left of them at the end. */
export interface Sandbox {
  /** What the machine could not provide, one line each. */
  notes: string[];
  /** The user student processes run as, or null (the grader's own). */
  user: StudentUser | null;
  /** The command that runs `cmd args` in the sandbox, seeing `visible` read-only. */
  wrap(cmd: string, args: string[], o: { cwd: string; visible: string[] }): {
    cmd: string;
    args: string[];
  };
  /** The whole environment of a student process: the allow-list plus `extra`. */
  env(extra: Record<string, string>): Record<string, string>;
  /** The student's own process under a wrapper, once it has started (else null). */
  mainPid(wrapperPid: number): number | null;
  /** Kills every process of the run's user (between probes); returns how many there were. */
  sweep(): Promise<number>;
  /** Kills every process still in the sandbox, removes its cgroups and the user's files. */
  close(): Promise<void>;
}

/** The bubblewrap to use: COURSE_SANDBOX_BWRAP (a test's simulated host), else the system's. */
export function bwrapPath(): string {
  return Deno.env.get("COURSE_SANDBOX_BWRAP") || "bwrap";
}

/** True when `cmd args` runs and exits 0. */
function works(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/**
 * The variables a student process gets, whatever the grader's own: PATH, LANG, NO_COLOR, a HOME,
 * TMPDIR and DENO_DIR in its scratch directory, and `extra` (the manifest's and the probe's).
 */
export function studentEnv(scratch: string, extra: Record<string, string>): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
    NO_COLOR: "1",
    HOME: scratch,
    TMPDIR: scratch,
    DENO_DIR: `${scratch}/.deno`,
    DENO_NO_UPDATE_CHECK: "1",
    ...extra,
  };
}

function bwrapArgs(
  o: { cwd: string; visible: string[] },
  limits: SandboxLimits,
  asRoot: boolean,
): string[] {
  const system = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc"];
  const deno = Deno.execPath();
  const scratch = (dir: string) =>
    ["--perms", "01777", "--size", String(limits.scratchBytes)]
      .concat(["--tmpfs", dir]);
  return [
    "--die-with-parent",
    // Run as root (as cgroups need), bubblewrap keeps every capability: the student could then
    // mknod the disk and mount it, solutions and all. Inside, it needs none; with a student
    // user, setpriv inside drops them all as it changes user (it needs CAP_SETUID to).
    ...(asRoot ? ["--cap-drop", "ALL"] : []),
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    ...system.flatMap((dir) => ["--ro-bind-try", dir, dir]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    ...scratch("/tmp"),
    ...scratch("/dev/shm"),
    "--ro-bind",
    deno,
    deno,
    // With a student user, permissions say what it may write there (a probe's report file);
    // without one, nothing.
    ...[...new Set([o.cwd, ...o.visible])].flatMap((
      dir,
    ) => [asRoot ? "--ro-bind" : "--bind", dir, dir]),
    ...Object.entries(studentEnv("/tmp", {})).flatMap(([k, v]) => ["--setenv", k, v]),
    "--chdir",
    o.cwd,
    "--",
  ];
}

function prlimitArgs(limits: SandboxLimits, user: boolean): string[] {
  return [
    "prlimit",
    `--cpu=${limits.cpuSeconds}`,
    `--nofile=${limits.openFiles}`,
    `--fsize=${limits.fileSizeBytes}`,
    // Counted per user: a bound on a fork bomb where cgroups are missing.
    ...(user ? [`--nproc=${limits.pids}`] : []),
    "--core=0",
    "--",
  ];
}

/** What the host provides, found out once per run; each lack is a note. */
function probeHost(name: string, limits: SandboxLimits, o: SandboxOptions) {
  const notes: string[] = [];
  const namespaces = o.namespaces ?? true;
  const bwrap = namespaces && works(bwrapPath(), ["--ro-bind", "/", "/", "--unshare-pid", "true"]);
  if (namespaces && !bwrap) {
    notes.push(
      "sandbox: bubblewrap is missing or not allowed here: no pid namespace and no private " +
        "/tmp; the student user's files and processes are removed at the end instead",
    );
  }
  const prlimit = works("prlimit", ["--nofile=64", "true"]);
  if (!prlimit) notes.push("sandbox: prlimit is missing: no CPU, open-file or file-size limits");
  let cgroups: RunCgroups | null = null;
  if (namespaces) {
    try {
      cgroups = openCgroups(name, limits, { root: Deno.env.get("COURSE_SANDBOX_CGROUP_ROOT") });
    } catch (e) {
      const why = (e as Error).message;
      notes.push(
        `sandbox: cgroups are not writable here: no memory limit, processes bounded per user ` +
          `only (${why})`,
      );
    }
  }
  return { notes, bwrap, prlimit, cgroups };
}

/**
 * Opens the sandbox of one run named `name`, finding out once what this machine provides.
 * `limits` defaults to {@link DEFAULT_LIMITS}; `options` to namespaces without a user.
 */
export function openSandbox(
  name: string,
  limits: SandboxLimits = DEFAULT_LIMITS,
  options: SandboxOptions = {},
): Sandbox {
  const { notes, bwrap, prlimit, cgroups } = probeHost(name, limits, options);
  const user = options.user ?? null;
  if (user === null && Deno.uid() === 0) {
    notes.push("sandbox: student processes run as root (no student user)");
  }
  const deno = Deno.realPathSync(Deno.execPath());
  const scratch = options.scratch ?? "/tmp";
  let closed = false;
  return {
    notes,
    user,
    wrap(cmd, args, o) {
      // A probe that goes on after its run was stopped (it may ignore the abort) must not start a
      // process in cgroups being removed: it would keep them busy, and nobody would remove them.
      if (closed) throw new Error("Cannot start a student process: the sandbox is closed");
      // What a probe made for the student since the last start (its files) becomes readable.
      if (user !== null && options.runDir) {
        shareWith(options.runDir, user.gid, options.scratch ? [options.scratch] : []);
      }
      const inner = [
        ...(bwrap ? [bwrapPath(), ...bwrapArgs(o, limits, user === null)] : []),
        ...(user !== null ? ["setpriv", ...asUser(user.uid, user.gid)] : []),
        ...(prlimit ? prlimitArgs(limits, user !== null) : []),
        cmd,
        ...args,
      ];
      if (cgroups === null) return { cmd: inner[0], args: inner.slice(1) };
      return joinCommand(cgroups.dirs, inner);
    },
    env: (extra) => studentEnv(bwrap ? "/tmp" : scratch, extra),
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
    sweep: () => user === null ? Promise.resolve(0) : killUser(user.uid),
    async close() {
      closed = true;
      await cgroups?.close();
      if (user !== null) {
        await killUser(user.uid);
        removeUserFiles(user.uid);
      }
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
  const bwrap = bwrapPath();
  if (!works(bwrap, ["--dev-bind", "/", "/", "--unshare-net", "true"])) return null;
  return {
    cmd: bwrap,
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
