import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createContext, failVerdict, freePort, seededRandom } from "./context.ts";
import { parseManifest } from "./manifest.ts";
import { capabilities, processTree } from "../observe/proc.ts";
import { delay, isAlive, within } from "./process.ts";
import { openSandbox } from "../sandbox/sandbox.ts";
import { stageSubmission } from "./submission.ts";

const programs = fileURLToPath(new URL("../fixtures/programs", import.meta.url));
const manifest = parseManifest({
  name: "programs",
  title: "Programs",
  handout: "README.md",
  files: ["client.ts", "hang.ts"],
  entries: { client: { file: "client.ts", args: ["--exit"] }, hang: { file: "hang.ts" } },
});

async function withContext(f: (ctx: ReturnType<typeof createContext>) => Promise<void>) {
  const submission = await stageSubmission(manifest, programs);
  const controller = new AbortController();
  const h = createContext({ signal: controller.signal, seed: 1, probeSeed: 2, submission });
  try {
    await f(h);
  } finally {
    await h.cleanup();
    await submission.remove();
  }
}

Deno.test("runProgram feeds stdin and captures stdout, stderr and the exit code", async () => {
  await withContext(async ({ context }) => {
    const stdin = new TextEncoder().encode("hello\n");
    const r = await context.runProgram("client", ["4"], { stdin });
    assert.equal(new TextDecoder().decode(r.stdout), "HELLO\n");
    const big = await context.runProgram("client", ["0"], { stdin: new Uint8Array(1 << 20) });
    assert.equal(big.stdout.length, 1 << 20);
    assert.equal(r.stderr, "done\n");
    assert.equal(r.code, 4);
    assert.equal(r.timedOut, false);
  });
});

Deno.test("runProgram kills a program at its timeout", async () => {
  await withContext(async ({ context }) => {
    const stdin = new Uint8Array(4 * 1024 * 1024); // more than a pipe holds; hang never reads it
    const r = await context.runProgram("hang", [], { timeoutMs: 500, stdin });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  });
});

Deno.test("seededRandom is deterministic and in [0, 1)", () => {
  const a = seededRandom(42), b = seededRandom(42);
  const xs = Array.from({ length: 100 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs.slice(0, 3), [seededRandom(43)(), 0, 0]);
});

Deno.test("freePort returns a port that can be bound", async () => {
  const port = await freePort();
  using l = Deno.listen({ hostname: "127.0.0.1", port });
  assert.equal((l.addr as Deno.NetAddr).port, port);
});

Deno.test("failVerdict shows sent, expected, got and the first difference", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const v = failVerdict({
    what: "echo",
    sent: "a\r\n",
    expected: bytes("a\r\n"),
    got: bytes("a\n"),
    note: "n",
  });
  assert.equal(v.passed, false);
  assert.equal(
    v.message,
    [
      "echo",
      'sent:     "a\\r\\n"',
      'expected: "a\\r\\n" (3 bytes)',
      'got:      "a\\n" (2 bytes)',
      "first difference at byte 1",
      "n",
    ].join("\n"),
  );
  const big = "x".repeat(5000);
  const far = failVerdict({ what: "big", expected: bytes(big + "A"), got: bytes(big + "B") });
  assert.match(far.message, /expected: \[offset 5000 of 5001\] …x+\|A\n/);
  const described = failVerdict({ what: "run", expected: "exit 0", got: "exit 1", output: "a\nb" });
  assert.equal(
    described.message,
    ["run", 'expected: "exit 0"', 'got:      "exit 1"', "its output:", "  | a", "  | b"].join("\n"),
  );
});

/** CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2): root reads a mode-000 file with either. */
const FILE_OVERRIDES = (1n << 1n) | (1n << 2n);

function haveSetpriv(): boolean {
  try {
    return new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Stages a server that starts a child (sleep 60) and then listens on --port. */
async function stageParent() {
  const source = await Deno.makeTempDir({ prefix: "context-parent-" });
  // The child first: once the port answers, both exist.
  await Deno.writeTextFile(
    `${source}/server.ts`,
    `new Deno.Command("sleep", { args: ["60"] }).spawn();
const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
Deno.listen({ hostname: "127.0.0.1", port });
`,
  );
  const submission = await stageSubmission(
    parseManifest({
      name: "parent",
      title: "A parent",
      handout: "README.md",
      files: ["server.ts"],
      entries: { server: { file: "server.ts", args: ["--port", "{port}"] } },
    }),
    source,
  );
  return Object.assign(submission, {
    [Symbol.asyncDispose]: async () => {
      await submission.remove();
      await Deno.remove(source, { recursive: true });
    },
  });
}

/** `pid` and its descendants, once there are `n` of them (up to 5 s). */
async function treeOf(pid: number, n: number): Promise<number[]> {
  let tree = processTree(pid);
  for (const end = Date.now() + 5_000; tree.length < n && Date.now() < end; await delay(20)) {
    tree = processTree(pid);
  }
  assert.equal(tree.length, n, `the tree of ${pid}: ${tree}`);
  return tree;
}

Deno.test({
  name: "startServer with dropCapabilities: neither the server nor a child it starts has root's",
  ignore: Deno.uid() === 0 && !haveSetpriv(),
  async fn() {
    await using submission = await stageParent();
    const signal = new AbortController().signal;
    const h = createContext({ signal, seed: 1, probeSeed: 2, submission });
    try {
      for (const dropCapabilities of [false, true]) {
        const server = await h.context.startServer({ dropCapabilities });
        // The handle's pid is the server itself (setpriv execs it), not a wrapper.
        const exe = Deno.realPathSync(`/proc/${server.pid}/exe`);
        assert.equal(exe, Deno.realPathSync(Deno.execPath()));
        for (const pid of await treeOf(server.pid, 2)) {
          const caps = capabilities(pid);
          assert.ok(caps !== null, `process ${pid} ended before it was looked at`);
          if (dropCapabilities) {
            assert.equal(caps.effective & FILE_OVERRIDES, 0n, `CapEff of ${pid}`);
            if (Deno.uid() === 0) assert.equal(caps.bounding, 0n, `CapBnd of ${pid}`);
          } else if (Deno.uid() === 0 && pid === server.pid) {
            // Proof that the option is what takes them: without it root's server has them.
            assert.equal(caps.effective & FILE_OVERRIDES, FILE_OVERRIDES, `CapEff of ${pid}`);
          }
        }
        await server.stop();
      }
    } finally {
      await h.cleanup();
    }
  },
});

function haveBubblewrap(): boolean {
  try {
    const args = ["--ro-bind", "/", "/", "--unshare-pid", "true"];
    return new Deno.Command("bwrap", { args, stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "startServer with keepLeftovers: in the sandbox, a child the server leaves outlives it",
  ignore: !haveBubblewrap(),
  async fn() {
    await using submission = await stageParent();
    const box = openSandbox(`context-test-${Deno.pid}`);
    const signal = new AbortController().signal;
    const jail = { box, visible: [] };
    const h = createContext({ signal, seed: 1, probeSeed: 2, submission, jail });
    try {
      for (const keepLeftovers of [false, true]) {
        const server = await h.context.startServer({ keepLeftovers });
        const [child] = (await treeOf(server.pid, 2)).filter((p) => p !== server.pid);
        Deno.kill(server.pid, "SIGTERM"); // it has no handler: it dies, its child runs on
        for (const end = Date.now() + 5_000; isAlive(server.pid) && Date.now() < end;) {
          await delay(20);
        }
        assert.ok(!isAlive(server.pid), "the server died of SIGTERM");
        if (!keepLeftovers) {
          // The sandbox ends with the server, and its end kills the child.
          const ended = await within(server.status, 5_000, null);
          assert.ok(ended !== null, "the sandbox ended with the server");
          for (const end = Date.now() + 5_000; isAlive(child) && Date.now() < end;) {
            await delay(20);
          }
          assert.ok(!isAlive(child), `child ${child} died with the sandbox`);
          continue;
        }
        // Nothing may happen here; the ending above takes a few milliseconds.
        assert.equal(await within(server.status, 500, null), null, "the sandbox stays up");
        assert.ok(isAlive(child), `child ${child} outlives the server`);
        Deno.kill(child, "SIGKILL");
        const status = await within(server.status, 5_000, null);
        assert.equal(status?.code, 128 + 15, "then the sandbox ends, with the server's status");
      }
    } finally {
      await h.cleanup();
      await box.close();
    }
  },
});
