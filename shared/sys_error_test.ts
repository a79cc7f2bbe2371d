import assert from "node:assert/strict";
import { EADDRINUSE, ECONNREFUSED } from "./constants.ts";
import { SysError } from "./sys_error.ts";

Deno.test("SysError message: what failed, colon, errno name and description", () => {
  const err = new SysError("bind", EADDRINUSE, "127.0.0.1:7000");
  assert.equal(err.message, "bind 127.0.0.1:7000: EADDRINUSE (address already in use)");
  assert.equal(err.syscall, "bind");
  assert.equal(err.errno, 98);
  assert.equal(err.code, "EADDRINUSE");
  assert.equal(err.name, "SysError");
  assert.ok(err instanceof Error);
});

Deno.test("SysError without a target", () => {
  const err = new SysError("connect", ECONNREFUSED);
  assert.equal(err.message, "connect: ECONNREFUSED (connection refused)");
});
