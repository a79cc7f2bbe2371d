/**
 * A latency histogram in the style of HdrHistogram: log-linear buckets whose width grows with the
 * value, so that every recorded value is kept to within 1/64 (about 1.6%) of itself from 1 µs to
 * minutes, in about 1,400 counters. Histograms of several connections or processes merge by adding
 * counters, which averaging percentiles could never do.
 *
 * Values are whole microseconds; a value below 0 is recorded as 0, one above {@link MAX_VALUE_US}
 * as {@link MAX_VALUE_US}.
 *
 * @example
 * ```ts
 * import { histogram, percentile, record } from "./histogram.ts";
 * const h = histogram();
 * for (let v = 1; v <= 100; v++) record(h, v);
 * console.log(percentile(h, 0.5)); // 50
 * ```
 *
 * @module
 */

/** Sub-bucket bits: values below 2^7 are exact, above they share a bucket with 1/64 of their size. */
const SUB_BITS = 7;
const HALF = 1 << (SUB_BITS - 1);

/** The largest value recorded as itself: one hour in microseconds. */
export const MAX_VALUE_US = 3_600_000_000;

/** Counts of values per bucket, and the exact count, sum, minimum and maximum. */
export interface Histogram {
  counts: Float64Array;
  total: number;
  sum: number;
  min: number;
  max: number;
}

/** A histogram as plain JSON: only the non-empty buckets, as `[index, count]` pairs. */
export interface HistogramJson {
  buckets: [number, number][];
  total: number;
  sum: number;
  min: number;
  max: number;
}

/** Returns the bucket of value `v` (a whole number from 0 to MAX_VALUE_US). */
export function bucketOf(v: number): number {
  if (v < 2 * HALF) return v;
  const shift = 32 - Math.clz32(v) - SUB_BITS; // v >> shift has exactly SUB_BITS bits
  return shift * HALF + (v >>> shift);
}

/** Returns the smallest and largest value that fall in bucket `i`. */
export function bucketRange(i: number): [number, number] {
  if (i < 2 * HALF) return [i, i];
  const shift = Math.floor(i / HALF) - 1;
  const m = i - shift * HALF;
  return [m * 2 ** shift, (m + 1) * 2 ** shift - 1];
}

const BUCKETS = bucketOf(MAX_VALUE_US) + 1;

/** Creates an empty histogram. */
export function histogram(): Histogram {
  return { counts: new Float64Array(BUCKETS), total: 0, sum: 0, min: Infinity, max: 0 };
}

/** Records one value of `us` microseconds, `count` times. */
export function record(h: Histogram, us: number, count = 1): void {
  const v = Math.min(MAX_VALUE_US, Math.max(0, Math.round(us)));
  h.counts[bucketOf(v)] += count;
  h.total += count;
  h.sum += v * count;
  if (v < h.min) h.min = v;
  if (v > h.max) h.max = v;
}

/** Adds every value of `from` into `into`. */
export function merge(into: Histogram, from: Histogram): void {
  for (let i = 0; i < from.counts.length; i++) into.counts[i] += from.counts[i];
  into.total += from.total;
  into.sum += from.sum;
  into.min = Math.min(into.min, from.min);
  into.max = Math.max(into.max, from.max);
}

/**
 * Returns the value at quantile `q` (0 to 1): the largest value of the bucket that holds the
 * q-th value, capped by the exact maximum (HdrHistogram's "highest equivalent value"). An empty
 * histogram gives NaN.
 */
export function percentile(h: Histogram, q: number): number {
  if (h.total === 0) return NaN;
  if (q <= 0) return h.min;
  const rank = Math.ceil(q * h.total);
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= rank) return Math.min(h.max, Math.max(h.min, bucketRange(i)[1]));
  }
  return h.max;
}

/** Returns the mean of the recorded values, or NaN when there are none. */
export function mean(h: Histogram): number {
  return h.total === 0 ? NaN : h.sum / h.total;
}

/** Converts `h` to plain JSON (for a generator process to hand its histogram to the bench). */
export function toJson(h: Histogram): HistogramJson {
  const buckets: [number, number][] = [];
  h.counts.forEach((c, i) => c > 0 && buckets.push([i, c]));
  return { buckets, total: h.total, sum: h.sum, min: h.min, max: h.max };
}

/** Rebuilds a histogram from {@link toJson}'s output; throws RangeError on a bad bucket. */
export function fromJson(j: HistogramJson): Histogram {
  const h = histogram();
  for (const [i, c] of j.buckets) {
    if (!Number.isInteger(i) || i < 0 || i >= BUCKETS) {
      throw new RangeError(`Cannot read histogram: bucket ${i} out of range`);
    }
    h.counts[i] = c;
  }
  Object.assign(h, { total: j.total, sum: j.sum, min: j.min ?? Infinity, max: j.max });
  return h;
}
