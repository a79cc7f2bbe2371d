import assert from "node:assert/strict";
import { setShortCountSeed, shortenLength } from "./_private.ts";
import { enc } from "./_testing.ts";
import { close, pipe, read, write } from "./socket.ts";

Deno.test("shortenLength: full length about half the time, else 1..len", () => {
  setShortCountSeed(42);
  try {
    const lengths = Array.from({ length: 1000 }, () => shortenLength(100));
    const full = lengths.filter((n) => n === 100).length;
    assert.ok(full > 400 && full < 600, `full ${full} times of 1000`);
    assert.ok(lengths.every((n) => n >= 1 && n <= 100));
    assert.ok(new Set(lengths).size > 50);
    assert.equal(shortenLength(1), 1);
    assert.equal(shortenLength(0), 0);
  } finally {
    setShortCountSeed(null);
  }
  assert.equal(shortenLength(100), 100);
});

Deno.test("the same seed gives the same short counts", () => {
  const run = (seed: number) => {
    setShortCountSeed(seed);
    try {
      return Array.from({ length: 20 }, () => shortenLength(1000));
    } finally {
      setShortCountSeed(null);
    }
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
});

Deno.test("injection shortens real reads and writes", () => {
  const [r, w] = pipe();
  setShortCountSeed(3);
  try {
    const data = enc("x".repeat(1000));
    const written = Array.from({ length: 10 }, () => write(w, data));
    assert.ok(written.some((n) => n < 1000), `writes: ${written}`);
    const buf = new Uint8Array(1000);
    const got = Array.from({ length: 5 }, () => read(r, buf));
    assert.ok(got.some((n) => n < 1000), `reads: ${got}`);
  } finally {
    setShortCountSeed(null);
    close(r);
    close(w);
  }
});

Deno.test("COURSE_SHORT_COUNTS in the environment turns injection on", async () => {
  const script = `
    import { pipe, write } from ${JSON.stringify(new URL("./socket.ts", import.meta.url).href)};
    const [, w] = pipe();
    const counts = Array.from({ length: 10 }, () => write(w, new Uint8Array(1000)));
    console.log(JSON.stringify(counts));
  `;
  const run = async (env: Record<string, string>) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      env,
      clearEnv: true,
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return JSON.parse(new TextDecoder().decode(stdout)) as number[];
  };
  const [shortened, again, plain] = await Promise.all([
    run({ COURSE_SHORT_COUNTS: "9" }),
    run({ COURSE_SHORT_COUNTS: "9" }),
    run({}),
  ]);
  assert.ok(shortened.some((n) => n < 1000), `writes: ${shortened}`);
  assert.deepEqual(again, shortened, "deterministic for a seed");
  assert.ok(plain.every((n) => n === 1000));
});
