import assert from "node:assert/strict";
import { findCycles } from "./lock_order.ts";

Deno.test("lock order: a pair taken both ways is a cycle; a consistent order is not", () => {
  assert.deepEqual(findCycles([{ first: 1, then: 2 }, { first: 2, then: 1 }]), [[1, 2, 1]]);
  assert.deepEqual(
    findCycles([{ first: 1, then: 2 }, { first: 2, then: 3 }, { first: 1, then: 3 }]),
    [],
  );
});

Deno.test("lock order: a longer cycle through three locks is found once", () => {
  const edges = [{ first: 1, then: 2 }, { first: 2, then: 3 }, { first: 3, then: 1 }];
  assert.deepEqual(findCycles(edges), [[1, 2, 3, 1]]);
});
