/**
 * Memory only: the RSS of a reference server before and while it holds `--held` idle
 * connections (each answered once, as in the full benchmark's memory table), without the load
 * runs. The connections come from this process, the server runs in its own; both stop by
 * themselves.
 *
 *     deno run --allow-all autograder/bench/held_rss.ts weensydb-poll weensydb-epoll gateway
 *     deno run --allow-all autograder/bench/held_rss.ts gateway --held 1000
 *
 * @module
 */
import { parseArgs } from "node:util";
import { memoryPoint } from "./bench.ts";
import { catalog, startTarget, stopTarget } from "./targets.ts";

const MB = 1e6;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { held: { type: "string", default: "10000" } },
    allowPositionals: true,
  });
  const held = Number(values.held);
  const scratch = Deno.makeTempDirSync({ prefix: "held-rss-" });
  try {
    for (const id of positionals) {
      const target = catalog({ scratch }).find((t) => t.id === id);
      if (target === undefined || target.missing) throw new TypeError(`Unknown target: ${id}`);
      const r = await startTarget(target);
      try {
        const m = await memoryPoint(r, held, held);
        const perConn = (m.rssAfterBytes - m.rssBeforeBytes) / Math.max(1, m.held) / 1024;
        console.log(
          `${id}: ${m.held} held, ${m.answered} answered, RSS ${
            (m.rssBeforeBytes / MB).toFixed(1)
          }` +
            ` -> ${(m.rssAfterBytes / MB).toFixed(1)} MB, ${perConn.toFixed(1)} KB per connection`,
        );
      } finally {
        await stopTarget(r);
      }
    }
  } finally {
    Deno.removeSync(scratch, { recursive: true });
  }
}

if (import.meta.main) await main();
