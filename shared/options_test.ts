import assert from "node:assert/strict";
import { parseAddress, readOptions } from "./options.ts";

const specs = {
  port: { kind: "port", required: true },
  "max-threads": { kind: "int", min: 1, default: 32 },
  engine: { kind: "choice", choices: ["poll", "epoll"], default: "poll" },
  backend: { kind: "address" },
  root: { kind: "string" },
} as const;

Deno.test("readOptions: typed values, defaults, and what was left out", () => {
  const o = readOptions(["--port", "7000", "--backend", "127.0.0.1:9"], specs);
  assert.ok(typeof o !== "string", String(o));
  assert.deepEqual(o, {
    port: 7000,
    "max-threads": 32,
    engine: "poll",
    backend: { host: "127.0.0.1", port: 9 },
  });
  const six = readOptions(["--port=1", "--backend", "[::1]:7000", "--engine", "epoll"], specs);
  assert.ok(typeof six !== "string");
  assert.deepEqual([six.backend, six.engine], [{ host: "::1", port: 7000 }, "epoll"]);
});

Deno.test("readOptions: one clear line for each mistake, never a throw", () => {
  const cases: [string[], string][] = [
    [[], "missing --port"],
    [["--port", "banana"], "bad --port banana: expected a number from 1 to 65535"],
    [["--port", "70000"], "bad --port 70000: expected a number from 1 to 65535"],
    [
      ["--port", "1", "--max-threads", "0"],
      "bad --max-threads 0: expected a whole number at least 1",
    ],
    [["--port", "1", "--engine", "select"], "bad --engine select: expected poll or epoll"],
    [["--port", "1", "--backend", "nowhere"], "bad --backend nowhere: expected HOST:PORT"],
    [["--port", "1", "--root", ""], "bad --root : expected a value"],
  ];
  for (const [args, line] of cases) assert.equal(readOptions(args, specs), line, args.join(" "));
  const unknown = readOptions(["--port", "1", "--colour", "red"], specs);
  assert.equal(typeof unknown, "string");
  assert.ok(!(unknown as string).includes("\n"));
  assert.equal(parseAddress("host:0"), null);
});
