/**
 * Result formats for platforms other than Gradescope: JUnit XML (any CI) and
 * Autolab's autoresult, the JSON line Autolab reads from the end of the output.
 *
 * @module
 */

import type { RunResult } from "./result.ts";

/** Escapes text for an XML attribute or element; drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/**
 * Renders a run as one JUnit `<testsuite>`: a `<testcase>` per probe, failed
 * probes with a `<failure>` holding the message and the hint.
 *
 * @example
 * ```ts ignore
 * await Deno.writeTextFile("junit.xml", toJunit(run));
 * ```
 */
export function toJunit(run: RunResult): string {
  const failures = run.probes.filter((p) => !p.passed).length;
  const cases = run.probes.map((p) => {
    const head =
      `  <testcase classname="${escapeXml(run.assignment)}" name="${escapeXml(p.name)}" ` +
      `time="${(p.ms / 1000).toFixed(3)}"`;
    if (p.passed) return `${head}/>`;
    const body = escapeXml(`${p.message}\nhint: ${p.hint}`);
    const message = escapeXml(p.message.split("\n")[0]);
    return `${head}>\n    <failure message="${message}">${body}</failure>\n  </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${escapeXml(run.assignment)}" tests="${run.probes.length}" ` +
    `failures="${failures}" errors="0" time="${(run.ms / 1000).toFixed(3)}">`,
    `  <properties><property name="seed" value="${run.seed}"/></properties>`,
    ...cases,
    "</testsuite>",
    "",
  ].join("\n");
}

/**
 * Autolab's autoresult: `{"scores": {probe: points, ...}, "scoreboard": [total]}`,
 * printed by the grader as its very last line of output with `--autolab`.
 */
export function toAutolab(run: RunResult): string {
  const scores = Object.fromEntries(run.probes.map((p) => [p.name, p.score]));
  return JSON.stringify({ scores, scoreboard: [run.score] });
}
