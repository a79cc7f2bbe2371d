import assert from "node:assert/strict";
import {
  bucketOf,
  bucketRange,
  fromJson,
  histogram,
  MAX_VALUE_US,
  mean,
  merge,
  percentile,
  record,
  toJson,
} from "./histogram.ts";

Deno.test("buckets are contiguous and every value lies in its own bucket's range", () => {
  let previous = -1;
  for (let v = 0; v < 1 << 20; v += 1 + (v >> 9)) {
    const i = bucketOf(v);
    const [lo, hi] = bucketRange(i);
    assert.ok(lo <= v && v <= hi, `${v} not in bucket ${i} [${lo}, ${hi}]`);
    assert.ok(i === previous || i === previous + 1 || previous === -1 || i > previous);
    previous = i;
  }
  for (let i = 1; i < bucketOf(MAX_VALUE_US); i++) {
    assert.equal(bucketRange(i)[0], bucketRange(i - 1)[1] + 1, `gap before bucket ${i}`);
  }
});

Deno.test("a bucket is never wider than 1/64 of its values", () => {
  for (const v of [127, 128, 1000, 65_537, 10_000_000, MAX_VALUE_US]) {
    const [lo, hi] = bucketRange(bucketOf(v));
    assert.ok(hi - lo + 1 <= Math.max(1, lo / 64), `bucket of ${v}: [${lo}, ${hi}]`);
  }
});

Deno.test("percentiles of 1..10000 are within 1.6% and exact at the ends", () => {
  const h = histogram();
  for (let v = 1; v <= 10_000; v++) record(h, v);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const got = percentile(h, q);
    assert.ok(Math.abs(got - q * 10_000) <= q * 10_000 / 64 + 1, `p${q * 100}: ${got}`);
  }
  assert.equal(percentile(h, 0), 1);
  assert.equal(percentile(h, 1), 10_000);
  assert.equal(mean(h), 5000.5);
});

Deno.test("merge equals recording everything in one histogram", () => {
  const a = histogram(), b = histogram(), both = histogram();
  for (let v = 0; v < 5000; v += 7) record(v % 2 ? a : b, v * 13), record(both, v * 13);
  merge(a, b);
  assert.deepEqual(toJson(a), toJson(both));
  assert.equal(percentile(a, 0.99), percentile(both, 0.99));
});

Deno.test("JSON round trip, clamping, and an empty histogram", () => {
  const h = histogram();
  record(h, -5);
  record(h, 2 * MAX_VALUE_US, 3);
  const back = fromJson(JSON.parse(JSON.stringify(toJson(h))));
  assert.deepEqual(toJson(back), toJson(h));
  assert.equal(back.min, 0);
  assert.equal(back.max, MAX_VALUE_US);
  assert.ok(Number.isNaN(percentile(histogram(), 0.5)));
  assert.throws(
    () => fromJson({ buckets: [[1e9, 1]], total: 1, sum: 0, min: 0, max: 0 }),
    RangeError,
  );
});
