/**
 * A linearizability checker in the style of porcupine: a model is a record of pure functions,
 * a history is plain data, and the verdict is "ok", "illegal" or "unknown" (out of time).
 *
 * For an illegal history the checker also finds what to show a student: the smallest failing
 * part of the history, shrunk to a few operations that are still illegal, drawn as a timeline.
 *
 * @module
 */

import { search } from "./_linearize.ts";
import { renderTimeline } from "./timeline.ts";

/**
 * One completed (or abandoned) request in a recorded history. `call` and `return` are
 * timestamps from one monotonic clock, e.g. `performance.now()`. A request whose reply never
 * came gets `return: Infinity` and an output its model accepts in any state (`kvModel` uses
 * `{ kind: "unknown" }`): the checker may then place it anywhere after its call, and placing it
 * after everything else is the same as its never having taken effect.
 */
export interface Operation<I, O> {
  /** Which client issued it; one row of the timeline per client. */
  client: number;
  /** The request. */
  input: I;
  /** When the request was sent. */
  call: number;
  /** The reply, or the model's "unknown" output. */
  output: O;
  /** When the reply arrived; `Infinity` if it never did. */
  return: number;
}

/**
 * A sequential specification, as pure functions. `step` says whether `output` is a correct
 * reply to `input` in `state`, and the state after it; it must not modify `state`. `equal`
 * defaults to `Object.is`. `partition` splits a history into independent parts (e.g. per key)
 * that are checked separately. `describe` and `describeState` render one operation and one
 * state for the student.
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /** Whether `output` is correct for `input` in `state`, and the state after. */
  step(state: S, input: I, output: O): [ok: boolean, next: S];
  /** Whether two states are the same; defaults to `Object.is`. */
  equal?(a: S, b: S): boolean;
  /** Splits a history into parts that can be checked independently. */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  /** One operation as text for the timeline, e.g. `GET x -> "2"`. */
  describe?(input: I, output: O): string;
  /** One state as text, e.g. `x="2"`. */
  describeState?(state: S): string;
}

/** "unknown" means the search ran out of time before it could decide. */
export type Verdict = "ok" | "illegal" | "unknown";

/** Options for {@link checkOperations}. */
export interface CheckOptions {
  /** Time budget of the search over all parts; defaults to 10 s. */
  timeoutMs?: number;
  /** Extra time budget for shrinking an illegal part; defaults to 2 s. */
  shrinkMs?: number;
  /** Line length of the explanation's timeline; defaults to 100. */
  width?: number;
}

/** Why a history is illegal, fit to show a student. */
export interface Explanation<I, O> {
  /** The smallest illegal part of the history, whole. */
  part: Operation<I, O>[];
  /** A subset of `part` that is still illegal, and no operation of it can be dropped. */
  minimal: Operation<I, O>[];
  /** The longest order of operations from `minimal` that explains their replies. */
  order: Operation<I, O>[];
  /** `minimal` as a timeline, followed by what goes wrong. */
  text: string;
}

/** The result of {@link checkOperations}. */
export interface CheckResult<I, O> {
  /** "ok", "illegal", or "unknown" when the time budget ran out first. */
  verdict: Verdict;
  /** For an illegal history, the explanation. */
  partial?: Explanation<I, O>;
}

/**
 * Checks that a concurrent history is linearizable with respect to `model`. The history is
 * partitioned with `model.partition` and the parts are checked smallest first, so an illegal
 * verdict comes with the smallest failing part, shrunk (see {@link Explanation}). An illegal
 * part decides the verdict even when another part ran out of time.
 *
 * @example
 * ```ts
 * import { checkOperations } from "./linearizability.ts";
 * import { kvModel } from "../kits/_weensydb/kv_model.ts";
 * const history = [
 *   { client: 1, input: { op: "set", key: "x", value: "1" }, call: 0, output: { kind: "stored" }, return: 1 },
 *   { client: 2, input: { op: "get", key: "x" }, call: 2, output: { kind: "value", value: null }, return: 3 },
 * ] as const;
 * const result = checkOperations(kvModel, [...history]);
 * result.verdict; // => "illegal"
 * console.log(result.partial?.text);
 * ```
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  history.forEach(validate);
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  const parts = (model.partition?.(history) ?? [history]).filter((p) => p.length > 0)
    .sort((a, b) => a.length - b.length);
  let verdict: Verdict = "ok";
  for (const part of parts) {
    const found = search(model, part, deadline);
    if (found.verdict === "illegal") {
      const shrinkDeadline = performance.now() + (options.shrinkMs ?? 2_000);
      const minimal = shrink(model, part, found, shrinkDeadline);
      return { verdict: "illegal", partial: explain(model, part, minimal, options.width) };
    }
    if (found.verdict === "unknown") verdict = "unknown";
  }
  return { verdict };
}

function validate<I, O>(op: Operation<I, O>, i: number): void {
  if (Number.isNaN(op.call) || Number.isNaN(op.return)) {
    throw new TypeError(`Cannot check history: operation ${i} has a NaN time`);
  }
  if (op.return < op.call) {
    throw new RangeError(
      `Cannot check history: operation ${i} returns (${op.return}) before its call (${op.call})`,
    );
  }
}

/**
 * Finds a small witness inside an illegal part, growing it from the operation the search could
 * not place. While the witness is illegal, an operation that alone would make it legal is added
 * (dropping `SET x=3` must not leave a `GET x -> "3"` that looks wrong for a reason the full
 * history does not have); while it is legal, one that makes it illegal is added. Candidates go
 * latest call first. Past the deadline, returns `fallback` (illegal, but larger).
 */
function shrink<S, I, O>(
  model: Model<S, I, O>,
  part: Operation<I, O>[],
  found: { needed: number[]; stuck: number },
  deadline: number,
): Operation<I, O>[] {
  const fallback = found.needed.map((i) => part[i]);
  const candidates = [...part].sort((a, b) => b.call - a.call);
  const witness = new Set([part[found.stuck]]);
  const verdict = (ops: Operation<I, O>[]) => search(model, ops, deadline).verdict;
  let illegal = verdict([...witness]) === "illegal";
  while (performance.now() < deadline) {
    const want = illegal ? "ok" : "illegal";
    const add = candidates.find((op) => !witness.has(op) && verdict([...witness, op]) === want) ??
      (illegal ? undefined : candidates.find((op) => !witness.has(op)));
    if (!add) return [...witness].sort((a, b) => a.call - b.call);
    witness.add(add);
    illegal = verdict([...witness]) === "illegal";
  }
  return fallback.sort((a, b) => a.call - b.call);
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  part: Operation<I, O>[],
  minimal: Operation<I, O>[],
  width = 100,
): Explanation<I, O> {
  const describe = model.describe ??
    ((i: I, o: O) => `${JSON.stringify(i)} -> ${JSON.stringify(o)}`);
  const found = search(model, minimal, Infinity);
  const order = found.longest.map((i) => minimal[i]);
  const rest = minimal.filter((op) => !order.includes(op));
  const show = (ops: Operation<I, O>[]) => ops.map((op) => describe(op.input, op.output));
  const title = `${minimal.length} of the ${part.length} operations in this part`;
  let why = "no order of these operations explains the replies: ";
  if (order.length === 0) why += `not one of them can come first (${list(show(rest), "; ")}).`;
  else {
    let state = model.init();
    for (const op of order) state = model.step(state, op.input, op.output)[1];
    const after = model.describeState ? ` (state then: ${model.describeState(state)})` : "";
    why += `the longest order that does is ${list(show(order))}${after}, ` +
      `and it cannot go on with ${list(show(rest), "; ")}.`;
  }
  const text = renderTimeline(minimal, describe, { title, width }) + "\n" + wrap(why, width);
  return { part, minimal, order, text };
}

/** Breaks `text` at spaces into lines of at most `width` characters where it can. */
function wrap(text: string, width: number): string {
  const lines = [""];
  for (const word of text.split(" ")) {
    const line = lines.at(-1)!;
    if (line && line.length + 1 + word.length > width) lines.push(word);
    else lines[lines.length - 1] = line ? `${line} ${word}` : word;
  }
  return lines.join("\n");
}

/** Joins the last few items of a list, saying how many more came first. */
function list(items: string[], separator = ", then ", keep = 6): string {
  const more = items.length > keep ? `${items.length - keep} operations${separator}` : "";
  return more + items.slice(-keep).join(separator);
}
