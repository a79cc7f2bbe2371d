/**
 * The request bytes and the response counters of the protocols the load generator speaks: echo,
 * WeensyDB's text GET/SET, memcached's text get/set (the same shape, other fields), and HTTP GET.
 * A counter is fed whatever bytes one read returned and says how many whole responses they
 * completed; it never assumes a read holds exactly one response, and it never decodes a value's
 * body (bodies are bytes, skipped by their announced length).
 *
 * @module
 */

/** Which protocol, which operation, and how big a value or message. Plain JSON. */
export interface ProtocolSpec {
  /** The protocol spoken. */
  kind: "echo" | "weensydb" | "memcached" | "http";
  /** For weensydb and memcached: GET (of keys set beforehand) or SET. */
  op?: "get" | "set";
  /** Bytes of an echo message or of a value. */
  size?: number;
  /** For http: the path to GET. */
  path?: string;
  /** For http: the server closes after each response (HTTP/1.0), so each request reconnects. */
  close?: boolean;
  /** How many different keys the requests cycle through. */
  keys?: number;
}

/** Counts whole responses in a byte stream; `errors` counts error replies among them. */
export interface ResponseCounter {
  /** Consumes one read's bytes; returns how many responses they completed. */
  feed(chunk: Uint8Array): number;
  /** Called at end of file; returns responses that the end completed (HTTP without a length). */
  end(): number;
  errors: number;
}

/** A protocol ready for the generator. */
export interface Protocol {
  spec: ProtocolSpec;
  /** Requests to cycle through, already encoded. */
  requests: Uint8Array[];
  /** Requests to send once, before measuring (the SETs a GET benchmark reads back). */
  preload: Uint8Array[];
  /** True when the server closes after each response, so every request needs a new connection. */
  reconnect: boolean;
  counter(): ResponseCounter;
}

const encoder = new TextEncoder();
const CR = 13, LF = 10;

/** Builds the protocol described by `spec`; throws RangeError for a size out of range. */
export function makeProtocol(spec: ProtocolSpec): Protocol {
  const size = spec.size ?? 100;
  if (!Number.isInteger(size) || size < 1 || size > 1 << 20) {
    throw new RangeError(`Cannot build protocol ${spec.kind}: bad size ${size}`);
  }
  const keys = Array.from({ length: spec.keys ?? 100 }, (_, i) => `key:${i}`);
  const value = valueBytes(size);
  switch (spec.kind) {
    case "echo":
      return plain(spec, [value], () => echoCounter(size));
    case "weensydb":
    case "memcached": {
      const kind = spec.kind;
      const sets = keys.map((k) => kvSet(kind, k, value));
      const gets = keys.map((k) =>
        encoder.encode(spec.kind === "weensydb" ? `GET ${k}\r\n` : `get ${k}\r\n`)
      );
      const get = spec.op !== "set";
      const lengthField = spec.kind === "weensydb" ? 2 : 3;
      return {
        ...plain(spec, get ? gets : sets, () => kvCounter(lengthField)),
        preload: get ? sets : [],
      };
    }
    case "http": {
      const req = encoder.encode(`GET ${spec.path ?? "/"} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      return { ...plain(spec, [req], httpCounter), reconnect: spec.close === true };
    }
  }
}

function plain(
  spec: ProtocolSpec,
  requests: Uint8Array[],
  counter: () => ResponseCounter,
): Protocol {
  return { spec, requests, preload: [], reconnect: false, counter };
}

/** Printable bytes, so a value seen in a trace reads as text; the servers treat them as bytes. */
function valueBytes(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => 97 + (i % 26));
}

function kvSet(kind: "weensydb" | "memcached", key: string, value: Uint8Array): Uint8Array {
  const head = kind === "weensydb"
    ? `SET ${key} ${value.length}\r\n`
    : `set ${key} 0 0 ${value.length}\r\n`;
  const tail = kind === "weensydb" ? "" : "\r\n"; // WeensyDB reads exactly nbytes; memcached wants CRLF
  return concatBytes([encoder.encode(head), value, encoder.encode(tail)]);
}

/** Joins byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

/** Echo: a response is `size` bytes back, however the reads split them. */
export function echoCounter(size: number): ResponseCounter {
  let carry = 0;
  return {
    errors: 0,
    feed(chunk) {
      carry += chunk.length;
      const done = Math.floor(carry / size);
      carry -= done * size;
      return done;
    },
    end: () => 0,
  };
}

/** Keeps the bytes of an unfinished line between reads. */
function joinCarry(carry: Uint8Array, chunk: Uint8Array): Uint8Array {
  return carry.length === 0 ? chunk : concatBytes([carry, chunk]);
}

/**
 * WeensyDB and memcached text replies: `VALUE ... n ...` CRLF, n bytes, CRLF, then `END`; or one
 * line (`STORED`, `END`, or an error). `lengthField` is the index of n among the VALUE line's words
 * (2 for WeensyDB's `VALUE key n #id`, 3 for memcached's `VALUE key flags n`).
 */
export function kvCounter(lengthField: number): ResponseCounter {
  let carry = new Uint8Array(0);
  let skip = 0; // body bytes (and their CRLF) still to pass over
  const decoder = new TextDecoder();
  const counter: ResponseCounter = {
    errors: 0,
    feed(chunk) {
      const buf = joinCarry(carry, chunk);
      let at = 0, done = 0;
      while (at < buf.length) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length - at);
          skip -= n, at += n;
          continue;
        }
        const nl = buf.indexOf(LF, at);
        if (nl < 0) break;
        const c0 = buf[at], c1 = buf[at + 1];
        if (c0 === 86 /* V */) {
          const words = decoder.decode(buf.subarray(at, nl)).trim().split(" ");
          skip = Number(words[lengthField]) + 2;
        } else {
          done++;
          const ok = (c0 === 69 && c1 === 78) /* END */ || (c0 === 83 && c1 === 84); /* STORED */
          if (!ok) counter.errors++;
        }
        at = nl + 1;
      }
      carry = buf.slice(at);
      return done;
    },
    end: () => 0,
  };
  return counter;
}

/** Finds CRLF CRLF at or after `from`, or -1. */
function headerEnd(buf: Uint8Array, from: number): number {
  for (let i = buf.indexOf(CR, from); i >= 0 && i + 3 < buf.length; i = buf.indexOf(CR, i + 1)) {
    if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
  }
  return -1;
}

/**
 * HTTP/1.x responses: status line and headers, then a body of Content-Length bytes; without a
 * Content-Length the body runs to end of file. A status of 400 or more counts as an error.
 */
export function httpCounter(): ResponseCounter {
  let carry = new Uint8Array(0);
  let skip = 0;
  let toEof = false; // inside a body that has no length
  const decoder = new TextDecoder();
  const counter: ResponseCounter = {
    errors: 0,
    feed(chunk) {
      if (toEof) return 0;
      const buf = joinCarry(carry, chunk);
      let at = 0, done = 0;
      while (at < buf.length && !toEof) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length - at);
          skip -= n, at += n;
          if (skip === 0) done++;
          continue;
        }
        const end = headerEnd(buf, at);
        if (end < 0) break;
        const head = decoder.decode(buf.subarray(at, end));
        if (Number(head.slice(9, 12)) >= 400) counter.errors++;
        const length = head.match(/\r\ncontent-length:\s*(\d+)/i);
        at = end + 4;
        if (length === null) toEof = true;
        else if ((skip = Number(length[1])) === 0) done++;
      }
      carry = toEof ? new Uint8Array(0) : buf.slice(at);
      return done;
    },
    end() {
      const done = toEof ? 1 : 0;
      toEof = false;
      return done;
    },
  };
  return counter;
}
