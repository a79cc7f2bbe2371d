import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { disguise } from "./_disguise.ts";
import { fingerprintSource, K, kgramHashes, tokenize, W, winnow } from "./fingerprint.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => Deno.readTextFileSync(ROOT + path);
const codes = (source: string) => tokenize(source).map((t) => t.code);
const hashes = (source: string) => fingerprintSource(source).prints.map((p) => p.hash);
const S = ts.SyntaxKind;

Deno.test("tokenize: comments and whitespace are skipped, identifiers are one kind", () => {
  const a = codes("const total = add(a, b); // sum\n/* block */ export { total };");
  const b = codes("const   x=f(\n  y,z,\n)\nexport{x,}");
  assert.deepEqual(a, b);
  assert.deepEqual(a.slice(0, 3), [S.ConstKeyword, S.Identifier, S.EqualsToken]);
});

Deno.test("tokenize: literals are one kind per type; keywords after a dot are identifiers", () => {
  assert.deepEqual(codes(`f("a", 'b', \`c\`)`), codes(`g('x', "y", "z")`));
  assert.notDeepEqual(codes(`f(1)`), codes(`f("1")`));
  assert.deepEqual(codes(`m.get(k); m?.delete(k)`), codes(`m.fetch(k); m?.drop(k)`));
  assert.deepEqual(codes("#count = 1n"), codes("value = 2n"));
});

Deno.test("tokenize: a regular expression and a template are whole tokens, lines are kept", () => {
  const tokens = tokenize(
    "const r = /a\\/b}{/g;\nconst q = a / b / c;\nconst t = `x${ {k: 1}.k }y\nz`;",
  );
  const count = (kind: ts.SyntaxKind) => tokens.filter((t) => t.code === kind).length;
  assert.equal(count(S.RegularExpressionLiteral), 1);
  assert.equal(count(S.SlashToken), 2);
  assert.deepEqual([count(S.TemplateHead), count(S.TemplateTail)], [1, 1]);
  const tail = tokens.find((t) => t.code === S.TemplateTail)!;
  assert.deepEqual([tail.line, tail.endLine], [3, 4]);
});

Deno.test("kgramHashes: the rolling hash equals the hash of each k-gram on its own", () => {
  const tokens = tokenize(read("solutions/01-echo/server.ts"));
  const rolled = kgramHashes(tokens, 7);
  assert.equal(rolled.length, tokens.length - 6);
  for (const i of [0, 1, 50, rolled.length - 1]) {
    assert.equal(rolled[i], kgramHashes(tokens.slice(i, i + 7), 7)[0]);
  }
  assert.deepEqual(kgramHashes(tokens.slice(0, 6), 7), []);
});

/** A deterministic pseudo-random generator (xorshift32), so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
}

Deno.test("winnow: a shared run of w + k - 1 tokens always shares a fingerprint", () => {
  const next = random(42);
  const k = 5, w = 4;
  const token = () => ({ code: next() % 50, line: 1, endLine: 1 });
  for (let trial = 0; trial < 200; trial++) {
    const shared = Array.from({ length: w + k - 1 }, token);
    const a = [...Array.from({ length: next() % 30 }, token), ...shared];
    const b = [...shared, ...Array.from({ length: next() % 30 }, token)];
    const inA = new Set(winnow(kgramHashes(a, k), w).map((p) => p.hash));
    assert.ok(winnow(kgramHashes(b, k), w).some((p) => inA.has(p.hash)), `trial ${trial}`);
  }
});

Deno.test("winnow: keeps about 2/(w+1) of the hashes, positions in order, short lists keep one", () => {
  const next = random(7);
  const values = Array.from({ length: 20_000 }, next);
  const prints = winnow(values, 9);
  const density = prints.length / values.length;
  assert.ok(density > 0.17 && density < 0.23, `density ${density}, expected about 0.2`);
  assert.ok(prints.every((p, i) => i === 0 || p.start > prints[i - 1].start));
  assert.deepEqual(winnow([5, 3, 4], 9), [{ hash: 3, start: 1 }]);
  assert.deepEqual(winnow([], 9), []);
});

Deno.test("fingerprints: renamed identifiers give identical fingerprints", () => {
  const source = read("solutions/01-echo/client.ts");
  const renamed = disguise(source, { rename: true, reorder: false, recomment: false });
  assert.notEqual(renamed, source);
  assert.deepEqual(hashes(renamed), hashes(source));
});

Deno.test("fingerprints: changed comments and layout give identical fingerprints", () => {
  const source = read("solutions/04-poll/server.ts");
  const restyled = disguise(source, { rename: false, reorder: false, recomment: true });
  assert.ok(!restyled.includes("/**"), "the disguise should have dropped the doc comments");
  assert.deepEqual(hashes(restyled), hashes(source));
});

Deno.test("fingerprints: reordered functions keep most fingerprints (the set, not the order)", () => {
  for (const path of ["solutions/01-echo/server.ts", "solutions/04-poll/server.ts"]) {
    const source = read(path);
    const reordered = disguise(source, { rename: false, reorder: true, recomment: false });
    const original = new Set(hashes(source));
    const kept = new Set(hashes(reordered).filter((h) => original.has(h))).size / original.size;
    assert.ok(kept >= 0.7, `${path}: only ${Math.round(kept * 100)}% kept after reordering`);
  }
});

Deno.test("fingerprints: the defaults are the documented K and W", () => {
  const source = read("solutions/01-echo/server.ts");
  const explicit = fingerprintSource(source, { k: K, w: W }).prints;
  assert.deepEqual(fingerprintSource(source).prints, explicit);
  assert.ok(explicit.length > 10);
});
