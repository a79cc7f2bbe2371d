/**
 * Safe rendering of bytes for a terminal: what a probe sent, expected and got.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Turns a string into its UTF-8 bytes; passes bytes through unchanged. */
export function toBytes(b: Uint8Array | string): Uint8Array {
  return typeof b === "string" ? encoder.encode(b) : b;
}

function showByte(x: number): string {
  if (x === 0x0a) return "\\n";
  if (x === 0x0d) return "\\r";
  if (x === 0x09) return "\\t";
  if (x === 0x5c) return "\\\\";
  if (x >= 0x20 && x < 0x7f) return String.fromCharCode(x);
  return "\\x" + x.toString(16).padStart(2, "0");
}

/**
 * Renders bytes so they are safe to print: printable ASCII as is, `\r` `\n` `\t` and `\\`
 * escaped, every other byte as `\xNN`; past `max` bytes the rest is summarised as
 * `… (N more bytes)`.
 *
 * @example
 * ```ts
 * import { showBytes } from "./bytes.ts";
 * showBytes("hi\n"); // => "hi\\n"
 * ```
 */
export function showBytes(b: Uint8Array | string, max = 200): string {
  const bytes = toBytes(b);
  let out = "";
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) out += showByte(bytes[i]);
  if (bytes.length > max) out += `… (${bytes.length - max} more bytes)`;
  return out;
}

/**
 * Returns the first offset where `a` and `b` differ, or -1 if they are equal. When one is a
 * prefix of the other, the offset is the shorter length.
 */
export function firstDifference(a: Uint8Array | string, b: Uint8Array | string): number {
  const x = toBytes(a), y = toBytes(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i;
  return x.length === y.length ? -1 : n;
}

/**
 * Renders a window of `radius` bytes either side of `offset`, for large buffers where the
 * start is not the interesting part: `[offset 4096 of 65536] …abc|def…`.
 */
export function showAround(b: Uint8Array | string, offset: number, radius = 32): string {
  const bytes = toBytes(b);
  const start = Math.max(0, offset - radius);
  const end = Math.min(bytes.length, offset + radius);
  const head = start > 0 ? "…" : "";
  const tail = end < bytes.length ? "…" : "";
  const before = showBytes(bytes.subarray(start, Math.min(offset, end)), Infinity);
  const after = showBytes(bytes.subarray(Math.min(offset, end), end), Infinity);
  return `[offset ${offset} of ${bytes.length}] ${head}${before}|${after}${tail}`;
}

/** Joins chunks into one array of `total` bytes. */
export function concat(chunks: Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** True when both arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const latin1Decoder = new TextDecoder("latin1");

/** Bytes as a string of the same length, one character per byte (ISO-8859-1): never lossy. */
export function latin1(bytes: Uint8Array): string {
  return latin1Decoder.decode(bytes);
}

/** `n` bytes from a seeded generator of numbers in [0, 1) (a probe's `ctx.random`). */
export function seededBytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}
