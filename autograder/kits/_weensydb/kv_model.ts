/**
 * The sequential specification of a WeensyDB-style key-value server, as a model for the
 * linearizability checker.
 *
 * Semantics: `get` replies with the value or null; `set` always stores; `delete` replies
 * "deleted" when the key existed, else "not_found"; `exch key key2` swaps the two values when
 * both keys exist ("exchanged"), else changes nothing ("not_found"). A request with no reply
 * has output `{ kind: "unknown" }`: see {@link kvModel} for how it is checked.
 *
 * @module
 */

import type { Model, Operation } from "../../kit.ts";

/** One request to the server. `key2` is for `exch`, `value` for `set`. */
export interface KvInput {
  /** The command. */
  op: "get" | "set" | "delete" | "exch";
  /** The key it is about. */
  key: string;
  /** For `exch`, the other key. */
  key2?: string;
  /** For `set`, the value stored. */
  value?: string;
}

/** The server's reply; "unknown" when none came (connection lost, timeout). */
export type KvOutput =
  | { kind: "value"; value: string | null }
  | { kind: "stored" }
  | { kind: "deleted" }
  | { kind: "not_found" }
  | { kind: "exchanged" }
  | { kind: "unknown" };

/** The contents of the keys of one part of the history; a missing key has no entry. */
export type KvState = ReadonlyMap<string, string>;

/** An operation on the key-value server. */
export type KvOperation = Operation<KvInput, KvOutput>;

/** The state after `input` takes effect; outputs do not matter here. */
function apply(s: KvState, input: KvInput): KvState {
  const { op, key, key2 = key } = input;
  if (op === "set") return new Map(s).set(key, input.value ?? "");
  if (op === "delete" && s.has(key)) {
    const next = new Map(s);
    next.delete(key);
    return next;
  }
  if (op === "exch" && s.has(key) && s.has(key2)) {
    return new Map(s).set(key, s.get(key2)!).set(key2, s.get(key)!);
  }
  return s;
}

/** Whether `output` is the reply the server owes to `input` in state `s`. */
function correct(s: KvState, input: KvInput, output: KvOutput): boolean {
  const { op, key, key2 = key } = input;
  switch (output.kind) {
    case "unknown":
      return true;
    case "value":
      return op === "get" && (s.get(key) ?? null) === output.value;
    case "stored":
      return op === "set";
    case "deleted":
      return op === "delete" && s.has(key);
    case "exchanged":
      return op === "exch" && s.has(key) && s.has(key2);
    case "not_found":
      return (op === "delete" && !s.has(key)) || (op === "exch" && !(s.has(key) && s.has(key2)));
  }
}

function equal(a: KvState, b: KvState): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * Splits a history into the connected components of its keys: `exch a b` joins a's part and
 * b's part (union-find). Each part keeps the history's order. An operation with an unknown
 * output is given `return: Infinity` whatever was recorded, as the server may still apply it
 * at any later time.
 */
function partition(history: KvOperation[]): KvOperation[][] {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let root = k;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(k, root);
    return root;
  };
  for (const { input } of history) parent.set(find(input.key), find(input.key2 ?? input.key));
  const parts = new Map<string, KvOperation[]>();
  for (const op of history) {
    const root = find(op.input.key);
    const pending = op.output.kind === "unknown" ? { ...op, return: Infinity } : op;
    parts.set(root, [...parts.get(root) ?? [], pending]);
  }
  return [...parts.values()];
}

function show(text: string): string {
  const short = text.length > 20 ? text.slice(0, 18) + ".." : text;
  return /^[\x21-\x7e]+$/.test(short) && !short.includes('"') ? short : JSON.stringify(short);
}

function describe(input: KvInput, output: KvOutput): string {
  const { op, key, key2 = "" } = input;
  const request = op === "set"
    ? `SET ${show(key)}=${show(input.value ?? "")}`
    : `${op.toUpperCase()} ${show(key)}${op === "exch" ? " " + show(key2) : ""}`;
  if (output.kind === "unknown") return `${request} -> (no reply)`;
  if (output.kind !== "value") return `${request} -> ${output.kind.toUpperCase()}`;
  return `${request} -> ${output.value === null ? "NOT_FOUND" : JSON.stringify(output.value)}`;
}

function describeState(s: KvState): string {
  if (s.size === 0) return "no keys";
  return [...s].sort().map(([k, v]) => `${show(k)}=${JSON.stringify(v)}`).join(", ");
}

/**
 * The key-value model. A request with no reply (`{ kind: "unknown" }`) is accepted in any
 * state and takes effect when the checker places it; as {@link partition} gives it
 * `return: Infinity`, the checker may also place it after everything else, which is the same as
 * its never having taken effect, so both branches are explored.
 *
 * @example
 * ```ts
 * import { checkOperations } from "../../kit.ts";
 * import { kvModel, type KvOperation } from "./kv_model.ts";
 * const history: KvOperation[] = [
 *   { client: 1, input: { op: "set", key: "x", value: "1" }, call: 0, output: { kind: "stored" }, return: 2 },
 *   { client: 2, input: { op: "get", key: "x" }, call: 1, output: { kind: "value", value: "1" }, return: 3 },
 * ];
 * checkOperations(kvModel, history).verdict; // => "ok"
 * ```
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => new Map(),
  step: (s, input, output) => [correct(s, input, output), apply(s, input)],
  equal,
  partition,
  describe,
  describeState,
};
