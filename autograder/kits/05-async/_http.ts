/**
 * 05-async's view of HTTP: one request gives an {@link Answer} (a status and body, or why there
 * was none), sent with the probe's `ctx.http` so that every request is on the probe's timeline.
 *
 * @module
 */
import type { ProbeContext } from "../../kit.ts";

/** What one request got: a status and body, or (status 0) why there was none. */
export interface Answer {
  /** The status code, or 0 when no response came. */
  status: number;
  /** The body (empty when no response came). */
  body: Uint8Array;
  /** The Content-Type header. */
  type: string;
  /** How long the request took, in milliseconds. */
  ms: number;
  /** Why no response came (status 0 only). */
  error?: string;
}

/** Sends one HTTP/1.1 request on a new connection; never throws, never waits past `ms`. */
export async function request(
  ctx: ProbeContext,
  port: number,
  method: string,
  path: string,
  options: { body?: Uint8Array | string; ms?: number } = {},
): Promise<Answer> {
  const got = await ctx.http.request(port, { method, path, body: options.body, ms: options.ms });
  const { status, body, type, ms, error } = got;
  return error === undefined ? { status, body, type, ms } : { status, body, type, ms, error };
}

/** An answer in one line: `404 {"error":…}` or `no response: …`. */
export function showAnswer(a: Answer): string {
  if (a.status === 0) return `no response: ${a.error}`;
  const text = new TextDecoder().decode(a.body.subarray(0, 200));
  return `${a.status} ${text}${a.body.length > 200 ? "…" : ""}`;
}

/** The body parsed as JSON, or undefined. */
export function jsonOf(a: Answer): unknown {
  if (a.status === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(a.body));
  } catch {
    return undefined;
  }
}
