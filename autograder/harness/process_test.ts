import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cappedText, isAlive, startChild, within } from "./process.ts";
import { processGroup, processTree } from "../observe/proc.ts";

const fixture = (name: string) =>
  fileURLToPath(new URL(`../fixtures/${name}/server.ts`, import.meta.url));

async function startFixture(name: string) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = startChild(Deno.execPath(), [
    "run",
    "--allow-all",
    "--no-lock",
    fixture(name),
    "--port",
    String(port),
  ]);
  const end = Date.now() + 10_000;
  // stdout keeps its first bytes; the combined output its last (a flood pushes the line out).
  while (!cappedText(child.stdout).includes("listening")) {
    if (Date.now() > end || child.exited()) {
      await child.stop();
      throw new Error(`fixture ${name} did not start: ${cappedText(child.combined)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

Deno.test("stop sends SIGTERM and the group is gone", async () => {
  const child = await startFixture("ok");
  const report = await child.stop();
  assert.deepEqual(report, { killed: false, leftovers: [] });
  assert.deepEqual(processGroup(child.pid), []);
  assert.equal((await child.status).signal, "SIGTERM");
});

Deno.test("stop uses SIGKILL on a process that ignores SIGTERM", async () => {
  const child = await startFixture("ignores_sigterm");
  const started = Date.now();
  const report = await child.stop(300);
  assert.equal(report.killed, true);
  assert.deepEqual(report.leftovers, []);
  assert.ok(Date.now() - started < 3000);
  assert.equal((await child.status).signal, "SIGKILL");
  assert.deepEqual(processGroup(child.pid).filter(isAlive), []);
});

Deno.test("stop takes down a child that stayed in the group", async () => {
  const child = await startFixture("spawns_child");
  const tree = processTree(child.pid);
  assert.ok(tree.length >= 2, `expected a child, tree ${tree}`);
  const report = await child.stop();
  assert.deepEqual(report.leftovers, []);
  assert.deepEqual(tree.filter(isAlive), []);
  assert.deepEqual(processGroup(child.pid).filter(isAlive), []);
});

Deno.test("stop finds and kills a descendant that left the group", async () => {
  const child = await startFixture("escapes_group");
  const sleeper = processTree(child.pid).find((p) => p !== child.pid);
  assert.ok(sleeper !== undefined);
  const report = await child.stop();
  assert.deepEqual(report.leftovers, [sleeper]);
  const end = Date.now() + 2000;
  while (isAlive(sleeper) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(isAlive(sleeper), false);
});

Deno.test("a flooding child is drained, capped and stopped", async () => {
  const child = await startFixture("floods");
  await new Promise((r) => setTimeout(r, 300));
  await child.stop();
  assert.equal(child.stdout.kept, 64 * 1024);
  assert.ok(child.stdout.dropped > 64 * 1024, `dropped ${child.stdout.dropped}`);
  assert.equal(child.combined.kept, 64 * 1024);
});

Deno.test("within returns the fallback at the timeout and clears its timer", async () => {
  assert.equal(await within(new Promise(() => {}), 20, "late"), "late");
  assert.equal(await within(Promise.resolve(1), 1000, "late"), 1);
});

Deno.test("feed writes stdin and closes it", async () => {
  const child = startChild("cat", [], { stdin: "piped" });
  await child.feed(new TextEncoder().encode("hello"));
  assert.equal((await child.status).code, 0);
  await child.stop();
  assert.equal(new TextDecoder().decode(child.stdout.chunks[0]), "hello");
});
