/**
 * The linearizability probe of 03-weensydb: concurrent clients run random commands on two keys,
 * one at a time each, timing every call and return with one monotonic clock; the history is
 * checked against a sequential key-value model. An illegal history is shown as the smallest
 * failing timeline.
 *
 * @module
 */
import { checkOperations } from "../../kit.ts";
import { type KvInput, kvModel, type KvOperation, type KvOutput } from "../_weensydb/kv_model.ts";
import type { Probe, ProbeContext } from "../../kit.ts";
import {
  encodeLine,
  encodeSet,
  KvClient,
  latin1,
  type Reply,
  showReply,
} from "../_weensydb/client.ts";
import { startDb } from "../_weensydb/protocol_probes.ts";

const CLIENTS = 4;
const OPS_PER_CLIENT = 150;

/** A random command on keys x and y; values are unique, so each GET says which SET it saw. */
function randomInput(ctx: ProbeContext, client: number, i: number): KvInput {
  const r = ctx.random();
  const key = ctx.random() < 0.5 ? "x" : "y";
  if (r < 0.35) return { op: "get", key };
  if (r < 0.7) return { op: "set", key, value: `c${client}-${i}` };
  if (r < 0.8) return { op: "delete", key };
  return { op: "exch", key: "x", key2: "y" };
}

/** The command as sent, on one line (a SET's body after its header). */
function describeInput(input: KvInput): string {
  if (input.op !== "set") return new TextDecoder().decode(encode(input)).trim();
  return `SET ${input.key} ${input.value!.length} (then the body ${input.value})`;
}

function encode(input: KvInput): Uint8Array {
  switch (input.op) {
    case "get":
      return encodeLine(`GET ${input.key}`);
    case "set":
      return encodeSet(input.key, input.value!);
    case "delete":
      return encodeLine(`DELETE ${input.key}`);
    default:
      return encodeLine(`EXCH ${input.key} ${input.key2}`);
  }
}

/** The model's view of a reply; null when the reply is not one the protocol allows here. */
function output(reply: Reply): KvOutput | null {
  switch (reply.kind) {
    case "value":
      return { kind: "value", value: latin1(reply.value) };
    case "end":
      return { kind: "value", value: null };
    case "stored":
    case "deleted":
    case "not_found":
    case "exchanged":
      return { kind: reply.kind };
    case "timeout":
    case "closed":
      return { kind: "unknown" };
    default:
      return null;
  }
}

/** Runs one client's commands one after another, recording each as an operation. */
async function runClient(
  ctx: ProbeContext,
  port: number,
  client: number,
  inputs: KvInput[],
): Promise<KvOperation[] | string> {
  const conn = await KvClient.dial(ctx, port);
  const ops: KvOperation[] = [];
  try {
    for (const input of inputs) {
      const call = performance.now();
      const reply = await conn.call(encode(input), 10_000);
      const out = output(reply);
      // No reply at all is a failure here, not an operation of unknown outcome: a server that
      // closes every connection must not pass as "linearizable" with nothing to check.
      if (out === null || out.kind === "unknown") {
        return `client ${client}: ${describeInput(input)} got ${showReply(reply)}`;
      }
      ops.push({ client, input, call, output: out, return: performance.now() });
    }
    return ops;
  } finally {
    conn.close();
    void ctx;
  }
}

export const linearizableProbe: Probe = {
  name: "linearizable",
  title: "Concurrent clients' histories are linearizable (checked against a key-value model)",
  points: 3,
  visibility: "visible",
  deadlineMs: 60_000,
  hint: "README.md §5 One lock per bucket (every command is atomic)",
  async run(ctx) {
    const server = await startDb(ctx);
    const plans = Array.from(
      { length: CLIENTS },
      (_, c) => Array.from({ length: OPS_PER_CLIENT }, (_, i) => randomInput(ctx, c + 1, i)),
    );
    const runs = await Promise.all(plans.map((p, c) => runClient(ctx, server.port, c + 1, p)));
    const broken = runs.find((r) => typeof r === "string");
    if (typeof broken === "string") {
      return ctx.fail({
        what: `${CLIENTS} clients sent commands on x and y at once: a reply was wrong or missing`,
        got: broken,
      });
    }
    const history = runs.flat() as KvOperation[];
    const result = checkOperations(kvModel, history, { timeoutMs: 15_000 });
    if (result.verdict === "illegal") {
      return ctx.fail({
        what: `${CLIENTS} clients, ${history.length} commands on keys x and y: the replies ` +
          "cannot be explained by any order of the commands (not linearizable)",
        output: result.partial?.text ?? "",
        note: "each command must act on the shared table, under its lock, at one instant " +
          "between its request and its reply",
      });
    }
    const how = result.verdict === "ok" ? "linearizable" : "undecided in time (not counted)";
    return ctx.pass(`${history.length} operations: ${how}`);
  },
};
