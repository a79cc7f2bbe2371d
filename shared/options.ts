/**
 * Command-line options for the course's servers, checked, with one clear line when they are
 * wrong. Parsing options is not what any assignment is about, so every server reads its options
 * the same way: describe them, call {@link readOptions}, and get typed values or the error line.
 *
 * @example
 * ```ts
 * import { readOptions } from "@course/shared";
 * const options = readOptions(["--port", "7000"], {
 *   port: { kind: "port", required: true },
 *   "max-threads": { kind: "int", min: 1, default: 32 },
 *   engine: { kind: "choice", choices: ["poll", "epoll"], default: "poll" },
 * });
 * if (typeof options === "string") throw new Error(options); // "bad --port x: ..."
 * options.port; // 7000
 * options["max-threads"]; // 32
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One option: what it holds, and its default (an option without one may be left out). */
export type OptionSpec =
  | { kind: "port"; required?: boolean; default?: number }
  | { kind: "int"; min?: number; max?: number; required?: boolean; default?: number }
  | { kind: "string"; required?: boolean; default?: string }
  | { kind: "choice"; choices: readonly string[]; required?: boolean; default?: string }
  | { kind: "address"; required?: boolean; default?: string };

/** A host and a port, from `HOST:PORT`. */
export interface Address {
  /** The host part. */
  host: string;
  /** The port part, 1 to 65535. */
  port: number;
}

/** The value an option of spec `S` gives. */
export type OptionValue<S extends OptionSpec> = S extends { kind: "port" | "int" } ? number
  : S extends { kind: "address" } ? Address
  : string;

/** The options' values: required or defaulted ones always present, the rest maybe undefined. */
export type Options<T extends Record<string, OptionSpec>> = {
  [K in keyof T]: T[K] extends { required: true } | { default: unknown } ? OptionValue<T[K]>
    : OptionValue<T[K]> | undefined;
};

/**
 * Reads `--name value` options from `args` as `specs` describe them. Returns the values, or one
 * line saying what is wrong (`missing --port`, `bad --port x: expected a number from 1 to
 * 65535`, an unknown option); never throws for what a user typed.
 */
export function readOptions<T extends Record<string, OptionSpec>>(
  args: string[],
  specs: T,
): Options<T> | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(specs).map((k) => [k, { type: "string" }]));
    ({ values } = parseArgs({ args, options: options as Record<string, { type: "string" }> }));
  } catch (err) {
    return (err as Error).message.split("\n")[0]; // parseArgs may explain over several lines
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (raw === undefined) {
      if (spec.default !== undefined) {
        out[name] = spec.kind === "address" ? parseAddress(String(spec.default)) : spec.default;
      } else if (spec.required) return `missing --${name}`;
      continue;
    }
    const text = String(raw);
    const value = check(spec, text);
    if (typeof value === "string" && spec.kind !== "string" && spec.kind !== "choice") {
      return `bad --${name} ${text}: ${value}`;
    }
    if (value instanceof Error) return `bad --${name} ${text}: ${value.message}`;
    out[name] = value;
  }
  return out as Options<T>;
}

/** The value of `text` under `spec`; a string (or an Error, for strings) says what is wrong. */
function check(spec: OptionSpec, text: string): unknown {
  switch (spec.kind) {
    case "port": {
      const port = Number(text);
      return /^\d+$/.test(text) && port >= 1 && port <= 65535
        ? port
        : "expected a number from 1 to 65535";
    }
    case "int": {
      const n = Number(text);
      const min = spec.min ?? -Infinity, max = spec.max ?? Infinity;
      if (!/^-?\d+$/.test(text) || n < min || n > max) {
        const range = spec.max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
        return `expected a whole number ${range}`;
      }
      return n;
    }
    case "choice":
      return spec.choices.includes(text)
        ? text
        : new Error(`expected ${spec.choices.join(" or ")}`);
    case "address":
      return parseAddress(text) ?? "expected HOST:PORT";
    case "string":
      return text === "" ? new Error("expected a value") : text;
  }
}

/** `HOST:PORT` (an IPv6 host in brackets: `[::1]:7000`), or null. */
export function parseAddress(text: string): Address | null {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : null;
}

/**
 * For a program's options: the values, or (for the error line) prints `name: <line> (usage:
 * <usage>)` to stderr and exits with status 2.
 */
export function optionsOrExit<T extends Record<string, OptionSpec>>(
  name: string,
  usage: string,
  args: string[],
  specs: T,
): Options<T> {
  const options = readOptions(args, specs);
  if (typeof options === "string") {
    console.error(`${name}: ${options} (usage: ${usage})`);
    Deno.exit(2);
  }
  return options;
}
