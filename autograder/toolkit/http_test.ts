/**
 * The probes' HTTP reads every way a body can be framed: Content-Length, `Transfer-Encoding:
 * chunked` (a correct Deno.serve server sends the latter for a stream body, so a client that
 * reads only the former would fail a correct submission), and the end of the connection.
 */
import assert from "node:assert/strict";
import { TraceRecorder } from "../observe/trace.ts";
import { encodeRequest, httpToolkit, parseResponse } from "./http.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of `text`, with `\n` written as CRLF for readability. */
function crlf(text: string): Uint8Array {
  return encoder.encode(text.replaceAll("\n", "\r\n"));
}

Deno.test("parseResponse: a Content-Length body, and the next response after it", () => {
  const one = "HTTP/1.1 200 OK\ncontent-length: 5\n\nhello";
  const bytes = crlf(`${one}HTTP/1.1 404 Not Found\nContent-Length: 2\n\n{}`);
  const first = parseResponse(bytes);
  assert.ok(first !== null && typeof first !== "string", String(first));
  assert.deepEqual([first.status, decoder.decode(first.body)], [200, "hello"]);
  assert.equal(first.used, crlf(one).length);
  const second = parseResponse(bytes.subarray(first.used));
  assert.ok(second !== null && typeof second !== "string", String(second));
  assert.deepEqual([second.status, decoder.decode(second.body)], [404, "{}"]);
});

Deno.test("parseResponse: a chunked body with an extension and a trailer; every prefix is incomplete", () => {
  const wire = encoder.encode(
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 999\r\n\r\n" +
      "3;name=x\r\nab\r\r\n" + // CR LF inside a chunk is data
      "1\r\n\n\r\n" +
      "A\r\n0123456789\r\n" +
      "0\r\nx-trailer: yes\r\n\r\n" +
      "HTTP/1.1 200 OK\r\n",
  );
  const got = parseResponse(wire);
  assert.ok(got !== null && typeof got !== "string", String(got));
  assert.equal(got.status, 200);
  assert.equal(decoder.decode(got.body), "ab\r\n0123456789");
  assert.equal(decoder.decode(wire.subarray(got.used)), "HTTP/1.1 200 OK\r\n");
  for (let n = 0; n < got.used; n++) {
    assert.equal(parseResponse(wire.subarray(0, n)), null, `the first ${n} bytes`);
  }
});

Deno.test("parseResponse: what it cannot read, it says", () => {
  const bad = [
    "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\nzz\nhello\n0\n\n",
    "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n2\nhello\n0\n\n",
    "HTTP/1.1 200 OK\ntransfer-encoding: gzip\n\n",
    "SPDY 200\ncontent-length: 0\n\n",
  ];
  for (const text of bad) assert.equal(typeof parseResponse(crlf(text)), "string", text);
});

Deno.test("parseResponse: with neither length nor chunks, the body runs to the end of file", () => {
  const wire = crlf("HTTP/1.0 200 OK\ncontent-type: text/plain\n\nhello");
  assert.equal(parseResponse(wire), null, "not over until the server closes");
  const got = parseResponse(wire, { eof: true });
  assert.ok(got !== null && typeof got !== "string", String(got));
  assert.equal(decoder.decode(got.body), "hello");
  assert.match(
    String(parseResponse(crlf("HTTP/1.1 200 OK\ncontent-length: 9\n\nhi"), { eof: true })),
    /2 of 9/,
  );
});

Deno.test("ctx.http.request: one traced request, its answer, and an answer when none comes", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) =>
      new Response(`${req.method} ${new URL(req.url).pathname} ${(await req.text()).length}`),
  );
  const trace = new TraceRecorder();
  const http = httpToolkit(trace);
  const got = await http.request(server.addr.port, { method: "PUT", path: "/kv/a", body: "xyz" });
  assert.equal(got.status, 200, got.error);
  assert.equal(decoder.decode(got.body), "PUT /kv/a 3");
  assert.match(got.type, /^text\/plain/);
  const lanes = trace.finish().connections;
  assert.equal(lanes.length, 1);
  assert.deepEqual(lanes[0].events.map((e) => e.kind).slice(0, 2), ["connect", "send"]);
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const none = await http.request(silent.addr.port, { ms: 200 });
    assert.equal(none.status, 0);
    assert.match(none.error ?? "", /no response within 200 ms/);
  } finally {
    silent.close();
  }
  assert.equal(
    decoder.decode(encodeRequest({ method: "GET", path: "/x", version: "HTTP/1.0" })),
    "GET /x HTTP/1.0\r\n\r\n",
  );
});

Deno.test("KeepAlive reads a Deno.serve stream body (sent chunked) and a plain one on one connection", async () => {
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/plain") return new Response("plain");
    const pieces = function* () {
      for (let at = 0; at < big.length; at += 7_000) yield big.subarray(at, at + 7_000);
    };
    return new Response(ReadableStream.from(pieces()));
  });
  const port = server.addr.port;
  // That Deno really frames a stream body as chunked, or this test would prove nothing.
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await raw.write(encoder.encode("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    const head = new Uint8Array(512);
    const n = await raw.read(head);
    assert.match(decoder.decode(head.subarray(0, n ?? 0)), /\r\ntransfer-encoding: chunked\r\n/i);
  } finally {
    raw.close();
  }
  const client = await httpToolkit().keepAlive(port);
  try {
    for (const path of ["/stream", "/plain", "/stream"]) {
      const got = await client.get(path, 5_000);
      assert.ok(typeof got !== "string", `GET ${path}: ${got}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, path === "/plain" ? encoder.encode("plain") : big);
    }
  } finally {
    client.close();
  }
});
