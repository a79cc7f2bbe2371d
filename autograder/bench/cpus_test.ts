import assert from "node:assert/strict";
import { allowedCpus, cpuList, onCpus, parseCpuList, splitCpus } from "./cpus.ts";

Deno.test("CPU lists: the kernel's form, both ways", () => {
  assert.deepEqual(parseCpuList("0-1,4,6-7\n"), [0, 1, 4, 6, 7]);
  assert.deepEqual(parseCpuList("3"), [3]);
  assert.throws(() => parseCpuList("2-1"), SyntaxError);
  assert.equal(cpuList([7, 0, 1, 4, 6]), "0-1,4,6-7");
  assert.equal(cpuList([1]), "1");
});

Deno.test("pinning: generator on the first half, servers on the rest; none on one CPU", () => {
  assert.deepEqual(splitCpus([0, 1]), { generator: [0], server: [1] });
  assert.deepEqual(splitCpus([0, 1, 2, 3]), { generator: [0, 1], server: [2, 3] });
  assert.deepEqual(splitCpus([2, 5, 7]), { generator: [2], server: [5, 7] });
  assert.equal(splitCpus([0]), null);
  assert.deepEqual(onCpus(["memcached", "-t", "1"], [1]), [
    "taskset",
    "-c",
    "1",
    "memcached",
    "-t",
    "1",
  ]);
  assert.deepEqual(onCpus(["memcached"], null), ["memcached"]);
  assert.ok(allowedCpus().length >= 1);
  assert.deepEqual(allowedCpus(-1), []);
});
