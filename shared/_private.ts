// Short-count injection. The kernel may move fewer bytes than asked on any read or write; this
// makes that happen on purpose, reproducibly, so code that forgets to loop fails every time
// under the grader instead of once a month in production.

let next: (() => number) | null = null;

/** mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Turn injection on with `seed`, or off with `null`. Tests use this; programs use the env var. */
export function setShortCountSeed(seed: number | null): void {
  next = seed === null ? null : mulberry32(seed);
}

/** The seed in `COURSE_SHORT_COUNTS`, or null when unset, not an integer, or not readable. */
function seedFromEnv(): number | null {
  try {
    const raw = Deno.env.get("COURSE_SHORT_COUNTS");
    if (raw === undefined || !/^-?\d+$/.test(raw.trim())) return null;
    return Number(raw.trim());
  } catch {
    return null; // no --allow-env: behave as if unset
  }
}

/**
 * The length to pass to the kernel for a request of `len` bytes: `len` itself when injection
 * is off; otherwise `len` with probability 1/2, else a uniform choice in 1..len.
 */
export function shortenLength(len: number): number {
  if (next === null || len <= 1) return len;
  if (next() < 0.5) return len;
  return 1 + Math.floor(next() * len);
}

setShortCountSeed(seedFromEnv());
