import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createContext, failVerdict, freePort, seededRandom } from "./context.ts";
import { parseManifest } from "./manifest.ts";
import { stageSubmission } from "./submission.ts";

const programs = fileURLToPath(new URL("./fixtures/programs", import.meta.url));
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
