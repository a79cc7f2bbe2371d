import assert from "node:assert/strict";
import { Arena } from "./arena.ts";

Deno.test("arena: blocks hold what was asked, are distinct, and are reused after free", () => {
  const arena = Arena.create(1 << 16);
  const a = arena.alloc(5);
  const b = arena.alloc(100);
  assert.notEqual(a, b);
  assert.ok(arena.capacity(a) >= 5 && arena.capacity(b) >= 100);
  arena.bytes(a, 5).set([1, 2, 3, 4, 5]);
  arena.bytes(b, 100).fill(9);
  assert.deepEqual([...arena.bytes(a, 5)], [1, 2, 3, 4, 5]);
  arena.free(a);
  assert.equal(arena.alloc(6), a, "a freed block of the same class is handed out again");
  assert.throws(() => arena.free(a + 8), TypeError);
});

Deno.test("arena: a full arena throws RangeError; another thread sees the same bytes", () => {
  const arena = Arena.create(4096);
  assert.throws(() => arena.alloc(1 << 20), RangeError);
  const h = arena.alloc(3);
  arena.bytes(h, 3).set([7, 8, 9]);
  assert.deepEqual([...Arena.from(arena.buffer).bytes(h, 3)], [7, 8, 9]);
  assert.throws(() => Arena.create(0), RangeError);
});
