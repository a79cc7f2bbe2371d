import assert from "node:assert/strict";
import { setShortCountSeed } from "./_private.ts";
import { dec, enc, tcpPair, withPeer } from "./_testing.ts";
import { SHUT_WR } from "./constants.ts";
import { LineReader, readN, readToEnd, writeAll } from "./rio.ts";
import { close, pipe, setNonBlocking, shutdown } from "./socket.ts";

/** A pipe holding `data` followed by EOF; small enough to fit in the pipe buffer. */
function pipeWith(data: string): number {
  const [r, w] = pipe();
  writeAll(w, enc(data));
  close(w);
  return r;
}

function allLines(reader: LineReader): string[] {
  const lines = [];
  for (let line; (line = reader.readLine()) !== null;) lines.push(dec(line));
  return lines;
}

Deno.test("readN loops over short reads and stops early only at EOF", () => {
  using p = tcpPair();
  writeAll(p.client, enc("abcdefgh"));
  shutdown(p.client, SHUT_WR);
  setShortCountSeed(7);
  try {
    assert.equal(dec(readN(p.server, 5)), "abcde");
    assert.equal(dec(readN(p.server, 10)), "fgh");
    assert.equal(readN(p.server, 10).length, 0);
  } finally {
    setShortCountSeed(null);
  }
});

Deno.test("readN and LineReader wait with poll on a non-blocking fd", async () => {
  using p = tcpPair();
  setNonBlocking(p.server);
  let got = "";
  await withPeer({ op: "send", fd: p.client, chunks: ["ab", "cd"], delayMs: 20 }, () => {
    got = dec(readN(p.server, 4)); // meets EAGAIN between the chunks
  });
  assert.equal(got, "abcd");
  const lines: string[] = [];
  await withPeer({ op: "send", fd: p.client, chunks: ["hello\nwor", "ld\n"], delayMs: 20 }, () => {
    const reader = new LineReader(p.server);
    lines.push(dec(reader.readLine()!), dec(reader.readLine()!));
  });
  assert.deepEqual(lines, ["hello", "world"]);
});

Deno.test("LineReader splits lines across chunk boundaries, strips CRLF", () => {
  const text = "GET / HTTP/1.0\r\nHost: x\r\n\r\nbare\nlast without newline";
  const expected = ["GET / HTTP/1.0", "Host: x", "", "bare", "last without newline"];
  for (const seed of [null, 1, 2, 3, 4, 5]) {
    setShortCountSeed(seed);
    const fd = pipeWith(text);
    try {
      assert.deepEqual(allLines(new LineReader(fd)), expected, `seed ${seed}`);
    } finally {
      setShortCountSeed(null);
      close(fd);
    }
  }
});

Deno.test("LineReader refuses lines longer than maxLine", () => {
  const fd = pipeWith("12345\r\n123456\n" + "x".repeat(100) + "\n");
  try {
    const reader = new LineReader(fd, { maxLine: 5 });
    assert.equal(dec(reader.readLine()!), "12345"); // the "\r\n" does not count
    assert.throws(() => reader.readLine(), RangeError);
  } finally {
    close(fd);
  }
  const fd2 = pipeWith("x".repeat(20000) + "\n");
  try {
    assert.throws(() => new LineReader(fd2, { maxLine: 100 }).readLine(), /maxLine \(100 bytes\)/);
  } finally {
    close(fd2);
  }
});

Deno.test("LineReader readBytes mixes with readLine through one buffer", () => {
  for (const seed of [null, 11, 12, 13]) {
    setShortCountSeed(seed);
    const fd = pipeWith("LEN 5\r\nhello" + "next\n" + "0123456789".repeat(1000) + "tail");
    try {
      const reader = new LineReader(fd);
      assert.equal(dec(reader.readLine()!), "LEN 5");
      assert.equal(dec(reader.readBytes(5)), "hello");
      assert.equal(dec(reader.readLine()!), "next");
      assert.equal(reader.readBytes(10000).length, 10000);
      assert.equal(dec(reader.readBytes(100)), "tail");
      assert.equal(reader.readLine(), null);
      assert.equal(reader.buffered(), 0);
    } finally {
      setShortCountSeed(null);
      close(fd);
    }
  }
});

Deno.test("LineReader buffered counts what it read ahead", () => {
  const fd = pipeWith("a\nb\nc");
  try {
    const reader = new LineReader(fd);
    assert.equal(dec(reader.readLine()!), "a");
    assert.equal(reader.buffered(), 3);
    assert.equal(dec(readToEnd(fd)), "", "the reader already took everything");
  } finally {
    close(fd);
  }
});

Deno.test("LineReader calls beforeRead only when it must read from the fd", () => {
  const fd = pipeWith("GET a\nGET b\nSET c 5\nhel");
  try {
    const log: string[] = [];
    const reader = new LineReader(fd, { beforeRead: () => log.push("read") });
    reader.readLine(); // the first read takes everything the pipe holds
    reader.readLine(); // "GET b" is buffered: no read
    assert.deepEqual(log, ["read"]);
    assert.equal(dec(reader.readLine()!), "SET c 5");
    // Half a body is buffered: the rest needs a read (which meets end of file here).
    assert.equal(dec(reader.readBytes(5)), "hel");
    assert.deepEqual(log, ["read", "read"]);
  } finally {
    close(fd);
  }
});
