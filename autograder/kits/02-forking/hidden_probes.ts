/**
 * Hidden probes for 02-forking (shown after the due date): handout requirements that the
 * visible probes do not exercise the same way.
 *
 * @module
 */
import type { Probe } from "../../kit.ts";
import { contains, makeDocRoot, parseResponse, rawRequest, requestLine } from "./_http.ts";

/** Paths with a `..` segment written in other ways than the visible probe's, and what is due. */
const CASES: [string, number][] = [
  ["/sub/.%2e/hello.txt", 403], // would resolve inside the root: a ".." segment all the same
  ["/sub/%2e./hello.txt", 403],
  ["/.%2e/secret.txt", 403],
  ["/sub%2f..%2f..%2fsecret.txt", 403],
  ["/sub/%2e/inner.txt", 200], // "%2e" is ".": still inside, served
];

const traversalMixedEncodings: Probe = {
  name: "traversal-mixed-encodings",
  title: "A '..' segment half percent-encoded ('.%2e', '%2e.') gets 403, wherever it leads",
  points: 2,
  visibility: "after_due_date",
  deadlineMs: 60_000,
  hint: "README.md §3 Staying inside the root",
  needs: "serves-files",
  async run(ctx) {
    await using doc = await makeDocRoot(ctx);
    const server = await ctx.startServer({
      args: ["--root", doc.root],
      env: { COURSE_SHORT_COUNTS: String(ctx.seed) },
    });
    const problems: string[] = [];
    for (const [path, status] of CASES) {
      const got = await rawRequest(ctx, server.port, requestLine("GET", path), 10_000);
      if (contains(got.bytes, doc.secret)) {
        problems.push(`${path}: the secret file's bytes came back`);
        continue;
      }
      const r = parseResponse(got);
      const seen = typeof r === "string" ? r : r.status;
      if (seen !== status) problems.push(`${path}: expected ${status}, got ${seen}`);
    }
    if (problems.length > 0) {
      return ctx.fail({
        what: `${problems.length} of ${CASES.length} paths answered wrongly: ${
          problems.join("; ")
        }`,
        note: "decode the path first, then refuse any '..' segment, however it was written",
      });
    }
    return ctx.pass(`${CASES.length} of ${CASES.length} paths answered as due`);
  },
};

/** The hidden 02-forking probes. */
export const probes: Probe[] = [traversalMixedEncodings];
