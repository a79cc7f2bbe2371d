/** 00-upper's probes: the example kit of docs/adding-a-kit.md. */
import type { Probe } from "../../kit.ts";

const shouts: Probe = {
  name: "shouts",
  title: "Each line comes back in upper case, on one connection",
  points: 2,
  visibility: "visible",
  deadlineMs: 10_000,
  hint: "README.md §2 The protocol",
  async run(ctx) {
    const server = await ctx.startServer();
    using conn = await ctx.dial(server.port);
    for (const line of ["hello", "Mixed Case 42", ""]) {
      await conn.send(`${line}\n`);
      const got = await conn.readLine({ ms: 2_000 });
      if (got !== line.toUpperCase()) {
        return ctx.fail({
          what: `sent the line "${line}"`,
          sent: `${line}\n`,
          expected: `${line.toUpperCase()}\n`,
          got: got === null ? "nothing within 2 s" : `${got}\n`,
        });
      }
    }
    return ctx.pass("3 lines of 3");
  },
};

export const probes: Probe[] = [shouts];
