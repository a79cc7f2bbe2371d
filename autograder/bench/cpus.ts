/**
 * Which CPUs the servers and the load generator run on. With two or more CPUs, the generator
 * gets the first half and the servers the rest (2 CPUs: generator on CPU 0, server on CPU 1), so
 * neither can take the other's time and a row measures the server, not the machine's scheduler.
 * Pinning is done with util-linux `taskset`; the CPUs a process may really run on are read back
 * from `/proc/<pid>/status` (`Cpus_allowed_list`), never assumed.
 *
 * @module
 */

/** The CPUs of each side, or null when the run is not pinned (one CPU, no taskset, --no-pin). */
export interface Pinning {
  server: number[];
  generator: number[];
}

/** Parses a kernel CPU list such as `0-1,4,6-7` into `[0, 1, 4, 6, 7]`. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",").filter((p) => p !== "")) {
    const [lo, hi = lo] = part.split("-").map(Number);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new SyntaxError(`Cannot read CPU list: ${JSON.stringify(text)}`);
    }
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

/** Formats CPUs as a kernel CPU list (`[0, 1, 3]` → `0-1,3`), the form taskset takes. */
export function cpuList(cpus: number[]): string {
  const s = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Splits the CPUs a run may use between generator and servers; null with fewer than two. */
export function splitCpus(cpus: number[]): Pinning | null {
  if (cpus.length < 2) return null;
  const half = Math.floor(cpus.length / 2);
  return { generator: cpus.slice(0, half), server: cpus.slice(half) };
}

/** The CPUs `pid` may run on, from `/proc/<pid>/status` ("self" for this process); [] if gone. */
export function allowedCpus(pid: number | "self" = "self"): number[] {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const list = status.match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1];
    return list === undefined ? [] : parseCpuList(list);
  } catch {
    return [];
  }
}

/** `cmd` run on `cpus` through taskset (which sets the affinity and then execs, same pid). */
export function onCpus(cmd: string[], cpus: number[] | null): string[] {
  return cpus === null ? cmd : ["taskset", "-c", cpuList(cpus), ...cmd];
}

/**
 * Milliseconds the threads of `pids` have spent runnable but waiting in a run queue for a CPU
 * (`/proc/<pid>/task/<tid>/schedstat`, second field), summed; a process or thread that ended
 * counts nothing.
 */
export function queuedMs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    let tasks: Deno.DirEntry[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
    } catch {
      continue; // the process ended
    }
    for (const t of tasks) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[1]);
      } catch {
        // the thread ended
      }
    }
  }
  return ns / 1e6;
}

/** Moves every thread of every process in `pids` onto `cpus` (taskset -a -p). */
export async function moveTo(pids: number[], cpus: number[]): Promise<void> {
  for (const pid of pids) {
    await new Deno.Command("taskset", {
      args: ["-a", "-p", "-c", cpuList(cpus), `${pid}`],
      stdout: "null",
      stderr: "null",
    }).output();
  }
}
