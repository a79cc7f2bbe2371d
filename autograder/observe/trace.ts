/**
 * A recorder of what the grader's side did during one probe, as plain data: for each connection
 * it opened (connect, send, receive, half-close, end of file, close, error) and for each student
 * process it started (start, ready, exit), with times in ms since the probe started. The HTML
 * report draws it as a timeline, so a student can see a server that serves one client at a
 * time, a deadlock or a stall.
 *
 * Each probe's context owns its recorder: the runner makes one per probe run and finishes it
 * after the probe's cleanup. Connections made with the context's `dial` (the toolkit's `Conn`)
 * and the processes started by `startServer`/`runProgram` record into it. There is no global
 * trace: two probes run at once (in tests, say) never record into each other's.
 *
 * Cost stays small however chatty a probe is: consecutive events of the same kind on a
 * connection are merged into one (bytes and count added up), and each connection keeps only its
 * first and last {@link EVENTS_KEPT} events; the ones in between are counted, not kept.
 *
 * @example
 * ```ts
 * import { TraceRecorder } from "./trace.ts";
 * const recorder = new TraceRecorder();
 * const lane = recorder.connection("port 40123 → 40001");
 * lane?.add("connect");
 * lane?.add("send", 5);
 * recorder.finish(); // { connections: [{ id: 1, label: "port 40123 → 40001", events: [...] }], ... }
 * ```
 *
 * @module
 */

/** What happened on a connection or to a process. */
export type TraceKind =
  | "connect"
  | "send"
  | "receive"
  | "half-close"
  | "eof"
  | "timeout"
  | "close"
  | "error"
  | "start"
  | "ready"
  | "exit";

/** One event, or a run of consecutive events of the same kind merged into one. */
export interface TraceEvent {
  /** What happened. */
  kind: TraceKind;
  /** ms since the probe started (of the first event, when merged). */
  at: number;
  /** ms since the probe started of the last merged event; absent when only one. */
  until?: number;
  /** Bytes moved (send, receive), added up over the merged events. */
  bytes?: number;
  /** How many events were merged; absent when only one. */
  count?: number;
  /** An error message, an exit status, ... */
  detail?: string;
}

/** A lane of the timeline: a grader-side connection or a student process. */
export interface TraceLane {
  /** 1, 2, ... in the order the lanes were opened (connections and processes counted apart). */
  id: number;
  /** For humans: "port 40123 → 40001", "server (pid 812)". */
  label: string;
  /** The first and the last events kept, in time order. */
  events: TraceEvent[];
  /** Events left out between the first and the last ones kept. */
  dropped: number;
  /** When some were left out: the index in `events` of the last one before them. */
  gapAfter?: number;
}

/** A probe's trace, as plain data. */
export interface ProbeTrace {
  /** The grader's connections, in the order they were opened. */
  connections: TraceLane[];
  /** The student's processes the probe started, in order. */
  processes: TraceLane[];
  /** Connections opened past {@link LANES_KEPT}, counted, not recorded. */
  droppedConnections: number;
  /** ms from the start of the probe to {@link TraceRecorder.finish}. */
  ms: number;
}

/** Events kept at each end of a lane. */
export const EVENTS_KEPT = 100;

/** Connections recorded per probe. */
export const LANES_KEPT = 500;

/** Where a lane's events go: the first ones, then a ring of the latest ones. */
export class LaneLog {
  /** The lane being recorded: the first events, and the count of those left out. */
  readonly lane: TraceLane;
  readonly #recorder: TraceRecorder;
  #ring: TraceEvent[] = [];
  #next = 0;
  #closed = false;

  /** A log for `lane`, which records while `recorder` is not finished. */
  constructor(recorder: TraceRecorder, lane: TraceLane) {
    this.#recorder = recorder;
    this.lane = lane;
  }

  /** Records an event, merging it into the previous one when they are of the same kind. */
  add(kind: TraceKind, bytes?: number, detail?: string): void {
    if (this.#recorder.finished || this.#closed) return; // a write failing after close, say
    if (kind === "close") this.#closed = true;
    if ((kind === "receive" && (bytes ?? 0) > 0) || kind === "eof" || kind === "error") {
      this.#recorder.heardBack();
    }
    const at = this.#recorder.now();
    const last = this.#last();
    if (last !== undefined && last.kind === kind && detail === undefined && kind !== "exit") {
      last.until = at;
      last.count = (last.count ?? 1) + 1;
      if (bytes !== undefined) last.bytes = (last.bytes ?? 0) + bytes;
      return;
    }
    const event: TraceEvent = { kind, at };
    if (bytes !== undefined) event.bytes = bytes;
    if (detail !== undefined) event.detail = detail;
    const { events } = this.lane;
    if (events.length < EVENTS_KEPT) events.push(event);
    else if (this.#ring.length < EVENTS_KEPT) this.#ring.push(event);
    else {
      this.#ring[this.#next] = event;
      this.#next = (this.#next + 1) % EVENTS_KEPT;
      this.lane.dropped++;
    }
  }

  #last(): TraceEvent | undefined {
    if (this.#ring.length === 0) return this.lane.events.at(-1);
    return this.#ring[(this.#next + this.#ring.length - 1) % this.#ring.length];
  }

  /** The lane with the ring appended in time order. */
  snapshot(): TraceLane {
    const ring = [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    const lane: TraceLane = { ...this.lane, events: [...this.lane.events, ...ring] };
    if (lane.dropped > 0) lane.gapAfter = this.lane.events.length - 1;
    return lane;
  }
}

/** Records one probe's trace; made by {@link startTrace}. */
export class TraceRecorder {
  readonly #t0 = performance.now();
  readonly #connections: LaneLog[] = [];
  readonly #processes: LaneLog[] = [];
  #droppedConnections = 0;
  #finished: ProbeTrace | undefined;
  #ready = false;
  #exited = false;
  #heard = false;

  /**
   * Whether the probe got any sign of life from the student: a server it started became ready
   * or exited, or a connection received a byte, an end of file or an error. The runner uses it
   * to tell a silent server (it never listens, or accepts and never answers) from one that
   * answers wrongly or fails fast.
   */
  get signs(): { ready: boolean; exited: boolean; heard: boolean } {
    return { ready: this.#ready, exited: this.#exited, heard: this.#heard };
  }

  /** Called by a connection's lane when the other side sent something, closed or reset. */
  heardBack(): void {
    this.#heard = true;
  }

  /** ms since the probe started, to 0.01 ms. */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 100) / 100;
  }

  /** True once {@link finish} ran: later events (a read left pending, say) are ignored. */
  get finished(): boolean {
    return this.#finished !== undefined;
  }

  /** Opens a connection lane; undefined past {@link LANES_KEPT}. */
  connection(label: string): LaneLog | undefined {
    if (this.#connections.length >= LANES_KEPT) {
      this.#droppedConnections++;
      return undefined;
    }
    const log = new LaneLog(this, {
      id: this.#connections.length + 1,
      label,
      events: [],
      dropped: 0,
    });
    this.#connections.push(log);
    return log;
  }

  /** Opens a process lane. */
  process(label: string): LaneLog {
    const log = new LaneLog(this, {
      id: this.#processes.length + 1,
      label,
      events: [],
      dropped: 0,
    });
    this.#processes.push(log);
    return log;
  }

  /**
   * Opens a process lane that records "start" now; the caller records "ready" and "exit".
   */
  startProcess(label: string): ProcessLane {
    const log = this.process(label);
    log.add("start");
    const ready = () => {
      this.#ready = true;
      log.add("ready");
    };
    const exit = (detail: string) => {
      if (!this.finished) this.#exited = true;
      log.add("exit", undefined, detail);
    };
    return { ready, exit };
  }

  /** Stops recording and returns the trace; later events are ignored. */
  finish(): ProbeTrace {
    this.#finished ??= {
      connections: this.#connections.map((l) => l.snapshot()),
      processes: this.#processes.map((l) => l.snapshot()),
      droppedConnections: this.#droppedConnections,
      ms: this.now(),
    };
    return this.#finished;
  }
}

/** A process lane's recorder: its "ready" and its "exit" with the status. */
export interface ProcessLane {
  /** Records that it is ready (listening). */
  ready(): void;
  /** Records its exit: "exit code 1", "signal SIGKILL". */
  exit(detail: string): void;
}
