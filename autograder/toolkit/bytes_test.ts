import assert from "node:assert/strict";
import { firstDifference, showAround, showBytes } from "./bytes.ts";

Deno.test("showBytes escapes control bytes and keeps printable ASCII", () => {
  assert.equal(showBytes("hi\r\n\tx"), "hi\\r\\n\\tx");
  assert.equal(showBytes(new Uint8Array([0, 0x7f, 0xff, 0x41])), "\\x00\\x7f\\xffA");
  assert.equal(showBytes("a\\b"), "a\\\\b");
});

Deno.test("showBytes truncates past max with a count", () => {
  assert.equal(showBytes("abcdef", 2), "ab… (4 more bytes)");
  assert.equal(showBytes("ab", 2), "ab");
});

Deno.test("firstDifference finds the first differing offset", () => {
  assert.equal(firstDifference("abc", "abc"), -1);
  assert.equal(firstDifference("abc", "abd"), 2);
  assert.equal(firstDifference("ab", "abc"), 2);
  assert.equal(firstDifference("", ""), -1);
  assert.equal(firstDifference(new Uint8Array([1, 2]), new Uint8Array([1, 3])), 1);
});

Deno.test("showAround shows a window around an offset in a large buffer", () => {
  const big = "x".repeat(1000) + "Y" + "z".repeat(1000);
  const shown = showAround(big, 1000, 4);
  assert.equal(shown, "[offset 1000 of 2001] …xxxx|Yzzz…");
  assert.equal(showAround("abc", 0, 4), "[offset 0 of 3] |abc");
});
