/**
 * The next thing to do, for the top of a student's report: the first failing probe and, when its
 * failure says code is "not written yet", the `todo()` in the submission that is next to write
 * (file:line) and the handout section it names; otherwise the failure's first line and the
 * probe's hint.
 *
 * @module
 */

import type { ProbeResult, RunResult } from "./result.ts";

/** Where a `todo()` is in the submission's files. */
export interface TodoPlace {
  /** The file, relative to the submission. */
  file: string;
  /** 1-based. */
  line: number;
}

/** The next step, as data. */
export interface NextStep {
  /** The first failing probe. */
  probe: string;
  /** What it said is missing ("openListener(7000): README.md §3 The socket calls"), if it did. */
  notWritten?: string;
  /** Where that `todo()` is, when found. */
  todo?: TodoPlace;
  /** Where in the handout to read. */
  read: string;
  /** The failure's first line. */
  failure: string;
}

const NOT_WRITTEN = /not written yet: ([^\n]*)/;

/**
 * Finds the `todo()` a "not written yet: <what>" message came from: the first line of `files`
 * (file name -> text) with a `todo(` call that holds the message's leading name (`openListener`
 * of `openListener(7000): ...`), or failing that its section.
 */
export function findTodo(what: string, files: Record<string, string>): TodoPlace | undefined {
  const name = /^[A-Za-z_$][\w$.]*/.exec(what)?.[0];
  const section = /§\d+/.exec(what)?.[0];
  const keys = [name, section].filter((k): k is string => k !== undefined && k.length > 1);
  for (const key of keys) {
    for (const [file, text] of Object.entries(files)) {
      const lines = text.split("\n");
      const at = lines.findIndex((l) => /\btodo\(/.test(l) && l.includes(key));
      if (at >= 0) return { file, line: at + 1 };
    }
  }
  return undefined;
}

/** The next step of a run, or null when every probe passed. */
export function nextStep(run: RunResult, files: Record<string, string>): NextStep | null {
  const failed: ProbeResult | undefined = run.probes.find((p) => !p.passed);
  if (failed === undefined) return null;
  const text = `${failed.message}\n${failed.serverOutput ?? ""}`;
  const notWritten = NOT_WRITTEN.exec(text)?.[1].trim();
  const step: NextStep = {
    probe: failed.name,
    read: failed.hint,
    failure: failed.message.split("\n")[0],
  };
  if (notWritten !== undefined) {
    step.notWritten = notWritten;
    step.todo = findTodo(notWritten, files);
    const section = /README\.md §\d+[^(]*/.exec(notWritten)?.[0].trim();
    if (section) step.read = section;
  }
  return step;
}

/** The next step as lines for the terminal (no colour). */
export function formatNextStep(step: NextStep | null): string {
  if (step === null) return "  next: nothing: every probe passed";
  if (step.notWritten !== undefined) {
    const where = step.todo ? ` at ${step.todo.file}:${step.todo.line}` : "";
    return [
      `  next: write the todo()${where}: ${step.notWritten}`,
      `        (the first failing probe, ${step.probe}, stops there; read ${step.read})`,
    ].join("\n");
  }
  return [
    `  next: fix ${step.probe}: ${step.failure}`,
    `        read ${step.read}; the details are below`,
  ].join("\n");
}

/** The submission's TypeScript files (name -> text), for {@link findTodo}; unreadable ones left out. */
export function submissionFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (sub: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${dir}/${sub}`)];
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = sub === "" ? e.name : `${sub}/${e.name}`;
      if (e.isDirectory && depth < 2 && !e.name.startsWith(".")) walk(rel, depth + 1);
      else if (e.isFile && e.name.endsWith(".ts")) {
        try {
          files[rel] = Deno.readTextFileSync(`${dir}/${rel}`);
        } catch {
          // not ours to read
        }
      }
    }
  };
  walk("", 0);
  return files;
}
