/**
 * Marks code a student has yet to write.
 *
 * @module
 */

/**
 * Stops the program with one line naming the missing piece and where the
 * handout explains it. Starters call it wherever code is still to be written,
 * so they type-check and start, and the grader reports "not written yet"
 * instead of a hang or a stack trace. Called in a Worker, it ends the whole program too
 * (with SIGTERM, as a Worker's `Deno.exit` would end only the Worker).
 *
 * @example
 * ```ts ignore
 * import { todo } from "@course/shared";
 * function openListener(port: number): number {
 *   return todo(`openListener(${port}): README.md §3 The socket calls`);
 * }
 * ```
 */
export function todo(what: string): never {
  console.error(`not written yet: ${what}`);
  if ("DedicatedWorkerGlobalScope" in globalThis) {
    // In a Worker, Deno.exit ends only that Worker: stop the whole program, as documented.
    try {
      Deno.kill(Deno.pid, "SIGTERM");
    } catch {
      // not allowed: ending the Worker is the best we can do
    }
  }
  Deno.exit(3);
}
