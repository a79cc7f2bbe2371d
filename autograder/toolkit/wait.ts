/**
 * Waiting for something to become true without a fixed sleep: `ctx.eventually` polls an
 * observation until it holds or a deadline passes, and on failure returns the last thing it saw,
 * so a probe can say what it was waiting for and what it found instead.
 *
 * @module
 */

/** Options for {@link eventually}. */
export interface EventuallyOptions<T> {
  /** Give up after this long. */
  deadlineMs: number;
  /** When the observation holds; by default, when it is truthy. */
  until?: (seen: T) => boolean;
  /** Time between observations (default 25 ms). */
  everyMs?: number;
  /** Stops waiting early (the probe's deadline). */
  signal?: AbortSignal;
}

/** What {@link eventually} found: the observation that held, or the last one seen. */
export type Eventually<T> =
  | { ok: true; value: T; ms: number; tries: number }
  | { ok: false; last: T | undefined; error?: string; ms: number; tries: number };

/**
 * Observes `observe()` until `until` holds for what it returns, or `deadlineMs` passes. An
 * observation that throws counts as not holding (its message is kept as evidence).
 */
export async function eventually<T>(
  observe: () => T | Promise<T>,
  options: EventuallyOptions<T>,
): Promise<Eventually<T>> {
  const started = performance.now();
  const until = options.until ?? ((seen: T) => Boolean(seen));
  let last: T | undefined;
  let error: string | undefined;
  for (let tries = 1;; tries++) {
    try {
      last = await observe();
      error = undefined;
      if (until(last)) return { ok: true, value: last, ms: performance.now() - started, tries };
    } catch (err) {
      error = (err as Error).message;
    }
    const ms = performance.now() - started;
    if (ms >= options.deadlineMs || options.signal?.aborted) {
      return { ok: false, last, error, ms, tries };
    }
    const wait = Math.min(options.everyMs ?? 25, options.deadlineMs - ms);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
}
