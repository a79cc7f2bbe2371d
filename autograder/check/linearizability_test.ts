import assert from "node:assert/strict";
import { checkOperations, type Model } from "./linearizability.ts";
import {
  type KvInput,
  kvModel,
  type KvOperation,
  type KvOutput,
} from "../kits/_weensydb/kv_model.ts";
import { randomKvHistory } from "../kits/_weensydb/kv_model_random.ts";
import { renderTimeline } from "./timeline.ts";

/** `op(client, [call, return], input, output)`, to keep histories one line per operation. */
function op(client: number, [call, ret]: number[], input: KvInput, output: KvOutput): KvOperation {
  return { client, input, call, output, return: ret };
}
const set = (key: string, value: string): KvInput => ({ op: "set", key, value });
const get = (key: string): KvInput => ({ op: "get", key });
const exch = (key: string, key2: string): KvInput => ({ op: "exch", key, key2 });
const value = (v: string | null): KvOutput => ({ kind: "value", value: v });
const STORED: KvOutput = { kind: "stored" };
const UNKNOWN: KvOutput = { kind: "unknown" };
const EXCHANGED: KvOutput = { kind: "exchanged" };

function verdict(history: KvOperation[]): string {
  return checkOperations(kvModel, history).verdict;
}

Deno.test("a read concurrent with a write may see either value", () => {
  assert.equal(
    verdict([op(1, [0, 10], set("x", "1"), STORED), op(2, [5, 15], get("x"), value("1"))]),
    "ok",
  );
  assert.equal(
    verdict([op(1, [0, 10], set("x", "1"), STORED), op(2, [5, 15], get("x"), value(null))]),
    "ok",
  );
});

Deno.test("a read after a completed write must see it", () => {
  const h = [op(1, [0, 1], set("x", "1"), STORED), op(2, [2, 3], get("x"), value(null))];
  const result = checkOperations(kvModel, h);
  assert.equal(result.verdict, "illegal");
  assert.equal(result.partial?.minimal.length, 2);
});

Deno.test("a stale read after two completed writes is illegal, and all three are shown", () => {
  const h = [
    op(1, [0, 1], set("x", "1"), STORED),
    op(1, [2, 3], set("x", "2"), STORED),
    op(2, [4, 5], get("x"), value("1")),
  ];
  const result = checkOperations(kvModel, h);
  assert.equal(result.verdict, "illegal");
  assert.deepEqual(result.partial?.minimal, h);
  assert.match(result.partial!.text, /state then: x="2"\), and it cannot go on with GET x -> "1"/);
});

Deno.test("overlapping writes are fine in one order only", () => {
  const writes = [op(1, [0, 10], set("x", "1"), STORED), op(2, [1, 10], set("x", "2"), STORED)];
  const oneOrder = [op(3, [5, 6], get("x"), value("1")), op(3, [11, 12], get("x"), value("2"))];
  assert.equal(verdict([...writes, ...oneOrder]), "ok");
  const noOrder = [op(3, [11, 12], get("x"), value("2")), op(4, [13, 14], get("x"), value("1"))];
  assert.equal(verdict([...writes, ...noOrder]), "illegal");
});

Deno.test("exch swaps two keys: the multiset of values must be preserved", () => {
  const setup = [op(1, [0, 1], set("a", "1"), STORED), op(1, [2, 3], set("b", "2"), STORED)];
  const swap = op(2, [4, 5], exch("a", "b"), EXCHANGED);
  const kept = [op(3, [6, 7], get("a"), value("2")), op(3, [8, 9], get("b"), value("1"))];
  assert.equal(verdict([...setup, swap, ...kept]), "ok");
  const broken = [op(3, [6, 7], get("a"), value("2")), op(3, [8, 9], get("b"), value("2"))];
  assert.equal(verdict([...setup, swap, ...broken]), "illegal");
  const missing = op(2, [4, 5], exch("a", "c"), EXCHANGED);
  assert.equal(verdict([...setup, missing]), "illegal");
});

Deno.test("a request with no reply may or may not have taken effect, but not both", () => {
  // Recorded with a finite return: kvModel's partition treats it as never returned.
  const lost = op(1, [0, 1], set("x", "1"), UNKNOWN);
  assert.equal(verdict([lost, op(2, [5, 6], get("x"), value(null))]), "ok");
  assert.equal(verdict([lost, op(2, [5, 6], get("x"), value("1"))]), "ok");
  const late = [op(2, [5, 6], get("x"), value(null)), op(2, [7, 8], get("x"), value("1"))];
  assert.equal(verdict([lost, ...late]), "ok");
  const undone = [op(2, [5, 6], get("x"), value("1")), op(2, [7, 8], get("x"), value(null))];
  assert.equal(verdict([lost, ...undone]), "illegal");
});

Deno.test("partition: keys joined by exch form one part; the smallest failing part is shown", () => {
  const h = [
    op(1, [0, 1], set("a", "1"), STORED),
    op(1, [2, 3], set("b", "2"), STORED),
    op(1, [4, 5], exch("a", "b"), EXCHANGED),
    op(2, [0, 1], set("c", "1"), STORED),
    op(1, [6, 7], get("a"), value("9")),
    op(2, [2, 3], get("c"), value("8")),
  ];
  const parts = kvModel.partition!(h);
  assert.deepEqual(parts.map((p) => p.length), [4, 2]);
  const result = checkOperations(kvModel, h);
  assert.equal(result.verdict, "illegal");
  assert.deepEqual(result.partial?.part, parts[1]);
  assert.deepEqual(result.partial?.minimal, [h[5]]);
});

Deno.test("a search past its time budget answers unknown", () => {
  // 40 concurrent writes and a read of a value none wrote: 2^40 orders to rule out.
  const h = Array.from({ length: 40 }, (_, i) => op(i, [0, 10], set("x", `${i}`), STORED));
  h.push(op(99, [11, 12], get("x"), value("never")));
  const start = performance.now();
  assert.equal(checkOperations(kvModel, h, { timeoutMs: 20 }).verdict, "unknown");
  assert.ok(performance.now() - start < 1000);
});

Deno.test("random linearizable histories pass", () => {
  for (const seed of [1, 2, 3]) {
    assert.equal(verdict(randomKvHistory({ ops: 300, seed })), "ok");
  }
});

Deno.test("the witness of a corrupted random history is small and still illegal", () => {
  const h = randomKvHistory({ ops: 200, seed: 3 });
  const victim = h.findIndex((o, i) => i > 100 && o.input.op === "get");
  h[victim] = { ...h[victim], output: value("zzz") };
  const result = checkOperations(kvModel, h);
  assert.equal(result.verdict, "illegal");
  const minimal = result.partial!.minimal;
  assert.ok(minimal.length < result.partial!.part.length);
  assert.equal(verdict(minimal), "illegal");
  assert.deepEqual(minimal, [h[victim]]);
});

Deno.test("a history whose times are out of order is refused", () => {
  assert.throws(() => verdict([op(1, [5, 4], get("x"), value(null))]), RangeError);
});

Deno.test("a model without partition or describe still works", () => {
  const counter: Model<number, "inc" | "read", number> = {
    init: () => 0,
    step: (n, input, out) => input === "inc" ? [true, n + 1] : [out === n, n],
  };
  const ok = [{ client: 1, input: "inc" as const, call: 0, output: 0, return: 1 }];
  assert.equal(checkOperations(counter, ok).verdict, "ok");
  const bad = [...ok, { client: 2, input: "read" as const, call: 2, output: 0, return: 3 }];
  assert.match(checkOperations(counter, bad).partial!.text, /"read" -> 0/);
});

Deno.test("renderTimeline draws one row per client, in call/return order", () => {
  const h = [
    op(1, [0, 1.5], set("x", "1"), STORED),
    op(2, [0.8, 2.1], get("x"), value("2")),
    op(1, [2.5, Infinity], set("x", "3"), UNKNOWN),
  ];
  assert.equal(
    renderTimeline(h, kvModel.describe!, { title: 'key "x"' }),
    [
      'key "x"   (times in ms from the first call)',
      "client 1  |--SET x=1 -> STORED--|   |--SET x=3 -> (no reply)-->",
      'client 2    |--GET x -> "2"-------|',
      "          0.00                  1.50",
    ].join("\n"),
  );
});

Deno.test("renderTimeline stays within its width", () => {
  const text = checkOperations(
    kvModel,
    randomKvHistory({ ops: 60 }).concat(
      op(9, [100, 101], get("k0"), value("zzz")),
    ),
  ).partial!.text;
  const h = randomKvHistory({ ops: 40 });
  const wide = renderTimeline(h, kvModel.describe!, { width: 60 });
  for (const line of [...text.split("\n"), ...wide.split("\n")]) {
    assert.ok(line.length <= 100, line);
  }
  for (const line of wide.split("\n")) assert.ok(line.length <= 60, line);
});
