import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseManifest } from "./manifest.ts";
import { MissingFilesError, REPO_ROOT, stageSubmission } from "./submission.ts";

const manifest = parseManifest({
  name: "t",
  title: "T",
  handout: "README.md",
  files: ["server.ts", "lib/util.ts"],
  entries: { server: { file: "server.ts", args: ["--port", "{port}"] } },
  denoFlags: ["--allow-net"],
});

async function withSource(files: Record<string, string>, f: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, name), text);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("stageSubmission copies only the manifest's files and maps @course/shared", async () => {
  const files = { "server.ts": "s", "lib/util.ts": "u", "extra.ts": "x", "deno.json": "{}" };
  await withSource(files, async (src) => {
    const sub = await stageSubmission(manifest, src);
    try {
      assert.equal(sub.source, src);
      assert.equal(await Deno.readTextFile(join(sub.dir, "lib/util.ts")), "u");
      await assert.rejects(Deno.stat(join(sub.dir, "extra.ts")));
      const config = JSON.parse(await Deno.readTextFile(sub.config));
      assert.equal(
        fileURLToPath(config.imports["@course/shared"]),
        join(REPO_ROOT, "shared/mod.ts"),
      );
      assert.equal(sub.path("server"), join(sub.dir, "server.ts"));
      const { cmd, args } = sub.command("server", { args: ["-v"], port: 7000 });
      assert.equal(cmd, Deno.execPath());
      assert.deepEqual(args, [
        "run",
        "--config",
        sub.config,
        "--no-lock",
        "--allow-net",
        join(sub.dir, "server.ts"),
        "--port",
        "7000",
        "-v",
      ]);
      assert.throws(() => sub.command("client"), /Unknown entry "client": the manifest has server/);
    } finally {
      await sub.remove();
    }
    await assert.rejects(Deno.stat(sub.dir));
  });
});

Deno.test("stageSubmission lists every missing file", async () => {
  await withSource({ "extra.ts": "" }, async (src) => {
    const err = await stageSubmission(manifest, src).catch((e) => e);
    assert.ok(err instanceof MissingFilesError);
    assert.deepEqual(err.missing, ["server.ts", "lib/util.ts"]);
    assert.match(err.message, /^Missing files in .*: server\.ts, lib\/util\.ts$/);
  });
});
