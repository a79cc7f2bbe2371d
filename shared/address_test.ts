import assert from "node:assert/strict";
import {
  addressFamily,
  decodeSockAddr,
  encodeSockAddr,
  formatSockAddr,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
} from "./address.ts";
import { AF_INET, AF_INET6 } from "./constants.ts";

const roundTrip = (host: string, port = 80) => decodeSockAddr(encodeSockAddr({ host, port }));

Deno.test("IPv4 encodes as sockaddr_in and decodes back", () => {
  const sa = encodeSockAddr({ host: "10.1.2.3", port: 0x1f90 });
  assert.equal(sa.length, SOCKADDR_IN_SIZE);
  assert.deepEqual([...sa.subarray(0, 8)], [2, 0, 0x1f, 0x90, 10, 1, 2, 3]);
  assert.deepEqual(decodeSockAddr(sa), { host: "10.1.2.3", port: 8080 });
  assert.deepEqual(roundTrip("0.0.0.0", 0), { host: "0.0.0.0", port: 0 });
  assert.deepEqual(roundTrip("255.255.255.255", 65535), { host: "255.255.255.255", port: 65535 });
});

Deno.test("localhost means 127.0.0.1", () => {
  assert.deepEqual(roundTrip("localhost", 7000), { host: "127.0.0.1", port: 7000 });
  assert.equal(addressFamily("localhost"), AF_INET);
});

Deno.test("IPv6 encodes as sockaddr_in6 and decodes to canonical form", () => {
  const sa = encodeSockAddr({ host: "::1", port: 443 });
  assert.equal(sa.length, SOCKADDR_IN6_SIZE);
  assert.equal(sa[0], AF_INET6);
  assert.equal(sa[23], 1);
  assert.equal(addressFamily("::1"), AF_INET6);
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["::", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:DB8:0:0:0:0:0:7", "2001:db8::7"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
    ["2001:0db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["fe80::", "fe80::"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ];
  for (const [input, canonical] of cases) assert.equal(roundTrip(input).host, canonical, input);
});

Deno.test("junk hosts are rejected with TypeError", () => {
  const junk = [
    "",
    "example.com",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.-4",
    " 1.2.3.4",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "12345::",
    "::g",
    ":1",
    "1.2.3.4::",
    "::1%lo",
    "[::1]",
  ];
  for (const host of junk) {
    assert.throws(() => encodeSockAddr({ host, port: 1 }), TypeError, host);
  }
  assert.throws(() => addressFamily("example.com"), /^TypeError: Invalid host "example.com":/);
});

Deno.test("bad ports are rejected with RangeError", () => {
  for (const port of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => encodeSockAddr({ host: "127.0.0.1", port }), RangeError);
  }
});

Deno.test("decodeSockAddr rejects unknown families", () => {
  assert.throws(() => decodeSockAddr(new Uint8Array(16)), TypeError);
  assert.throws(() => decodeSockAddr(new Uint8Array([2, 0])), TypeError);
});

Deno.test("formatSockAddr brackets IPv6", () => {
  assert.equal(formatSockAddr({ host: "127.0.0.1", port: 7000 }), "127.0.0.1:7000");
  assert.equal(formatSockAddr({ host: "::1", port: 7000 }), "[::1]:7000");
});
