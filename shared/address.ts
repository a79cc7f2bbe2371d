import { AF_INET, AF_INET6 } from "./constants.ts";

/**
 * A socket address: an IP literal and a TCP port. `host` is an IPv4 dotted quad (`"127.0.0.1"`)
 * or an IPv6 literal without brackets (`"::1"`, `"2001:db8::7"`, full eight-group forms too);
 * `"localhost"` is accepted as input and means `127.0.0.1`. No name lookup ever happens. Addresses
 * that come back from the kernel (`getsockname`, `getpeername`) use the canonical spelling:
 * dotted quad for IPv4, RFC 5952 compressed lower-case form for IPv6.
 */
export interface SockAddr {
  /** IPv4 dotted quad or IPv6 literal, such as `"127.0.0.1"` or `"::1"`. */
  host: string;
  /** TCP port, 0..65535; 0 asks the kernel for an ephemeral port on bind. */
  port: number;
}

/** Size in bytes of `struct sockaddr_in` (IPv4). */
export const SOCKADDR_IN_SIZE = 16;
/** Size in bytes of `struct sockaddr_in6` (IPv6). */
export const SOCKADDR_IN6_SIZE = 28;

function invalidHost(host: string): TypeError {
  return new TypeError(
    `Invalid host ${JSON.stringify(host)}: expected an IPv4 dotted quad, an IPv6 literal ` +
      `or "localhost" (no name lookup is done)`,
  );
}

function parseIPv4(host: string): Uint8Array | null {
  const parts = host.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    // Leading zeros are refused: inet_aton would read "010" as octal 8, which surprises people.
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null;
    bytes[i] = Number(part);
  }
  return bytes;
}

// Groups of an IPv6 half; an embedded IPv4 tail ("::ffff:1.2.3.4") only if `v4Tail`.
function parseGroups(text: string, v4Tail: boolean): number[] | null {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  for (const [i, part] of parts.entries()) {
    const v4 = v4Tail && i === parts.length - 1 ? parseIPv4(part) : null;
    if (v4 !== null) {
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return groups;
}

function parseIPv6(host: string): Uint8Array | null {
  const halves = host.split("::");
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1], true) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function parseHost(host: string): { family: number; bytes: Uint8Array } {
  if (typeof host !== "string") throw invalidHost(String(host));
  if (host === "localhost") return { family: AF_INET, bytes: new Uint8Array([127, 0, 0, 1]) };
  const v4 = parseIPv4(host);
  if (v4 !== null) return { family: AF_INET, bytes: v4 };
  const v6 = host.includes(":") ? parseIPv6(host) : null;
  if (v6 !== null) return { family: AF_INET6, bytes: v6 };
  throw invalidHost(host);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Invalid port ${port}: expected an integer in 0..65535`);
  }
}

function formatIPv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join(".")}`; // IPv4-mapped, as RFC 5952 asks
  }
  // RFC 5952: compress the longest run (first on a tie) of two or more zero groups.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * The address family (`AF_INET` or `AF_INET6`) a host literal belongs to, which is the family
 * to pass to `socket` before binding or connecting to it. Throws TypeError for anything that is
 * not an IP literal or `"localhost"`.
 */
export function addressFamily(host: string): number {
  return parseHost(host).family;
}

/**
 * Encode an address as the C struct the kernel expects: `sockaddr_in` (16 bytes) for IPv4,
 * `sockaddr_in6` (28 bytes) for IPv6. The family is stored in host byte order, the port and the
 * address in network byte order (big-endian). Throws TypeError for a bad host, RangeError for
 * a bad port.
 */
export function encodeSockAddr(addr: SockAddr): Uint8Array {
  checkPort(addr.port);
  const { family, bytes } = parseHost(addr.host);
  const out = new Uint8Array(family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, addr.port, false);
  out.set(bytes, family === AF_INET ? 4 : 8); // sockaddr_in6 has a 4-byte flowinfo first
  return out;
}

/**
 * Decode a `sockaddr_in` or `sockaddr_in6` filled in by the kernel (from `accept`,
 * `getsockname` or `getpeername`) into a `SockAddr` with a canonical host spelling. Throws
 * TypeError for any other address family, or a buffer too short for its family.
 */
export function decodeSockAddr(buf: Uint8Array): SockAddr {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = buf.length >= 2 ? view.getUint16(0, true) : -1;
  if (family === AF_INET && buf.length >= SOCKADDR_IN_SIZE) {
    return { host: buf.subarray(4, 8).join("."), port: view.getUint16(2, false) };
  }
  if (family === AF_INET6 && buf.length >= SOCKADDR_IN6_SIZE) {
    return { host: formatIPv6(buf.subarray(8, 24)), port: view.getUint16(2, false) };
  }
  throw new TypeError(`Cannot decode socket address: family ${family}, ${buf.length} bytes`);
}

/**
 * Format an address for messages and logs: `127.0.0.1:7000`, or `[::1]:7000` for IPv6 (the
 * brackets keep the port apart from the colons of the address).
 */
export function formatSockAddr(addr: SockAddr): string {
  return addr.host.includes(":") ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}
