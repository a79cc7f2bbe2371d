/**
 * Pairwise comparison of submissions by their winnowed fingerprints (see fingerprint.ts). Pure
 * functions of the files' text: no I/O.
 *
 * A submission's fingerprints are a set of hashes, so their order in the files, and which file
 * they are in, does not matter: reordered functions, or code moved between files, still match.
 * Every k-gram of the starter code is base code: a fingerprint whose hash is any k-gram of any
 * starter file is dropped (not only the starter's own winnowed fingerprints, whose selection
 * depends on their surroundings), so two students who only filled in a little of the same
 * starter share almost nothing. A pair's score is `shared / min(|A|, |B|)`: 1 when the smaller
 * submission is contained in the larger. Both directions are reported too.
 *
 * @module
 */

import { fingerprintSource, K, kgramHashes, type Token, tokenize, W } from "./fingerprint.ts";

/** One source file: its name (relative to the submission) and text. */
export interface SourceFile {
  /** The file's name, e.g. `server.ts`. */
  name: string;
  /** The file's text. */
  text: string;
}

/** One submission: a name (its directory's) and its files. */
export interface Submission {
  /** The submission's name, e.g. the student's directory name. */
  name: string;
  /** Its source files. */
  files: SourceFile[];
}

/** Lines `start..end` (1-based, inclusive) of one file. */
export interface LineRange {
  /** The file's name. */
  file: string;
  /** The first line. */
  start: number;
  /** The last line. */
  end: number;
}

/** One matched region: lines in the first submission and the lines they match in the second. */
export interface Match {
  /** The region in the pair's first submission. */
  a: LineRange;
  /** The region in the pair's second submission. */
  b: LineRange;
  /** How many shared fingerprints the region holds. */
  fingerprints: number;
}

/** The comparison of two submissions. */
export interface PairResult {
  /** The first submission's name. */
  a: string;
  /** The second submission's name. */
  b: string;
  /** `shared / min(aFingerprints, bFingerprints)`, 0 when either has none. */
  score: number;
  /** Fraction of the first submission's fingerprints that the second also has. */
  aInB: number;
  /** Fraction of the second submission's fingerprints that the first also has. */
  bInA: number;
  /** How many distinct fingerprints the two share. */
  shared: number;
  /** The matched regions, in order of the first submission's files and lines. */
  matches: Match[];
}

/** Per-submission summary of a comparison. */
export interface SubmissionSummary {
  /** The submission's name. */
  name: string;
  /** The files that were read. */
  files: string[];
  /** Its distinct fingerprints after the starter's were removed. */
  fingerprints: number;
}

/** The result of comparing every pair of a set of submissions. */
export interface SimilarityRun {
  /** The k-gram length used. */
  k: number;
  /** The winnowing window used. */
  w: number;
  /** The submissions, in the order given. */
  submissions: SubmissionSummary[];
  /** Every pair, highest score first. */
  pairs: PairResult[];
}

/** Options of {@linkcode compareSubmissions}. */
export interface CompareOptions {
  /** k-gram length in tokens (default {@linkcode K}). */
  k?: number;
  /** Winnowing window (default {@linkcode W}). */
  w?: number;
}

/** Where a fingerprint occurs: a file of the submission and the k-gram's first token. */
interface Occurrence {
  file: number;
  start: number;
}

interface Indexed {
  name: string;
  files: { name: string; tokens: Token[] }[];
  prints: Map<number, Occurrence[]>;
}

/** At most this many occurrences of one hash on each side are paired into regions. */
const MAX_OCCURRENCES = 8;

/** The hashes of every k-gram of the starter files. */
function baseHashes(starter: readonly SourceFile[], k: number): Set<number> {
  const base = new Set<number>();
  for (const file of starter) for (const h of kgramHashes(tokenize(file.text), k)) base.add(h);
  return base;
}

function index(submission: Submission, base: Set<number>, k: number, w: number): Indexed {
  const prints = new Map<number, Occurrence[]>();
  const files = submission.files.map((file, i) => {
    const { tokens, prints: selected } = fingerprintSource(file.text, { k, w });
    for (const { hash, start } of selected) {
      if (base.has(hash)) continue;
      const list = prints.get(hash) ?? [];
      list.push({ file: i, start });
      prints.set(hash, list);
    }
    return { name: file.name, tokens };
  });
  return { name: submission.name, files, prints };
}

/** A region under construction, in token indices. */
interface Region {
  aFile: number;
  bFile: number;
  aStart: number;
  aEnd: number;
  bStart: number;
  bEnd: number;
  fingerprints: number;
}

/** Pairs occurrences of shared hashes and grows them into regions where both sides advance. */
function regions(a: Indexed, b: Indexed, shared: number[], k: number): Region[] {
  const pairs: Region[] = [];
  for (const hash of shared) {
    for (const x of a.prints.get(hash)!.slice(0, MAX_OCCURRENCES)) {
      for (const y of b.prints.get(hash)!.slice(0, MAX_OCCURRENCES)) {
        pairs.push({
          aFile: x.file,
          bFile: y.file,
          aStart: x.start,
          aEnd: x.start + k - 1,
          bStart: y.start,
          bEnd: y.start + k - 1,
          fingerprints: 1,
        });
      }
    }
  }
  pairs.sort((p, q) => p.aFile - q.aFile || p.aStart - q.aStart || p.bFile - q.bFile);
  const grown: Region[] = [];
  for (const p of pairs) {
    const into = grown.findLast((r) =>
      r.aFile === p.aFile && r.bFile === p.bFile && p.aStart <= r.aEnd + 1 &&
      p.bStart >= r.bStart && p.bStart <= r.bEnd + 1
    );
    if (!into) {
      grown.push({ ...p });
      continue;
    }
    into.aEnd = Math.max(into.aEnd, p.aEnd);
    into.bEnd = Math.max(into.bEnd, p.bEnd);
    into.fingerprints++;
  }
  return grown;
}

function toMatch(a: Indexed, b: Indexed, r: Region): Match {
  const range = (s: Indexed, file: number, start: number, end: number): LineRange => ({
    file: s.files[file].name,
    start: s.files[file].tokens[start].line,
    end: s.files[file].tokens[end].endLine,
  });
  return {
    a: range(a, r.aFile, r.aStart, r.aEnd),
    b: range(b, r.bFile, r.bStart, r.bEnd),
    fingerprints: r.fingerprints,
  };
}

function comparePair(a: Indexed, b: Indexed, k: number): PairResult {
  const shared = [...a.prints.keys()].filter((h) => b.prints.has(h));
  const smaller = Math.min(a.prints.size, b.prints.size);
  return {
    a: a.name,
    b: b.name,
    score: smaller === 0 ? 0 : shared.length / smaller,
    aInB: a.prints.size === 0 ? 0 : shared.length / a.prints.size,
    bInA: b.prints.size === 0 ? 0 : shared.length / b.prints.size,
    shared: shared.length,
    matches: regions(a, b, shared, k).map((r) => toMatch(a, b, r)),
  };
}

/**
 * Compares every pair of submissions, ignoring what they share with the starter code, and
 * returns the pairs ranked by score (then by the number of shared fingerprints).
 */
export function compareSubmissions(
  submissions: readonly Submission[],
  starter: readonly SourceFile[],
  options: CompareOptions = {},
): SimilarityRun {
  const k = options.k ?? K, w = options.w ?? W;
  const base = baseHashes(starter, k);
  const indexed = submissions.map((s) => index(s, base, k, w));
  const pairs: PairResult[] = [];
  for (let i = 0; i < indexed.length; i++) {
    for (let j = i + 1; j < indexed.length; j++) pairs.push(comparePair(indexed[i], indexed[j], k));
  }
  pairs.sort((p, q) => q.score - p.score || q.shared - p.shared);
  const summaries = indexed.map((s) => ({
    name: s.name,
    files: s.files.map((f) => f.name),
    fingerprints: s.prints.size,
  }));
  return { k, w, submissions: summaries, pairs };
}
