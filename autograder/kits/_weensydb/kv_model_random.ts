/**
 * Random linearizable key-value histories, for testing and timing the checker.
 *
 * @module
 */

import type { KvInput, KvOperation, KvOutput } from "./kv_model.ts";

/** Options for {@link randomKvHistory}. */
export interface RandomKvOptions {
  /** Number of operations; defaults to 1000. */
  ops?: number;
  /** Number of clients, each with one request outstanding at a time; defaults to 8. */
  clients?: number;
  /** Number of keys; defaults to 4. */
  keys?: number;
  /** Whether to include `exch` (which joins keys into one part); defaults to true. */
  exch?: boolean;
  /** Seed of the pseudo-random generator; defaults to 1. */
  seed?: number;
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomInput(rand: () => number, keys: number, exch: boolean): KvInput {
  const key = `k${Math.floor(rand() * keys)}`;
  const r = rand();
  if (r < 0.4) return { op: "get", key };
  if (r < 0.75) return { op: "set", key, value: String(Math.floor(rand() * 10)) };
  if (r < 0.85 || !exch) return { op: "delete", key };
  return { op: "exch", key, key2: `k${Math.floor(rand() * keys)}` };
}

/** Runs `input` against a sequential store, returning the reply. */
function run(store: Map<string, string>, input: KvInput): KvOutput {
  const { op, key, key2 = key } = input;
  if (op === "get") return { kind: "value", value: store.get(key) ?? null };
  if (op === "set") return store.set(key, input.value!), { kind: "stored" };
  if (op === "delete") return store.delete(key) ? { kind: "deleted" } : { kind: "not_found" };
  if (!store.has(key) || !store.has(key2)) return { kind: "not_found" };
  const v = store.get(key)!;
  store.set(key, store.get(key2)!).set(key2, v);
  return { kind: "exchanged" };
}

/**
 * Makes a linearizable history: each client issues requests one after another with random
 * durations, each request takes effect at a random instant between its call and return, and
 * the replies come from applying the requests to one store in the order of those instants.
 * Times are in ms. Deterministic for a given seed.
 *
 * @example
 * ```ts
 * import { randomKvHistory } from "./kv_model_random.ts";
 * import { checkOperations } from "../../kit.ts";
 * import { kvModel } from "./kv_model.ts";
 * checkOperations(kvModel, randomKvHistory({ ops: 100, seed: 7 })).verdict; // => "ok"
 * ```
 */
export function randomKvHistory(options: RandomKvOptions = {}): KvOperation[] {
  const { ops = 1000, clients = 8, keys = 4, exch = true, seed = 1 } = options;
  const rand = generator(seed);
  const clock = Array.from({ length: clients }, () => rand());
  const planned: { op: KvOperation; at: number }[] = [];
  for (let i = 0; i < ops; i++) {
    const client = i % clients;
    const call = clock[client], duration = 0.05 + rand() * 2;
    clock[client] = call + duration + rand() * 0.5;
    const input = randomInput(rand, keys, exch);
    const op = {
      client,
      input,
      call,
      output: { kind: "unknown" } as KvOutput,
      return: call + duration,
    };
    planned.push({ op, at: call + rand() * duration });
  }
  const store = new Map<string, string>();
  for (const p of [...planned].sort((a, b) => a.at - b.at)) p.op.output = run(store, p.op.input);
  return planned.map((p) => p.op);
}
