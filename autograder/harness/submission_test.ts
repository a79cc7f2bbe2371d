import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseManifest } from "./manifest.ts";
import { FILE_CAP, MissingFilesError, REPO_ROOT, stageSubmission } from "./submission.ts";

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

Deno.test("stageSubmission refuses symlinks, FIFOs and huge files, saying why", async () => {
  const files = ["server.ts", "a.ts", "b.ts", "c.ts", "d.ts"];
  const tiny = parseManifest({ ...manifest, files });
  await withSource({ "server.ts": "fine" }, async (src) => {
    await Deno.symlink("/etc/shadow", join(src, "a.ts"));
    await Deno.symlink(join(REPO_ROOT, "solutions", "01-echo", "server.ts"), join(src, "b.ts"));
    const made = await new Deno.Command("mkfifo", { args: [join(src, "c.ts")] }).output();
    assert.ok(made.success, "mkfifo");
    await Deno.writeFile(join(src, "d.ts"), new Uint8Array(FILE_CAP + 1));
    const err = await stageSubmission(tiny, src).catch((e) => e);
    assert.ok(err instanceof MissingFilesError, String(err));
    assert.deepEqual(err.missing, ["a.ts", "b.ts", "c.ts", "d.ts"]);
    assert.match(err.message, /a\.ts is a symbolic link; b\.ts is a symbolic link/);
    assert.match(err.message, /c\.ts is not a regular file; d\.ts is larger than 4 MiB/);
  });
});

Deno.test("stageSubmission refuses a file reached through a symlinked directory", async () => {
  await withSource({ "server.ts": "s" }, async (src) => {
    await Deno.symlink(join(REPO_ROOT, "shared"), join(src, "lib"));
    const err = await stageSubmission(manifest, src).catch((e) => e);
    assert.ok(err instanceof MissingFilesError);
    assert.deepEqual(err.missing, ["lib/util.ts"]);
    assert.match(err.message, /lib is a symbolic link/);
  });
});

Deno.test("stageSubmission with copyShared: mode 0644 files, the library beside them", async () => {
  await withSource({ "server.ts": "s", "lib/util.ts": "u" }, async (src) => {
    await Deno.chmod(join(src, "server.ts"), 0o4755); // set-user-id: must not survive
    const sub = await stageSubmission(manifest, src, { copyShared: true });
    try {
      assert.equal((await Deno.stat(join(sub.dir, "server.ts"))).mode! & 0o7777, 0o644);
      const config = JSON.parse(await Deno.readTextFile(sub.config));
      assert.match(config.imports["@course/shared"], /\/\.course-shared\/mod\.ts$/);
      await Deno.stat(join(sub.dir, ".course-shared", "mod.ts"));
    } finally {
      await sub.remove();
    }
  });
});
