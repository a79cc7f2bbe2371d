/**
 * Hidden probes for 05-async (Gradescope visibility "after_due_date"): requirements of the handout
 * that the visible probes do not exercise the same way. The student release leaves this file out;
 * the Gradescope package and `grade-all` run it.
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import type { Probe } from "../../kit.ts";
import { startRealBackend } from "./_backends.ts";
import { jsonOf, request, showAnswer } from "./_http.ts";
import { keyFor, kv, startApp } from "./probes.ts";

/** The most keys a batch may ask for (README.md §2). */
const MAX_BATCH = 100;

const batchLimits: Probe = {
  name: "batch-limits",
  title: `A batch of exactly ${MAX_BATCH} keys (UTF-8, stored and missing) is answered in order; ${
    MAX_BATCH + 1
  } keys, an empty key or a 251-byte key is a 400`,
  points: 2,
  visibility: "after_due_date",
  deadlineMs: 40_000,
  hint: "README.md §2 The API",
  needs: "endpoints",
  async run(ctx) {
    await using db = await startRealBackend();
    const server = await startApp(ctx, db.port);
    const keys = Array.from({ length: MAX_BATCH }, (_, i) => keyFor(ctx, `é${i}`));
    const stored = new Map<string, Uint8Array>();
    const wrong: string[] = [];
    for (const [i, key] of keys.entries()) {
      if (i % 3 !== 0) continue; // every third key is stored, the rest are missing
      const value = ctx.bytes(1 + (i % 7) * 100);
      const put = await request(ctx, server.port, "PUT", kv(key), { body: value, ms: 5_000 });
      if (put.status !== 200) wrong.push(`PUT ${kv(key)}: ${showAnswer(put)}, expected 200`);
      stored.set(key, value);
    }
    const order = [...keys].reverse(); // not the order they were stored in
    const path = (ks: string[]) => `/kv?keys=${ks.map(encodeURIComponent).join(",")}`;
    const want = {
      values: order.map((key) => ({ key, value: stored.get(key)?.toBase64() ?? null })),
    };
    const full = await request(ctx, server.port, "GET", path(order), { ms: 10_000 });
    if (full.status !== 200 || !isDeepStrictEqual(jsonOf(full), want)) {
      wrong.push(
        `a batch of ${MAX_BATCH} keys (${stored.size} stored): expected 200 and every value in the order asked, got ${
          showAnswer(full)
        }`,
      );
    }
    const bad: [string, string][] = [
      [`${MAX_BATCH + 1} keys`, path([...keys, keyFor(ctx, "one-more")])],
      ["an empty key between two", path([keys[0], "", keys[1]])],
      ["a key of 251 bytes", path([keys[0], "k".repeat(251)])],
    ];
    for (const [what, p] of bad) {
      const got = await request(ctx, server.port, "GET", p, { ms: 5_000 });
      const body = jsonOf(got) as { error?: unknown } | undefined;
      if (got.status !== 400 || typeof body?.error !== "string") {
        wrong.push(`a batch with ${what}: expected 400 {"error":"..."}, got ${showAnswer(got)}`);
      }
    }
    if (wrong.length > 0) {
      return ctx.fail({
        what: `batches at and past the limits of README.md §2 (${wrong.length} went wrong)`,
        expected: `1 to ${MAX_BATCH} keys of 1 to 250 bytes each: 200 in the order asked; else 400`,
        got: wrong.join("\n"),
      });
    }
    return ctx.pass(`${MAX_BATCH} keys answered in order; 3 bad batches refused with 400`);
  },
};

/** The hidden 05-async probes, run after the visible ones. */
export const probes: Probe[] = [batchLimits];
