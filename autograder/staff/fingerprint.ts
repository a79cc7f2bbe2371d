/**
 * Token fingerprints of TypeScript source, as in MOSS (Schleimer, Wilkerson, Aiken, "Winnowing:
 * local algorithms for document fingerprinting", SIGMOD 2003). Pure functions, no I/O.
 *
 * A file is scanned by the TypeScript compiler's own scanner (trivia skipped), and each token is
 * reduced to its kind: every identifier becomes one kind, every string one kind, every number
 * another, while keywords and punctuation stay as they are (less semicolons and trailing commas,
 * which are style). Renaming variables, editing comments or reformatting therefore leaves the
 * token stream unchanged. Each run of {@linkcode K} tokens
 * (a k-gram) is hashed, and winnowing keeps the smallest hash of every window of
 * {@linkcode W} consecutive k-grams. Two files that share a run of at least `W + K - 1` tokens
 * are guaranteed to share a fingerprint; shared runs shorter than `K` tokens are ignored.
 *
 * @example Renamed identifiers give the same fingerprints
 * ```ts
 * import assert from "node:assert/strict";
 * import { fingerprintSource } from "./fingerprint.ts";
 *
 * const a = fingerprintSource("let total = 0; for (const x of xs) total += x; // sum", { k: 5, w: 4 });
 * const b = fingerprintSource("let s = 0; for (const v of items) s += v;", { k: 5, w: 4 });
 * assert.deepEqual(a.prints.map((p) => p.hash), b.prints.map((p) => p.hash));
 * ```
 *
 * @module
 */

import ts from "typescript";

/**
 * The k-gram length in tokens. After normalisation a line of TypeScript is about 7 tokens, so
 * 20 tokens is about 3 lines: long enough that common idioms (`const x = await y.z(w)`, an
 * import line, a `try {} finally {}` shell) do not match by themselves, short enough that a
 * copied block of a few lines does, and that reordering small functions (which breaks the
 * k-grams spanning each boundary) still leaves most of a function's k-grams intact. Measured on
 * the course's own solutions: k = 30 kept only 58% of 01-echo's server after its functions were
 * reordered, k = 20 keeps 76%; k = 15 let unrelated solutions reach 26% through shared idioms.
 */
export const K = 20;

/**
 * The winnowing window in k-grams. Any shared run of `W + K - 1 = 35` tokens (about 5 lines)
 * is certain to be found, and a file keeps about `2 / (W + 1)`, one in eight, of its k-gram
 * hashes. `W < K` also makes the k-grams of consecutive fingerprints overlap inside a copied
 * block, so matched regions come out as one contiguous range rather than scattered pieces.
 */
export const W = 16;

/** One normalised token: its kind code and the 1-based lines it starts and ends on. */
export interface Token {
  /** The normalised kind (a `ts.SyntaxKind` value after normalisation). */
  code: number;
  /** The line the token starts on, 1-based. */
  line: number;
  /** The line the token ends on (differs from `line` for multi-line strings and templates). */
  endLine: number;
}

/** One selected k-gram: its hash and the index of its first token. */
export interface Fingerprint {
  /** The k-gram's 32-bit hash. */
  hash: number;
  /** Index in the token list of the k-gram's first token. */
  start: number;
}

/** The tokens of one source text and the fingerprints winnowing selected from them. */
export interface SourceFingerprints {
  /** The normalised tokens, in order. */
  tokens: Token[];
  /** The selected fingerprints, in order of position. */
  prints: Fingerprint[];
}

/** Parameters of fingerprinting; defaults {@linkcode K} and {@linkcode W}. */
export interface FingerprintOptions {
  /** k-gram length in tokens. */
  k?: number;
  /** Winnowing window, in k-grams. */
  w?: number;
}

const Kind = ts.SyntaxKind;

/** Tokens after which a `/` divides; anywhere else it starts a regular expression. */
const ENDS_EXPRESSION = new Set<ts.SyntaxKind>([
  Kind.Identifier,
  Kind.PrivateIdentifier,
  Kind.StringLiteral,
  Kind.NumericLiteral,
  Kind.BigIntLiteral,
  Kind.NoSubstitutionTemplateLiteral,
  Kind.TemplateTail,
  Kind.RegularExpressionLiteral,
  Kind.CloseParenToken,
  Kind.CloseBracketToken,
  Kind.CloseBraceToken,
  Kind.PlusPlusToken,
  Kind.MinusMinusToken,
  Kind.ThisKeyword,
  Kind.SuperKeyword,
  Kind.TrueKeyword,
  Kind.FalseKeyword,
  Kind.NullKeyword,
]);

function isKeyword(kind: ts.SyntaxKind): boolean {
  return kind >= Kind.FirstKeyword && kind <= Kind.LastKeyword;
}

/**
 * The kind a token counts as: identifiers (and keywords used as property names, `map.get`) are
 * one kind, a template without substitutions is a string, anything else keeps its own kind.
 */
function normalise(kind: ts.SyntaxKind, previous: ts.SyntaxKind): ts.SyntaxKind {
  if (kind === Kind.PrivateIdentifier) return Kind.Identifier;
  if (kind === Kind.NoSubstitutionTemplateLiteral) return Kind.StringLiteral;
  const afterDot = previous === Kind.DotToken || previous === Kind.QuestionDotToken;
  if (afterDot && isKeyword(kind)) return Kind.Identifier;
  return kind;
}

/** 1-based line of each offset, by binary search over the offsets where lines start. */
function lineFinder(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return (offset) => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * Splits TypeScript source into normalised tokens with the compiler's scanner, skipping
 * whitespace and comments. The scanner alone cannot tell a regular expression from a division
 * or the rest of a template from a `}`, so this tracks the previous token and open template
 * substitutions and asks the scanner to rescan, as the parser would.
 */
export function tokenize(source: string): Token[] {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard);
  scanner.setText(source);
  const lineOf = lineFinder(source);
  const tokens: Token[] = [];
  // One entry per open `{` or template substitution: true for `${`, whose `}` resumes a template.
  const braces: boolean[] = [];
  let previous = Kind.Unknown;
  for (let kind = scanner.scan(); kind !== Kind.EndOfFileToken; kind = scanner.scan()) {
    if (
      (kind === Kind.SlashToken || kind === Kind.SlashEqualsToken) && !ENDS_EXPRESSION.has(previous)
    ) {
      kind = scanner.reScanSlashToken();
    } else if (kind === Kind.OpenBraceToken) {
      braces.push(false);
    } else if (kind === Kind.CloseBraceToken && braces.pop() === true) {
      kind = scanner.reScanTemplateToken(false);
    }
    if (kind === Kind.TemplateHead || kind === Kind.TemplateMiddle) braces.push(true);
    const code = normalise(kind, previous);
    const end = Math.max(scanner.getTokenStart(), scanner.getTokenEnd() - 1);
    tokens.push({ code, line: lineOf(scanner.getTokenStart()), endLine: lineOf(end) });
    previous = kind;
  }
  return tokens.filter((t, i) => !isOptionalSeparator(t.code, tokens[i + 1]?.code));
}

const CLOSERS = new Set<ts.SyntaxKind>([
  Kind.CloseBraceToken,
  Kind.CloseBracketToken,
  Kind.CloseParenToken,
]);

/**
 * Semicolons, and commas before a closing bracket, are layout: a formatter or the author's
 * style adds or drops them (`{ a: T; b: U }` and `{ a: T; b: U; }`, a trailing comma, code
 * that relies on automatic semicolon insertion) without changing the program.
 */
function isOptionalSeparator(code: number, next: number | undefined): boolean {
  if (code === Kind.SemicolonToken) return true;
  return code === Kind.CommaToken && next !== undefined && CLOSERS.has(next);
}

/** Murmur3's finaliser: spreads the bits of a rolling hash so that minima are not biased. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const BASE = 0x01000193;

/**
 * The hash of every k-gram of a token list (`tokens.length - k + 1` of them, none when the list
 * is shorter than `k`), computed as a rolling polynomial hash modulo 2^32 and then mixed.
 */
export function kgramHashes(tokens: readonly Token[], k: number = K): number[] {
  if (tokens.length < k) return [];
  let top = 1; // BASE^(k-1), the weight of the token that leaves the window
  for (let i = 1; i < k; i++) top = Math.imul(top, BASE);
  let h = 0;
  for (let i = 0; i < k; i++) h = (Math.imul(h, BASE) + tokens[i].code) | 0;
  const hashes = [mix(h)];
  for (let i = k; i < tokens.length; i++) {
    h = (h - Math.imul(tokens[i - k].code, top)) | 0;
    h = (Math.imul(h, BASE) + tokens[i].code) | 0;
    hashes.push(mix(h));
  }
  return hashes;
}

/**
 * Robust winnowing: in every window of `w` consecutive hashes select the minimum (the rightmost
 * one on a tie) and record it unless it was the previous window's selection too. A list shorter
 * than one window yields its minimum. The result is in order of position.
 */
export function winnow(hashes: readonly number[], w: number = W): Fingerprint[] {
  if (hashes.length === 0) return [];
  const prints: Fingerprint[] = [];
  const windows = Math.max(1, hashes.length - w + 1);
  let chosen = -1;
  for (let start = 0; start < windows; start++) {
    const end = Math.min(start + w, hashes.length);
    if (chosen < start) {
      chosen = start;
      for (let i = start + 1; i < end; i++) if (hashes[i] <= hashes[chosen]) chosen = i;
      prints.push({ hash: hashes[chosen], start: chosen });
    } else if (hashes[end - 1] <= hashes[chosen]) {
      chosen = end - 1; // the new hash entering the window is the new minimum
      prints.push({ hash: hashes[chosen], start: chosen });
    }
  }
  return prints;
}

/** Tokenises one source text and winnows its k-gram hashes. */
export function fingerprintSource(
  source: string,
  options: FingerprintOptions = {},
): SourceFingerprints {
  const tokens = tokenize(source);
  return { tokens, prints: winnow(kgramHashes(tokens, options.k ?? K), options.w ?? W) };
}
