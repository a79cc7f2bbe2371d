import assert from "node:assert/strict";
import { concatBytes, echoCounter, httpCounter, kvCounter, makeProtocol } from "./protocols.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Feeds `bytes` one byte at a time, then all at once: the count must not depend on the split. */
function countSplit(make: () => { feed(c: Uint8Array): number }, bytes: Uint8Array): number[] {
  const one = make(), all = make();
  let byByte = 0;
  for (let i = 0; i < bytes.length; i++) byByte += one.feed(bytes.subarray(i, i + 1));
  return [byByte, all.feed(bytes)];
}

Deno.test("echo counts whole messages across reads", () => {
  assert.deepEqual(countSplit(() => echoCounter(4), enc("abcdabcdab")), [2, 2]);
});

Deno.test("WeensyDB replies: a body holding END and CRLF is skipped by length", () => {
  const body = "END\r\nVALUE x";
  const replies = `VALUE k ${body.length} #3\r\n${body}\r\nEND\r\nEND\r\nSTORED #4\r\n`;
  assert.deepEqual(countSplit(() => kvCounter(2), enc(replies)), [3, 3]);
  const c = kvCounter(2);
  assert.equal(c.feed(enc("SERVER_ERROR out of memory\r\n")), 1);
  assert.equal(c.errors, 1);
});

Deno.test("memcached replies: the length is the fourth word", () => {
  const replies = "VALUE key:1 0 5\r\nhello\r\nEND\r\nSTORED\r\nERROR\r\n";
  assert.deepEqual(countSplit(() => kvCounter(3), enc(replies)), [3, 3]);
});

Deno.test("HTTP responses with Content-Length, pipelined, and one without a length", () => {
  const r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  const empty = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
  assert.deepEqual(countSplit(httpCounter, enc(r + empty + r)), [3, 3]);
  const c = httpCounter();
  assert.equal(c.feed(enc(empty)), 1);
  assert.equal(c.errors, 1);
  const eof = httpCounter();
  assert.equal(eof.feed(enc("HTTP/1.0 200 OK\r\n\r\nbody without length")), 0);
  assert.equal(eof.end(), 1);
});

Deno.test("requests: WeensyDB SET has no CRLF after the body, memcached's has", () => {
  const w = makeProtocol({ kind: "weensydb", op: "get", size: 3, keys: 2 });
  assert.equal(new TextDecoder().decode(w.preload[0]), "SET key:0 3\r\nabc");
  assert.equal(new TextDecoder().decode(w.requests[1]), "GET key:1\r\n");
  const m = makeProtocol({ kind: "memcached", op: "set", size: 3, keys: 1 });
  assert.equal(new TextDecoder().decode(m.requests[0]), "set key:0 0 0 3\r\nabc\r\n");
  assert.equal(m.preload.length, 0);
  assert.equal(makeProtocol({ kind: "http", path: "/a", close: true }).reconnect, true);
  assert.throws(() => makeProtocol({ kind: "echo", size: 0 }), RangeError);
  assert.equal(concatBytes([enc("a"), enc("bc")]).length, 3);
});
