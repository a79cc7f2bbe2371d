import assert from "node:assert/strict";
import { join } from "node:path";
import { checkVariants } from "./kit_testing.ts";
import { applyVariant, makePatch, StaleVariantError, variantDescription } from "./variant.ts";

/** A tiny kit in a temp dir: two files, one of which uses `@course/shared`. */
async function fixture() {
  const root = await Deno.makeTempDir({ prefix: "kit-testing-test-" });
  const kit = { kitDir: join(root, "kit"), reference: join(root, "reference") };
  await Deno.mkdir(`${kit.kitDir}/variants/`, { recursive: true });
  await Deno.mkdir(kit.reference);
  await Deno.writeTextFile(
    join(kit.kitDir, "manifest.json"),
    JSON.stringify({
      name: "tiny",
      title: "Tiny",
      handout: "README.md",
      files: ["main.ts", "lib.ts"],
      entries: { main: { file: "main.ts" } },
    }),
  );
  const main = 'import { SysError } from "@course/shared";\nimport { n } from "./lib.ts";\n\n' +
    "export const kind: string = SysError.name;\nexport const twice: number = 2 * n;\n";
  await Deno.writeTextFile(join(kit.reference, "main.ts"), main);
  await Deno.writeTextFile(join(kit.reference, "lib.ts"), "export const n = 21;\n");
  return { root, kit, main };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A test body run on a fresh fixture, removed afterwards. */
function withFixture(body: (f: Fixture) => Promise<void>): () => Promise<void> {
  return async () => {
    const f = await fixture();
    try {
      await body(f);
    } finally {
      await Deno.remove(f.root, { recursive: true });
    }
  };
}

/** Writes `edited` as `main.ts` into a folder of its own and saves it as variant `name`. */
async function variant(f: Fixture, name: string, edited: string) {
  const dir = join(f.root, `edit-${name}`);
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "main.ts"), edited);
  const patch = `${f.kit.kitDir}/variants/${name}.patch`;
  await Deno.writeTextFile(patch, await makePatch(f.kit, dir, `The ${name} bug.`));
  return patch;
}

Deno.test(
  "a variant's patch shows its one change, and git apply rebuilds it exactly",
  withFixture(async (f) => {
    const edited = f.main.replace("2 * n", "2 + n // BUG");
    const patch = await variant(f, "plus", edited);
    const text = await Deno.readTextFile(patch);
    assert.equal(variantDescription(text), "The plus bug.");
    assert.match(text, /^--- a\/main\.ts\n\+\+\+ b\/main\.ts\n/m);
    assert.doesNotMatch(text, /a\/lib\.ts/, "an unchanged file is not in the patch");
    await applyVariant(f.kit, patch, join(f.root, "staged"));
    assert.equal(await Deno.readTextFile(join(f.root, "staged", "main.ts")), edited);
    assert.equal(
      await Deno.readTextFile(join(f.root, "staged", "lib.ts")),
      "export const n = 21;\n",
    );
  }),
);

Deno.test(
  "a variant that no longer applies to the reference fails loudly",
  withFixture(async (f) => {
    const patch = await variant(f, "plus", f.main.replace("2 * n", "2 + n"));
    await Deno.writeTextFile(join(f.kit.reference, "main.ts"), f.main.replace("2 * n", "n * 2"));
    await assert.rejects(
      () => applyVariant(f.kit, patch, join(f.root, "staged")),
      (err: Error) =>
        err instanceof StaleVariantError && err.variant === "plus" &&
        err.message.startsWith(
          "variant plus no longer applies to the reference: regenerate it (see docs/grading.md)\n",
        ) && /main\.ts/.test(err.message),
    );
  }),
);

Deno.test(
  "one deno check names the variants that do not type-check, with @course/shared mapped",
  withFixture(async (f) => {
    const good = await variant(f, "good", f.main.replace("2 * n", "2 + n"));
    const bad = await variant(f, "bad", f.main.replace("2 * n", '"2" + n'));
    const { failed, output } = await checkVariants(f.kit, [good, bad]);
    assert.deepEqual(failed, ["bad"], output);
    assert.match(output, /bad\/main\.ts/);
    assert.doesNotMatch(output, /good\/|@course\/shared/);
  }),
);
