/**
 * The per-assignment manifest at `autograder/kits/<assignment>/manifest.json`: which student
 * files to take, how to run each entry, and the run's time budget.
 *
 * @module
 */

import { z } from "zod";

/** How to run one student entry: a file from `files` and its arguments (`{port}` substituted). */
export const EntrySchema = z.object({
  file: z.string().min(1),
  args: z.array(z.string()).default([]),
});

/** The manifest schema; unknown keys are ignored so kits may carry notes of their own. */
export const ManifestSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be a kebab-case assignment name"),
  title: z.string().min(1),
  handout: z.string().min(1),
  files: z.array(z.string().min(1)).min(1),
  entries: z.record(z.string(), EntrySchema),
  denoFlags: z.array(z.string()).default(["--allow-all"]),
  env: z.record(z.string(), z.string()).default({}),
  budgetMs: z.number().int().positive().default(120_000),
  /** Overrides of the sandbox's limits (see sandbox.ts) for a kit that needs more. */
  limits: z.object({
    memoryBytes: z.number().int().positive(),
    pids: z.number().int().positive(),
    cpuSeconds: z.number().int().positive(),
    openFiles: z.number().int().positive(),
    fileSizeBytes: z.number().int().positive(),
    scratchBytes: z.number().int().positive(),
  }).partial().default({}),
}).superRefine((m, ctx) => {
  for (const [name, entry] of Object.entries(m.entries)) {
    if (!m.files.includes(entry.file)) {
      ctx.addIssue({
        code: "custom",
        path: ["entries", name, "file"],
        message: `"${entry.file}" is not listed in files`,
      });
    }
  }
  for (const file of m.files) {
    if (file.startsWith("/") || file.split("/").includes("..")) {
      ctx.addIssue({
        code: "custom",
        path: ["files"],
        message: `"${file}" must stay inside the submission`,
      });
    }
  }
});

/** How to run one student entry (see {@link EntrySchema}). */
export interface Entry {
  /** A file of the submission's `files`. */
  file: string;
  /** Its arguments; `{port}` is replaced by the port the grader chose. */
  args: string[];
}

/** A validated manifest (`autograder/kits/<kit>/manifest.json`, see {@link ManifestSchema}). */
export interface Manifest {
  /** The kit's name, "01-echo". */
  name: string;
  /** One line for humans. */
  title: string;
  /** The handout, relative to the repository. */
  handout: string;
  /** The submission's files: only these are taken from it. */
  files: string[];
  /** Its programs by name: "server", "client". */
  entries: Record<string, Entry>;
  /** Deno's flags for every entry. */
  denoFlags: string[];
  /** Environment for every entry. */
  env: Record<string, string>;
  /** The whole run's time budget. */
  budgetMs: number;
  /** Overrides of the sandbox's limits for a kit that needs more. */
  limits: Partial<{
    memoryBytes: number;
    pids: number;
    cpuSeconds: number;
    openFiles: number;
    fileSizeBytes: number;
    scratchBytes: number;
  }>;
}

/** A one-line description of the first problem in a zod error: `field.path: what was wrong`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
  return `${where}: ${issue.message}`;
}

/** Validates parsed JSON as a manifest; throws a `TypeError` with one clear line if invalid. */
export function parseManifest(json: unknown, source = "manifest.json"): Manifest {
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    throw new TypeError(`Invalid manifest ${source}: ${describeZodError(result.error)}`);
  }
  return result.data;
}

/** Reads and validates `<kitDir>/manifest.json`; throws a `TypeError` with one clear line. */
export async function loadManifest(kitDir: string): Promise<Manifest> {
  const path = `${kitDir}/manifest.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new TypeError(`Cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`Invalid manifest ${path}: not JSON: ${(e as Error).message}`);
  }
  return parseManifest(json, path);
}
