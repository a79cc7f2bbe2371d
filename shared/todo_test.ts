import assert from "node:assert/strict";

Deno.test("todo: called in a Worker, it ends the whole program with its line", async () => {
  const todo = new URL("./todo.ts", import.meta.url).href;
  const worker = `data:application/typescript,${
    encodeURIComponent(`import { todo } from "${todo}"; self.onmessage = () => todo("step 1");`)
  }`;
  const code = `const w = new Worker(${JSON.stringify(worker)}, { type: "module" });
    w.postMessage(0); setTimeout(() => console.log("still running"), 10000);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.match(new TextDecoder().decode(out.stderr), /not written yet: step 1/);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.notEqual(out.code, 0);
});
