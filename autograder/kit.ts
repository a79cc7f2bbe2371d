/**
 * Everything a kit may use, in one place: a kit's probes (`kits/<kit>/probes.ts`) and its
 * helpers import from this module and from nothing else of the grader (a test checks it).
 *
 * - **Probes**: {@link Probe}, the {@link ProbeContext} `run(ctx)` gets, and {@link Verdict}.
 * - **The toolkit on the context**: `ctx.dial` (a traced {@link Conn}), `ctx.http`,
 *   `ctx.bytes(n)`, `ctx.eventually(...)`, `ctx.startServer({ port })` (restart on a port),
 *   `ctx.runProgram`, `ctx.fail` / `ctx.pass`.
 * - **Bytes**: {@link concat}, {@link sameBytes}, {@link latin1}, {@link showBytes}.
 * - **HTTP**: {@link parseResponse}, {@link parseHead}, {@link curl}.
 * - **Views from /proc** of the submission's processes: {@link viewOf} (processes, threads,
 *   fds, sockets, RSS, CPU of a server and all it started, at once), {@link processTree},
 *   {@link threadCount}, {@link openFdCount}, {@link rssBytes}, {@link cpuTimeMs},
 *   {@link threadCpuMs},
 *   {@link tcpSockets}, ...
 * - **Timing**: {@link delay}, {@link within}, {@link isAlive}; grader-side helper processes
 *   (a fake backend, a peer) with {@link startChild}.
 * - **Checkers**: {@link checkOperations} (linearizability) and its model types.
 *
 * @example A probe
 * ```ts
 * import type { Probe } from "./kit.ts";
 *
 * export const greets: Probe = {
 *   name: "greets",
 *   title: "The server answers hello with hello",
 *   points: 1,
 *   visibility: "visible",
 *   deadlineMs: 10_000,
 *   hint: "README.md §2 The protocol",
 *   async run(ctx) {
 *     const server = await ctx.startServer();
 *     using conn = await ctx.dial(server.port);
 *     await conn.send("hello\n");
 *     const line = await conn.readLine({ ms: 2_000 });
 *     if (line === "hello") return ctx.pass();
 *     return ctx.fail({ what: "sent hello, expected it back", expected: "hello", got: line ?? "" });
 *   },
 * };
 * ```
 *
 * @module
 */

export type {
  FailParts,
  Leaderboard,
  LeaderboardEntry,
  Probe,
  ProbeContext,
  ProgramOptions,
  ProgramResult,
  ServerHandle,
  ServerOptions,
  Submission,
  Verdict,
  Visibility,
} from "./harness/probe.ts";
export { gatedBy } from "./harness/probe.ts";
export { Conn, type DialOptions, indexOf, type Received } from "./toolkit/conn.ts";
export type { Entry, Manifest } from "./harness/manifest.ts";
export {
  concat,
  firstDifference,
  latin1,
  sameBytes,
  seededBytes,
  showAround,
  showBytes,
  toBytes,
} from "./toolkit/bytes.ts";
export {
  curl,
  type CurlResult,
  encodeRequest,
  haveCurl,
  type HttpAnswer,
  type HttpHead,
  type HttpRequest,
  type HttpResponse,
  type HttpToolkit,
  KeepAlive,
  parseHead,
  parseResponse,
} from "./toolkit/http.ts";
export type { Eventually, EventuallyOptions } from "./toolkit/wait.ts";
export {
  type LoadFigures,
  type LoadSpec,
  measureLoad,
  memoryPerConnection,
  type ProtocolSpec,
} from "./toolkit/load.ts";
export {
  allPids,
  capabilities,
  cpuTimeMs,
  type Endpoint,
  establishedTo,
  listenerOn,
  listeningPorts,
  openFdCount,
  processGroup,
  processState,
  processTree,
  type ProcessView,
  type ProcStat,
  readStat,
  rssBytes,
  socketInodesOf,
  socketOwners,
  TCP_ESTABLISHED,
  TCP_LISTEN,
  type TcpSocket,
  tcpSockets,
  threadCount,
  threadCpuMs,
  threadNames,
  viewOf,
  zombieChildren,
} from "./observe/proc.ts";
export type {
  LaneLog,
  ProbeTrace,
  ProcessLane,
  TraceEvent,
  TraceKind,
  TraceLane,
  TraceRecorder,
} from "./observe/trace.ts";
export {
  type CappedBuffer,
  type ChildHandle,
  delay,
  isAlive,
  startChild,
  type StartOptions,
  type StopReport,
  within,
} from "./harness/process.ts";
export { freePort } from "./harness/context.ts";
export { REPO_ROOT } from "./harness/submission.ts";
export {
  checkOperations,
  type CheckOptions,
  type CheckResult,
  type Explanation,
  type Model,
  type Operation,
  type Verdict as HistoryVerdict,
} from "./check/linearizability.ts";
