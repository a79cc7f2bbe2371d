import assert from "node:assert/strict";
import {
  EADDRINUSE,
  EAGAIN,
  ECONNREFUSED,
  EPOLLET,
  ERRNO_TABLE,
  errnoDescription,
  errnoName,
  EWOULDBLOCK,
} from "./constants.ts";

Deno.test("errnoName names Linux errno numbers", () => {
  assert.equal(errnoName(EADDRINUSE), "EADDRINUSE");
  assert.equal(errnoName(98), "EADDRINUSE");
  assert.equal(errnoName(ECONNREFUSED), "ECONNREFUSED");
  assert.equal(errnoName(EWOULDBLOCK), "EAGAIN");
  assert.equal(errnoName(EAGAIN), "EAGAIN");
  assert.equal(errnoName(4000), "E4000");
});

Deno.test("errnoDescription reads like strerror", () => {
  assert.equal(errnoDescription(EADDRINUSE), "address already in use");
  assert.equal(errnoDescription(4000), "unknown error 4000");
});

Deno.test("errno table has unique numbers and names", () => {
  assert.equal(new Set(ERRNO_TABLE.map(([n]) => n)).size, ERRNO_TABLE.length);
  assert.equal(new Set(ERRNO_TABLE.map(([, name]) => name)).size, ERRNO_TABLE.length);
  assert.ok(ERRNO_TABLE.length >= 40);
});

Deno.test("EPOLLET is the top bit as a positive number", () => {
  assert.equal(EPOLLET, 2 ** 31);
});
