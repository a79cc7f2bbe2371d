import assert from "node:assert/strict";
import { basename, dirname, join, relative } from "node:path";
import {
  CGROUP_ROOT,
  type CgroupFs,
  cgroupPids,
  joinCommand,
  kernelFs,
  openCgroups,
  removeCgroups,
} from "./cgroups.ts";
import { isAlive, within } from "../harness/process.ts";

const limits = { memoryBytes: 123 << 20, pids: 45 };

interface FakeOptions {
  /** The kernel accounts swap (memory.swap.max exists). */
  swap?: boolean;
  /** The kernel has cgroup.kill (5.14 and later). */
  kill?: boolean;
  /** The root is a container's namespace root, where the no-internal-processes rule holds. */
  namespaceRoot?: boolean;
  /** Writes to these files (relative to the root) fail with EIO. */
  failing?: string[];
}

/**
 * A cgroup v2 tree in a temp directory, with the kernel's rules the code has to follow: a child
 * gets a controller's files only if its parent enabled it in cgroup.subtree_control beforehand;
 * enabling needs the controller in cgroup.controllers, and no process in the cgroup (except at
 * the real root); cgroup.procs lists live processes only; cgroup.kill kills them all; rmdir
 * fails while a process or a child cgroup is in it. `log` records every change made.
 */
function fakeV2(root: string, controllers: string, o: FakeOptions = {}) {
  const log: string[] = [];
  const rel = (path: string) => relative(root, path) || ".";
  const words = (path: string) => Deno.readTextFileSync(path).split(/\s+/).filter(Boolean);
  const live = (dir: string) => words(join(dir, "cgroup.procs")).map(Number).filter(isAlive);
  const available = (dir: string) =>
    dir === root ? words(join(dir, "cgroup.controllers")) : enabled(dirname(dir));
  const enabled = (dir: string) => words(join(dir, "cgroup.subtree_control"));
  const populate = (dir: string) => {
    const files = ["cgroup.procs", "cgroup.subtree_control", ...(o.kill ? ["cgroup.kill"] : [])];
    const on = available(dir);
    if (on.includes("memory") && dir !== root) {
      files.push("memory.max", ...(o.swap ? ["memory.swap.max"] : []));
    }
    if (on.includes("pids") && dir !== root) files.push("pids.max");
    for (const file of files) Deno.writeTextFileSync(join(dir, file), "");
  };
  const fs: CgroupFs = {
    exists: kernelFs.exists,
    read(path) {
      if (basename(path) === "cgroup.procs") return live(dirname(path)).join("\n");
      if (basename(path) === "cgroup.controllers") return available(dirname(path)).join(" ");
      return Deno.readTextFileSync(path);
    },
    write(path, text) {
      const dir = dirname(path);
      if (!kernelFs.exists(path)) throw new Deno.errors.NotFound(`no ${rel(path)}`);
      if (o.failing?.includes(rel(path))) throw new Error(`Input/output error: ${rel(path)}`);
      const written = `write ${rel(path)} ${text}`;
      if (basename(path) === "cgroup.subtree_control") {
        const asked = text.split(" ").map((w) => w.slice(1));
        if (asked.some((c) => !available(dir).includes(c))) throw new Deno.errors.NotFound(text);
        if ((dir !== root || o.namespaceRoot) && live(dir).length > 0) {
          throw new Deno.errors.Busy("Device or resource busy (os error 16)");
        }
        text = [...new Set([...enabled(dir), ...asked])].join(" ");
      }
      if (basename(path) === "cgroup.kill") live(dir).forEach((pid) => Deno.kill(pid, "SIGKILL"));
      Deno.writeTextFileSync(path, text);
      log.push(written);
    },
    mkdir(path) {
      kernelFs.mkdir(path);
      log.push(`mkdir ${rel(path)}`);
      populate(path);
    },
    rmdir(path) {
      if (!kernelFs.exists(path)) throw new Deno.errors.NotFound(rel(path));
      const children = [...Deno.readDirSync(path)].filter((e) => e.isDirectory);
      if (live(path).length > 0 || children.length > 0) throw new Deno.errors.Busy(rel(path));
      Deno.removeSync(path, { recursive: true });
      log.push(`rmdir ${rel(path)}`);
    },
  };
  Deno.writeTextFileSync(join(root, "cgroup.controllers"), controllers);
  populate(root);
  return { fs, log };
}

const ALL = "cpuset cpu io memory hugetlb pids rdma misc";

async function withRoot(fn: (root: string) => Promise<void> | void) {
  const root = await Deno.makeTempDir({ prefix: "fake-cgroup-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/**
 * Runs `fn` with `sleep 3600` started through joinCommand, once it has joined `dirs`; kills it
 * afterwards if `fn` did not.
 */
async function withSleeper(dirs: string[], fn: (child: Deno.ChildProcess) => Promise<void>) {
  const { cmd, args } = joinCommand(dirs, ["/bin/sh", "-c", "echo joined; exec sleep 3600"]);
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await within(reader.read(), 10_000, null);
    await reader.cancel();
    assert.equal(first?.value?.trim(), "joined", "the sleeper joined its cgroups");
    await fn(child);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // dead already, as it should be
    }
    await child.status;
  }
}

/** Waits (with a deadline) for `child` to die, and says how. */
async function deathOf(child: Deno.ChildProcess) {
  const status = await within(child.status, 5_000, null);
  if (status === null) child.kill("SIGKILL");
  await child.status;
  return status?.signal ?? "still running after 5 s";
}

Deno.test("cgroups v2: the run's cgroup under course-grader, controllers enabled top-down", async () => {
  await withRoot(async (root) => {
    const { fs, log } = fakeV2(root, ALL, { swap: true });
    const cgroups = openCgroups("run-1", limits, { root, fs });
    assert.equal(cgroups.version, 2);
    assert.deepEqual(cgroups.dirs, [join(root, "course-grader", "run-1")]);
    assert.deepEqual(log, [
      "write cgroup.subtree_control +memory +pids",
      "mkdir course-grader",
      "write course-grader/cgroup.subtree_control +memory +pids",
      "mkdir course-grader/run-1",
      `write course-grader/run-1/memory.max ${123 << 20}`,
      "write course-grader/run-1/memory.swap.max 0",
      "write course-grader/run-1/pids.max 45",
    ]);
    log.length = 0;
    await cgroups.close();
    assert.deepEqual(log, ["rmdir course-grader/run-1"], "course-grader stays for other runs");
  });
});

Deno.test("cgroups v2: enabled controllers are left alone, and runs share course-grader", async () => {
  await withRoot(async (root) => {
    const { fs, log } = fakeV2(root, ALL);
    Deno.writeTextFileSync(join(root, "cgroup.subtree_control"), "cpu memory pids");
    const first = openCgroups("run-1", limits, { root, fs });
    const second = openCgroups("run-2", limits, { root, fs });
    assert.deepEqual(log.slice(-3), [
      "mkdir course-grader/run-2",
      `write course-grader/run-2/memory.max ${123 << 20}`,
      "write course-grader/run-2/pids.max 45",
    ], "no memory.swap.max without swap accounting");
    assert.ok(!log.some((l) => l.startsWith("write cgroup.subtree_control")), log.join("\n"));
    await first.close();
    await second.close();
  });
});

Deno.test("cgroups v2: a root without the pids controller is refused, nothing made", async () => {
  await withRoot((root) => {
    const { fs, log } = fakeV2(root, "cpu io memory");
    assert.throws(() => openCgroups("run-1", limits, { root, fs }), /has no pids controller/);
    assert.deepEqual(log, []);
  });
});

Deno.test("cgroups v2: a root with processes in it (a container's) is refused, nothing left", async () => {
  await withRoot((root) => {
    const { fs, log } = fakeV2(root, ALL, { namespaceRoot: true });
    Deno.writeTextFileSync(join(root, "cgroup.procs"), String(Deno.pid));
    assert.throws(
      () => openCgroups("run-1", limits, { root, fs }),
      /^Error: Cannot enable memory and pids in .*cgroup\.subtree_control: processes live in it/,
    );
    assert.deepEqual(log, []);
  });
});

Deno.test("cgroups v2: a failed write removes what this run made, not what others use", async () => {
  await withRoot(async (root) => {
    const failing = ["course-grader/run-1/pids.max", "course-grader/run-3/memory.max"];
    const { fs, log } = fakeV2(root, ALL, { failing });
    assert.throws(() => openCgroups("run-1", limits, { root, fs }), /Input\/output error/);
    assert.deepEqual(log.slice(-2), ["rmdir course-grader/run-1", "rmdir course-grader"]);
    assert.deepEqual([...Deno.readDirSync(root)].filter((e) => e.isDirectory), []);
    const other = openCgroups("run-2", limits, { root, fs });
    assert.throws(() => openCgroups("run-3", limits, { root, fs }), /Input\/output error/);
    assert.deepEqual(log.slice(-1), ["rmdir course-grader/run-3"], "run-2 still uses the parent");
    await other.close();
  });
});

Deno.test("cgroups v2: close kills every process through cgroup.kill, then removes it", async () => {
  await withRoot(async (root) => {
    const { fs, log } = fakeV2(root, ALL, { kill: true });
    const cgroups = openCgroups("run-1", limits, { root, fs });
    await withSleeper(cgroups.dirs, async (child) => {
      assert.deepEqual(cgroupPids(cgroups.dirs[0], fs), [child.pid], "the process itself joined");
      await cgroups.close();
      assert.equal(await deathOf(child), "SIGKILL");
    });
    assert.deepEqual(log.slice(-2), [
      "write course-grader/run-1/cgroup.kill 1",
      "rmdir course-grader/run-1",
    ]);
  });
});

Deno.test("cgroups v2 without cgroup.kill (before 5.14): close kills each pid", async () => {
  await withRoot(async (root) => {
    const { fs, log } = fakeV2(root, ALL);
    const cgroups = openCgroups("run-1", limits, { root, fs });
    await withSleeper(cgroups.dirs, async (child) => {
      await cgroups.close();
      assert.equal(await deathOf(child), "SIGKILL");
    });
    assert.deepEqual(log.slice(-1), ["rmdir course-grader/run-1"]);
  });
});

Deno.test("cgroups: no hierarchy at the root is refused without making plain directories", async () => {
  await withRoot((root) => {
    assert.throws(() => openCgroups("run-1", limits, { root }), /no cgroup v2, nor v1 memory/);
    assert.deepEqual([...Deno.readDirSync(root)], []);
  });
});

const isRoot = Deno.uid() === 0;

Deno.test({
  name: "cgroups on this machine: a joined process is in them, killed at close, they go",
  ignore: !isRoot,
  async fn() {
    const name = `test-${Deno.pid}-cgroups`;
    const cgroups = openCgroups(name, limits);
    try {
      await withSleeper(cgroups.dirs, async (child) => {
        const membership = Deno.readTextFileSync(`/proc/${child.pid}/cgroup`);
        const expected = cgroups.version === 2 ? 1 : 2; // v1: memory and pids
        const lines = membership.split("\n").filter((l) => l.endsWith(`/course-grader/${name}`));
        assert.equal(lines.length, expected, membership);
        await cgroups.close();
        assert.equal(await deathOf(child), "SIGKILL");
      });
    } finally {
      await cgroups.close();
    }
    for (const dir of cgroups.dirs) assert.equal(kernelFs.exists(dir), false, dir);
  },
});

/** A real cgroup v2 hierarchy here: the whole tree, or the unified one of a hybrid machine. */
const v2Mount = [CGROUP_ROOT, join(CGROUP_ROOT, "unified")].find((dir) =>
  kernelFs.exists(join(dir, "cgroup.controllers"))
);

Deno.test({
  name: "cgroups v2 on this machine's kernel: cgroup.kill and rmdir empty a real cgroup",
  ignore: !isRoot || v2Mount === undefined,
  async fn() {
    const dir = join(v2Mount!, `course-grader-test-${Deno.pid}`);
    kernelFs.mkdir(dir);
    try {
      assert.ok(kernelFs.exists(join(dir, "cgroup.kill")), "kernel 5.14 or later");
      await withSleeper([dir], async (child) => {
        assert.deepEqual(cgroupPids(dir), [child.pid]);
        await removeCgroups([dir]);
        assert.equal(await deathOf(child), "SIGKILL");
      });
      assert.equal(kernelFs.exists(dir), false);
    } finally {
      if (kernelFs.exists(dir)) await removeCgroups([dir]);
    }
  },
});
