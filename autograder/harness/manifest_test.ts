import assert from "node:assert/strict";
import { loadManifest, parseManifest } from "./manifest.ts";

const good = {
  name: "01-echo",
  title: "Echo",
  handout: "assignments/01-echo/README.md",
  files: ["server.ts", "client.ts"],
  entries: {
    server: { file: "server.ts", args: ["--port", "{port}"] },
    client: { file: "client.ts" },
  },
};

Deno.test("parseManifest fills defaults", () => {
  const m = parseManifest(good);
  assert.deepEqual(m.denoFlags, ["--allow-all"]);
  assert.deepEqual(m.entries.client.args, []);
  assert.equal(m.budgetMs, 120_000);
  assert.deepEqual(m.env, {});
});

function errorOf(json: unknown): string {
  try {
    parseManifest(json, "m.json");
  } catch (e) {
    assert.ok(e instanceof TypeError);
    return e.message;
  }
  throw new Error("expected a validation error");
}

Deno.test("parseManifest names the field that is wrong, on one line", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...good, files: [] }, /^Invalid manifest m\.json: files: /],
    [{ ...good, name: "Echo One" }, /name: must be a kebab-case assignment name/],
    [{ ...good, budgetMs: -1 }, /budgetMs: /],
    [
      { ...good, entries: { server: { file: "nope.ts" } } },
      /entries\.server\.file: "nope\.ts" is not listed/,
    ],
    [{ ...good, files: ["../x.ts"], entries: {} }, /files: "\.\.\/x\.ts" must stay inside/],
    [{ ...good, title: undefined }, /title: /],
    [[], /\(top level\)/],
  ];
  for (const [json, pattern] of cases) {
    const message = errorOf(json);
    assert.match(message, pattern);
    assert.ok(!message.includes("\n"), message);
  }
});

Deno.test("loadManifest reports unreadable and non-JSON files in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(loadManifest(dir), /^TypeError: Cannot read .*manifest\.json/);
    await Deno.writeTextFile(`${dir}/manifest.json`, "{ nope");
    await assert.rejects(loadManifest(dir), /not JSON/);
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(good));
    assert.equal((await loadManifest(dir)).name, "01-echo");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
