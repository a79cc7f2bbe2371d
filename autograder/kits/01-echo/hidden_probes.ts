/**
 * Hidden probes for 01-echo (shown after the due date): handout requirements that the visible
 * probes do not exercise the same way.
 *
 * @module
 */
import { delay, type Probe, sameBytes } from "../../kit.ts";

/** Bytes the probe sends: more than the server's send buffer grows to (4 MiB), so it fills. */
const PAYLOAD = 6 << 20;
/** How long the probe stops reading: longer than any give-up-on-a-slow-client timer of 1-2 s. */
const PAUSE_MS = 3_000;

const serverPausedReader: Probe = {
  name: "server-paused-reader",
  title: "A client that stops reading for 3 s (64 KiB receive buffer) still gets every byte",
  points: 2,
  visibility: "after_due_date",
  deadlineMs: 60_000,
  hint: "README.md §2 The protocol",
  needs: "server-all-bytes",
  async run(ctx) {
    const server = await ctx.startServer({ env: { COURSE_SHORT_COUNTS: String(ctx.seed) } });
    // A small receive buffer and no reading: the server's writes soon meet a full buffer and
    // must wait; a server that drops bytes or the client when write cannot go on loses them.
    const conn = await ctx.dial(server.port, { receiveBuffer: 64 * 1024 });
    const bytes = ctx.bytes(PAYLOAD);
    try {
      const sending = conn.send(bytes).then(() => conn.closeWrite());
      sending.catch(() => {});
      await delay(PAUSE_MS);
      const started = Date.now();
      const got = await conn.receive({ ms: 20_000 });
      if (!sameBytes(got.bytes, bytes) || !got.eof) {
        const why = got.timedOut
          ? "nothing more within 20 s"
          : got.error
          ? got.error
          : got.eof
          ? "the server closed the connection"
          : "";
        return ctx.fail({
          what: `${PAYLOAD} bytes sent while the client did not read for ${PAUSE_MS / 1000} s, ` +
            `then read: the echo differs or did not end (${why})`,
          expected: bytes,
          got: got.bytes,
          note: "a client that reads slowly is still owed every byte: write waits, it never " +
            "drops data or the client",
        });
      }
      return ctx.pass(
        `${got.bytes.length} of ${PAYLOAD} bytes after a ${PAUSE_MS} ms pause, ` +
          `read in ${Date.now() - started} ms`,
      );
    } finally {
      conn.close();
    }
  },
};

/** The hidden 01-echo probes. */
export const probes: Probe[] = [serverPausedReader];
