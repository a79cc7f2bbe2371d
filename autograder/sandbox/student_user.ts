/**
 * The unprivileged user student processes run as when the grader is root: the layer of the
 * sandbox that needs nothing from the host but `setpriv` (util-linux), so it holds where
 * bubblewrap or cgroups are missing (a Docker container, Gradescope's). As that user a
 * submission cannot signal the grader (a root process), read files only root may read (the staff
 * checkout, made 0750 by setup.sh), or write where the grader writes its results; RLIMIT_NPROC
 * bounds the processes of that user, and at the end every process of it is killed and every file
 * it left in the machine's world-writable directories removed.
 *
 * Each run claims a user of its own, so that killing "every process of the user" never touches
 * another run graded at the same time (grade-all's jobs): uids `course-student`'s uid + 0..15
 * when setup.sh made that user (those uids are reserved for it and must belong to no one else),
 * else `nobody` alone, which concurrent runs then take in turns. A claim is a file naming the
 * grader's pid in a root-only directory; a claim whose grader is dead is taken over, after its
 * processes and files are cleaned away.
 *
 * @module
 */

import { join } from "node:path";
import { allPids, readStat } from "../observe/proc.ts";

/** The user setup.sh creates for student processes. */
export const STUDENT_USER = "course-student";

/** How many uids from `course-student`'s are reserved for concurrent runs. */
export const SLOTS = 16;

/** Directories anyone may write to, where a submission without bubblewrap can leave files. */
export const WORLD_WRITABLE = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"];

/** A user claimed by one run. */
export interface StudentUser {
  uid: number;
  /** Its group: the uid's own number (no one else is in it). */
  gid: number;
  /** "course-student", "course-student+3" (a reserved uid past it) or "nobody". */
  name: string;
  /** Gives the user back (after {@link killUser} and {@link removeUserFiles}). */
  release(): void;
}

/** The uids a run may claim on this machine, first choice first, with their names. */
export function candidateUsers(passwd = readPasswd()): { uid: number; name: string }[] {
  const byName = new Map(passwd.map((u) => [u.name, u.uid]));
  const taken = new Set(passwd.map((u) => u.uid));
  const base = byName.get(STUDENT_USER);
  if (base !== undefined && base > 0) {
    const users = [{ uid: base, name: STUDENT_USER }];
    for (let k = 1; k < SLOTS; k++) {
      if (!taken.has(base + k)) users.push({ uid: base + k, name: `${STUDENT_USER}+${k}` });
    }
    return users;
  }
  return [{ uid: byName.get("nobody") ?? 65534, name: "nobody" }];
}

function readPasswd(): { name: string; uid: number }[] {
  try {
    return Deno.readTextFileSync("/etc/passwd").split("\n").filter(Boolean).map((line) => {
      const [name, , uid] = line.split(":");
      return { name, uid: Number(uid) };
    });
  } catch {
    return [];
  }
}

/** Where claims are kept: root's alone. */
function claimDir(): string {
  const dir = join(Deno.statSync("/run").isDirectory ? "/run" : "/tmp", "course-grader-users");
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  Deno.chmodSync(dir, 0o700);
  return dir;
}

function tryClaim(dir: string, uid: number): boolean {
  const file = join(dir, String(uid));
  try {
    Deno.writeTextFileSync(file, String(Deno.pid), { createNew: true });
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const holder = Number(Deno.readTextFileSync(file).trim());
  if (holder !== Deno.pid && readStat(holder) !== null) return false;
  Deno.removeSync(file); // its grader died without giving it back
  return tryClaim(dir, uid);
}

/**
 * Claims a user for one run, waiting while every candidate is in use (only when `nobody` is the
 * one candidate); kills what a crashed run may have left under it. Root only.
 */
export async function claimStudentUser(signal?: AbortSignal): Promise<StudentUser> {
  const dir = claimDir();
  const candidates = candidateUsers();
  while (true) {
    for (const { uid, name } of candidates) {
      if (!tryClaim(dir, uid)) continue;
      await killUser(uid);
      removeUserFiles(uid);
      const release = () => Deno.removeSync(join(dir, String(uid)));
      return { uid, gid: uid, name, release };
    }
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Pids of live processes with `uid` as their real, effective, saved or file-system uid. */
export function userPids(uid: number): number[] {
  return allPids().filter((pid) => {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const uids = status.match(/^Uid:\s+(.*)$/m)?.[1].split(/\s+/).map(Number) ?? [];
      return uids.includes(uid) && !/^State:\s+Z/m.test(status);
    } catch {
      return false; // gone
    }
  });
}

/**
 * Kills every process of `uid`, forking ones included, and returns how many there were. The
 * kill comes from a process of that user itself (`kill -9 -1` as the user reaches all of its
 * processes in one system call), repeated until none is left or about two seconds pass.
 */
export async function killUser(uid: number): Promise<number> {
  const found = userPids(uid).length;
  for (let i = 0; i < 40 && userPids(uid).length > 0; i++) {
    try {
      await new Deno.Command("setpriv", {
        args: [...asUser(uid, uid), "/bin/sh", "-c", "kill -9 -1"],
        stdout: "null",
        stderr: "null",
        clearEnv: true,
      }).output();
    } catch {
      for (const pid of userPids(uid)) killQuietly(pid);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return found;
}

function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** Removes every file `uid` owns in {@link WORLD_WRITABLE} directories; returns how many. */
export function removeUserFiles(uid: number, dirs = WORLD_WRITABLE): number {
  let removed = 0;
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(path);
      } catch {
        continue;
      }
      if (info.uid === uid) {
        Deno.removeSync(path, { recursive: true });
        removed++;
      } else if (info.isDirectory && ((info.mode ?? 0) & 0o002) !== 0) {
        walk(path); // only where the user could have made something (/tmp/.X11-unix, say)
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return removed;
}

/** `setpriv` options that become `uid`/`gid` with no capability and no way to regain one. */
export function asUser(uid: number, gid: number): string[] {
  return [
    "--reuid",
    String(uid),
    "--regid",
    String(gid),
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps",
    "-all",
    "--bounding-set",
    "-all",
    "--",
  ];
}

/**
 * Lets `gid` reach what the grader put in `dir` for the student (the staged submission, a
 * probe's files, a file a probe asks the program to write, such as 03's lock-order report):
 * every entry gets group `gid`, with the owner's permissions as the group's, except that
 * directories are never writable by it (it can create nothing there, nor remove or rename). A
 * mode-000 file stays unreadable, and no set-user-id or set-group-id bit survives.
 * Entries named in `skip` (the student's own scratch) are left alone.
 */
export function shareWith(dir: string, gid: number, skip: string[] = []): void {
  const walk = (path: string) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch {
      return;
    }
    if (info.isSymlink || skip.includes(path) || info.mode === null) return;
    const owner = (info.mode >> 6) & 7;
    const group = info.isDirectory ? owner & 5 : owner;
    try {
      if (info.gid !== gid) Deno.chownSync(path, null, gid);
      if (((info.mode >> 3) & 7) !== group) {
        Deno.chmodSync(path, (info.mode & 0o1707) | (group << 3));
      }
    } catch {
      return; // gone meanwhile
    }
    if (info.isDirectory) {
      for (const e of Deno.readDirSync(path)) walk(join(path, e.name));
    }
  };
  walk(dir);
}
