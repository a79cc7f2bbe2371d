/**
 * Hidden probes both WeensyDB kits share (run after the due date; the student release leaves
 * them out): requirements the handouts state that no visible probe exercises the same way.
 *
 * @module
 */
import type { Probe } from "../../kit.ts";
import { rssBytes } from "../../kit.ts";
import { encodeSet, KvClient, showReply } from "./client.ts";
import { MAX_VALUE, startDb } from "./protocol_probes.ts";

/** The over-limit body `huge-over-limit` streams: far more than any value may be. */
const HUGE_BODY = 256 * 1024 * 1024;
/**
 * How much the server's RSS may grow meanwhile: half the body. A server that keeps the body
 * grows by all of it; one that reads it in pieces and drops them grows by the garbage the
 * runtime lets pile up before it collects (V8 collects after about 64 MiB of buffers: the 03
 * reference peaks near that, the 04 reference, reusing one buffer, at about 10 MiB).
 */
const HUGE_RSS_GROWTH = HUGE_BODY / 2;

/**
 * `SET huge <256 MiB>` and all of its body, 1 MiB per write: the server must throw the body
 * away as it arrives (its RSS, sampled every 50 ms from /proc, grows by under 128 MiB), reply
 * ERROR, and read the next command from the right place. The visible `over-limit` probe sends a
 * body of 1 MiB and 1 byte, which a server that gathers the whole body before dropping it also
 * passes.
 */
export function hugeOverLimitProbe(hint: string): Probe {
  return {
    name: "huge-over-limit",
    title: "A SET announcing 256 MiB is skipped as it arrives: ERROR, memory bounded, in sync",
    points: 2,
    visibility: "after_due_date",
    deadlineMs: 60_000,
    hint,
    needs: "commands",
    async run(ctx) {
      const server = await startDb(ctx);
      const client = await KvClient.dial(ctx, server.port);
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
      try {
        const stored = await client.call(encodeSet("x", "small"), 10_000);
        if (stored.kind !== "stored") {
          return ctx.fail({ what: "SET x (5 bytes)", expected: "STORED", got: showReply(stored) });
        }
        const before = rssBytes(server.pid);
        let peak = before;
        const sampling = setInterval(() => peak = Math.max(peak, rssBytes(server.pid)), 50);
        try {
          const chunk = ctx.bytes(MAX_VALUE);
          let sent = 0;
          try {
            await client.send(`SET huge ${HUGE_BODY}\r\n`);
            for (; sent < HUGE_BODY; sent += chunk.length) await client.send(chunk);
            await client.send("GET x\r\n");
          } catch (err) {
            return ctx.fail({
              what: `SET huge ${HUGE_BODY} (over the 1 MiB limit) and its ${mib(HUGE_BODY)} ` +
                "of body, 1 MiB per write",
              expected: "the server to take the whole body and throw it away, then reply ERROR",
              got: `after ${mib(sent)} of the body, sending failed: ${(err as Error).message}`,
              note: "an over-limit SET gets ERROR and the connection stays usable: read the " +
                "body to its end, a piece at a time, without keeping it",
            });
          }
          const [refused, after] = [await client.reply(20_000), await client.reply(10_000)];
          peak = Math.max(peak, rssBytes(server.pid));
          const problems = [
            ...(refused.kind === "error" ? [] : [`SET huge: got ${showReply(refused)}`]),
            ...(after.kind === "value" ? [] : [`GET x after it: got ${showReply(after)}`]),
            ...(peak - before <= HUGE_RSS_GROWTH ? [] : [
              `the server's RSS grew by ${mib(peak - before)} (${mib(before)} before, ${
                mib(peak)
              } at most)`,
            ]),
          ];
          if (problems.length > 0) {
            return ctx.fail({
              what: `SET huge ${HUGE_BODY} (over the 1 MiB limit) and its ${mib(HUGE_BODY)} ` +
                "of body, 1 MiB per write, then GET x",
              expected: `ERROR, then VALUE x (5 bytes); the server's RSS (/proc/${server.pid}` +
                `/status) growing by under ${mib(HUGE_RSS_GROWTH)} meanwhile`,
              got: problems.join("\n"),
              note: "throw an over-limit body away as it arrives, a piece at a time: never " +
                "gather it first",
            });
          }
          return ctx.pass(
            `RSS grew ${mib(peak - before)} at most, bound ${mib(HUGE_RSS_GROWTH)}; in sync`,
          );
        } finally {
          clearInterval(sampling);
        }
      } finally {
        client.close();
      }
    },
  };
}
