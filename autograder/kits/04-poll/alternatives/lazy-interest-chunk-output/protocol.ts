/**
 * WeensyDB for an event loop: the same protocol as 03, but a command is taken from a buffer of
 * bytes that may hold half a command, one, or thousands. `takeCommand` never waits: when the
 * buffer does not yet hold a whole command it says so, and the caller reads more later.
 *
 * One thread runs everything, so the store is a plain Map and needs no lock.
 *
 * @module
 */

/** Longest key, in bytes. */
export const MAX_KEY = 250;
/** Largest value, in bytes (1 MiB). */
export const MAX_VALUE = 1024 * 1024;
/** Longest command line, in bytes, without its CRLF. */
export const MAX_LINE = 1024;

/** The database: key (bytes as 8-bit text) to value and id. */
export interface Store {
  items: Map<string, { value: Uint8Array; id: number }>;
  nextId: number;
}

/** An empty store. */
export function createStore(): Store {
  return { items: new Map(), nextId: 1 };
}

/** What one command did: bytes of input it used, its reply, and what happens next. */
export interface Step {
  /** Bytes taken from the front of the buffer. */
  used: number;
  /** The reply (empty for a blank line). */
  reply: Uint8Array;
  /** Bytes of body still to throw away (an over-limit SET), beyond `used`. */
  skip: number;
  /** The connection ends after the reply (QUIT, or a line too long to follow). */
  close: boolean;
}

const EMPTY = new Uint8Array(0);

/** Bytes as 8-bit text: keys and protocol lines are bytes, not UTF-8. */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

function line(text: string): Uint8Array {
  return Uint8Array.from(text + "\r\n", (c) => c.charCodeAt(0));
}

function keyOk(key: string): boolean {
  return key.length >= 1 && key.length <= MAX_KEY;
}

function reply(used: number, bytes: Uint8Array, close = false): Step {
  return { used, reply: bytes, skip: 0, close };
}

/**
 * Takes the first complete command from `input`, runs it on `store`, and says what it used and
 * what to reply. Returns null when `input` holds only part of a command: keep the bytes and call
 * again when more arrive (a command may come one byte at a time).
 */
export function takeCommand(input: Uint8Array, store: Store): Step | null {
  const nl = input.indexOf(0x0a);
  if (nl < 0) {
    // No end of line yet: wait for it, unless the line is already too long to be a command.
    return input.length > MAX_LINE + 1 ? reply(input.length, EMPTY, true) : null;
  }
  const end = nl > 0 && input[nl - 1] === 0x0d ? nl - 1 : nl; // the line without its CRLF
  if (end > MAX_LINE) return reply(nl + 1, EMPTY, true);
  const text = latin1(input.subarray(0, end)).trim();
  const used = nl + 1;
  if (text === "") return reply(used, EMPTY); // blank lines are ignored
  const [command, ...args] = text.split(/ +/);
  if (command.startsWith("Q")) return reply(used, EMPTY, true);
  if (command === "SET" && args.length === 2) return set(input, used, args, store);
  return reply(used, run(command, args, store));
}

/** SET: waits for the whole body; an over-limit body is skipped as it arrives, not kept. */
function set(input: Uint8Array, used: number, [key, count]: string[], store: Store): Step | null {
  const n = /^\d{1,10}$/.test(count) ? Number(count) : -1;
  if (n < 0) return reply(used, line("ERROR"));
  if (n > MAX_VALUE || !keyOk(key)) return { used, reply: line("ERROR"), skip: n, close: false };
  if (input.length < used + n) return null; // the body has not all arrived
  const value = input.slice(used, used + n); // a copy: the input buffer is reused
  const item = store.items.get(key);
  const id = item?.id ?? store.nextId++;
  store.items.set(key, { value, id });
  return reply(used + n, line(`STORED #${id}`));
}

/** GET, DELETE, EXCH, or ERROR for anything else. */
function run(command: string, args: string[], store: Store): Uint8Array {
  const { items } = store;
  if (command === "GET" && args.length === 1 && keyOk(args[0])) {
    const item = items.get(args[0]);
    if (item === undefined) return line("END");
    const header = line(`VALUE ${args[0]} ${item.value.length} #${item.id}`);
    return concat([header, item.value, line(""), line("END")]);
  }
  if (command === "DELETE" && args.length === 1 && keyOk(args[0])) {
    const item = items.get(args[0]);
    items.delete(args[0]);
    return line(item === undefined ? "NOT_FOUND" : `DELETED #${item.id}`);
  }
  if (command === "EXCH" && args.length === 2 && args.every(keyOk)) {
    const [a, b] = [items.get(args[0]), items.get(args[1])];
    if (a === undefined || b === undefined) return line("NOT_FOUND");
    [a.value, b.value] = [b.value, a.value];
    return line(`EXCHANGED #${a.id} #${b.id}`);
  }
  return line("ERROR");
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/**
 * A growable queue of bytes: append at the back, consume from the front, without copying the
 * whole queue on every call. Each connection has two: its input and its output.
 */
export class ByteQueue {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;

  /** Bytes queued. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** The queued bytes (a view: valid until the next append or consume). */
  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Appends a copy of `bytes`. */
  append(bytes: Uint8Array): void {
    if (this.#end + bytes.length > this.#buf.length) this.#makeRoom(bytes.length);
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** Drops `n` bytes from the front. */
  consume(n: number): void {
    this.#start += Math.min(n, this.length);
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buf.length > 64 * 1024) this.#buf = new Uint8Array(0); // give big buffers back
    }
  }

  /**
   * Slides the bytes to the front when that makes room and moves no more than were consumed
   * (so appends stay cheap on average), else moves them to a bigger buffer.
   */
  #makeRoom(more: number): void {
    const length = this.length;
    if (length + more <= this.#buf.length && this.#start >= length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(length + more, this.#buf.length * 2, 4096));
      bigger.set(this.view());
      this.#buf = bigger;
    }
    [this.#start, this.#end] = [0, length];
  }
}
