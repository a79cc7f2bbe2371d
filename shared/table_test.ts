import assert from "node:assert/strict";
import { bucketOf, Table } from "./table.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("table: insert, find, set, swap and remove", () => {
  const table = Table.create({ buckets: 4, arenaBytes: 1 << 16 });
  const a = table.insert(enc("a"));
  const b = table.insert(enc("b"));
  table.setValue(a, enc("apple"));
  table.setValue(b, enc("banana\r\n"));
  assert.equal(table.find(enc("a")), a);
  assert.equal(table.find(enc("zz")), null);
  table.swapValues(a, b);
  assert.equal(dec(table.value(a)), "banana\r\n");
  assert.equal(dec(table.value(b)), "apple");
  assert.equal(dec(table.keyOf(b)), "b");
  assert.equal(table.remove(enc("a")), table.idOf(a));
  assert.equal(table.find(enc("a")), null);
  assert.equal(table.remove(enc("a")), null);
  assert.equal(dec(table.value(table.find(enc("b"))!)), "apple");
});

Deno.test("table: keys of one bucket form a list; removing from its middle keeps the rest", () => {
  const table = Table.create({ buckets: 1, arenaBytes: 1 << 16 });
  const keys = ["k1", "k2", "k3", "k4"];
  for (const k of keys) table.setValue(table.insert(enc(k)), enc(k.toUpperCase()));
  table.remove(enc("k2"));
  table.remove(enc("k4"));
  for (const k of ["k1", "k3"]) {
    assert.equal(dec(table.value(table.find(enc(k))!)), k.toUpperCase());
  }
  assert.equal(table.find(enc("k2")), null);
});

Deno.test("table: bucketOf is FNV-1a, the same from the function and the table", () => {
  assert.equal(bucketOf(new Uint8Array(), 1 << 30), 0x811c9dc5 % (1 << 30));
  assert.equal(bucketOf(enc("a"), 2 ** 32 - 1), 0xe40c292c % (2 ** 32 - 1));
  const table = Table.create({ arenaBytes: 1024 });
  assert.equal(table.buckets, 1024);
  assert.equal(table.bucketOf(enc("hello")), bucketOf(enc("hello")));
  const copy = Table.from(table.buffers);
  copy.setValue(copy.insert(enc("x")), enc("1"));
  assert.equal(dec(table.value(table.find(enc("x"))!)), "1");
});
