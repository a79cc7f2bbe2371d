/**
 * Test helper: writes a batch of 01-echo submissions with a known answer. Independent programs:
 * the reference solution, the kit's independently written alternative, and other kits' solution
 * files standing in for `server.ts` and `client.ts`. Planted copies: the solution and the
 * alternative disguised (identifiers renamed, functions reordered, comments and layout changed).
 * Two submissions are the untouched starter, one with a comment added.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { disguise } from "./_disguise.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The pairs that were copied, as `a ↔ b` names in sorted order. */
export const PLANTED = ["alice ↔ alice-copy", "bob ↔ bob-copy"];

/** The independent submissions: name → [server.ts source, client.ts source], repo paths. */
const INDEPENDENT: Record<string, [string, string]> = {
  alice: ["solutions/01-echo/server.ts", "solutions/01-echo/client.ts"],
  // Independent of alice's (the 01 reference): 03's worker and 02's child, in the files' places.
  bob: ["solutions/03-weensydb/worker.ts", "solutions/02-forking/child.ts"],
  dave: ["solutions/04-poll/server.ts", "solutions/03-weensydb/server.ts"],
  erin: ["solutions/02-forking/server.ts", "solutions/02-forking/http.ts"],
  fred: ["solutions/05-async/server.ts", "solutions/05-async/backend.ts"],
  "starter-1": ["assignments/01-echo/server.ts", "assignments/01-echo/client.ts"],
  "starter-2": ["assignments/01-echo/server.ts", "assignments/01-echo/client.ts"],
};

/** A comment that must come out escaped in the report. */
export const HOSTILE = `// </span></pre><script>alert("copied")</script>`;

/** Writes the batch into `dir` (one sub-directory per submission). */
export async function writeTestBatch(dir: string): Promise<void> {
  for (const [name, [server, client]] of Object.entries(INDEPENDENT)) {
    await Deno.mkdir(join(dir, name));
    await Deno.copyFile(join(ROOT, server), join(dir, name, "server.ts"));
    await Deno.copyFile(join(ROOT, client), join(dir, name, "client.ts"));
  }
  await Deno.writeTextFile(join(dir, "starter-2/server.ts"), "\n// my notes\n", { append: true });
  for (const name of ["alice", "bob"]) {
    await Deno.mkdir(join(dir, `${name}-copy`));
    for (const file of ["server.ts", "client.ts"]) {
      const text = disguise(await Deno.readTextFile(join(dir, name, file)));
      await Deno.writeTextFile(join(dir, `${name}-copy`, file), `${HOSTILE}\n${text}`);
    }
  }
}
