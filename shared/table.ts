import { Arena } from "./arena.ts";

// Layout of the table's own buffer, in 32-bit words: [0] the bucket count, [1] the last item id
// handed out, [2 + b] the first item of bucket b (an arena handle), or 0 for an empty bucket.
// An item is an arena block: five words, then the key's bytes.
const T_BUCKETS = 0;
const T_LAST_ID = 1;
const T_HEADS = 2;
const I_NEXT = 0; // next item in the same bucket, or 0
const I_KEY_LEN = 1;
const I_VALUE = 2; // arena handle of the value's bytes, or 0 before the first setValue
const I_VALUE_LEN = 3;
const I_ID = 4;
const ITEM_WORDS = 5;

/** Default number of buckets, as in the course notes' WeensyDB. */
export const DEFAULT_BUCKETS = 1024;

/**
 * The bucket of `key` in a table of `buckets` buckets: 32-bit FNV-1a of the key's bytes, modulo
 * `buckets`. The same everywhere (server, grader, tests), so anyone can find keys that collide.
 */
export function bucketOf(key: Uint8Array, buckets: number = DEFAULT_BUCKETS): number {
  let h = 0x811c9dc5;
  for (const byte of key) h = Math.imul(h ^ byte, 0x01000193);
  return (h >>> 0) % buckets;
}

/** Options for {@link Table.create}. */
export interface TableOptions {
  /** Number of buckets; default 1024. */
  buckets?: number;
  /** Bytes of shared memory for items and values; default 256 MiB. */
  arenaBytes?: number;
}

/** The shared memory of a table, to send to Workers: rebuild it with `Table.from`. */
export interface TableBuffers {
  /** The bucket heads and the id counter. */
  table: SharedArrayBuffer;
  /** The arena holding items, keys and values. */
  arena: SharedArrayBuffer;
}

/**
 * A hash table of byte-string keys and values in shared memory (`SharedArrayBuffer`), visible to
 * every Worker that rebuilds it with `Table.from(table.buffers)`. It has `buckets` buckets; each
 * is a linked list of items, and an item has a key, a value, and an id fixed when it is inserted.
 * Keys and values live in an `Arena`.
 *
 * NOT THREAD-SAFE. No method locks anything: two threads that touch the same bucket at the same
 * time (one of them writing) corrupt it, and a value read while another thread replaces it may
 * come back torn. The caller locks: for example one mutex per bucket, held across every call
 * that names a key of that bucket, or an item of it, from `find` to the last use of the item.
 *
 * @example
 * ```ts
 * import { Table } from "@course/shared";
 *
 * const table = Table.create({ buckets: 16, arenaBytes: 1 << 16 });
 * const key = new TextEncoder().encode("greeting");
 * const item = table.find(key) ?? table.insert(key);
 * table.setValue(item, new TextEncoder().encode("hello"));
 * console.log(table.bucketOf(key), new TextDecoder().decode(table.value(item)));
 * ```
 */
export class Table {
  #heads: Int32Array;
  #arena: Arena;
  #words: Int32Array;
  #buckets: number;

  private constructor(buffers: TableBuffers) {
    this.#heads = new Int32Array(buffers.table);
    this.#arena = Arena.from(buffers.arena);
    this.#words = this.#arena.words();
    this.#buckets = this.#heads[T_BUCKETS];
  }

  /** A new, empty table. Throws RangeError on a bucket count that is not a positive integer. */
  static create(options: TableOptions = {}): Table {
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (!Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`Cannot create table: ${buckets} buckets is not a positive integer`);
    }
    const table = new SharedArrayBuffer((T_HEADS + buckets) * 4);
    new Int32Array(table)[T_BUCKETS] = buckets;
    const arena = Arena.create(options.arenaBytes ?? 256 * 1024 * 1024).buffer;
    return new Table({ table, arena });
  }

  /** The same table in another thread. */
  static from(buffers: TableBuffers): Table {
    return new Table(buffers);
  }

  /** The shared memory to send to Workers. */
  get buffers(): TableBuffers {
    return { table: this.#heads.buffer as SharedArrayBuffer, arena: this.#arena.buffer };
  }

  /** How many buckets the table has. */
  get buckets(): number {
    return this.#buckets;
  }

  /** The bucket that `key` belongs to (see the function `bucketOf`). */
  bucketOf(key: Uint8Array): number {
    return bucketOf(key, this.#buckets);
  }

  /** The item with `key`, or null. Caller must hold the lock of `key`'s bucket. */
  find(key: Uint8Array): number | null {
    for (let item = this.#heads[T_HEADS + this.bucketOf(key)]; item !== 0;) {
      if (sameBytes(this.#keyView(item), key)) return item;
      item = this.#words[item / 4 + I_NEXT];
    }
    return null;
  }

  /**
   * Adds an item with `key` and an empty value, and returns it; `key` must not be in the table
   * yet. Caller must hold the lock of `key`'s bucket. Throws RangeError when memory runs out.
   */
  insert(key: Uint8Array): number {
    const item = this.#arena.alloc(ITEM_WORDS * 4 + key.length);
    const w = item / 4;
    this.#words[w + I_KEY_LEN] = key.length;
    this.#words[w + I_VALUE] = 0;
    this.#words[w + I_VALUE_LEN] = 0;
    this.#words[w + I_ID] = Atomics.add(this.#heads, T_LAST_ID, 1) + 1;
    this.#arena.bytes(item + ITEM_WORDS * 4, key.length).set(key);
    const head = T_HEADS + this.bucketOf(key);
    this.#words[w + I_NEXT] = this.#heads[head];
    this.#heads[head] = item;
    return item;
  }

  /**
   * Removes the item with `key` and frees its memory; returns its id, or null when absent.
   * Caller must hold the lock of `key`'s bucket.
   */
  remove(key: Uint8Array): number | null {
    let link = T_HEADS + this.bucketOf(key); // where the pointer to `item` is stored
    let links = this.#heads;
    for (let item = links[link]; item !== 0; item = links[link]) {
      if (sameBytes(this.#keyView(item), key)) {
        const id = this.idOf(item);
        links[link] = this.#words[item / 4 + I_NEXT];
        const value = this.#words[item / 4 + I_VALUE];
        if (value !== 0) this.#arena.free(value);
        this.#arena.free(item);
        return id;
      }
      links = this.#words;
      link = item / 4 + I_NEXT;
    }
    return null;
  }

  /** A copy of the item's key. Caller must hold the lock of the item's bucket. */
  keyOf(item: number): Uint8Array {
    return this.#keyView(item).slice();
  }

  /** The item's id, fixed when it was inserted (ids start at 1). */
  idOf(item: number): number {
    return this.#words[item / 4 + I_ID];
  }

  /** A copy of the item's value. Caller must hold the lock of the item's bucket. */
  value(item: number): Uint8Array {
    const handle = this.#words[item / 4 + I_VALUE];
    const length = this.#words[item / 4 + I_VALUE_LEN];
    return handle === 0 ? new Uint8Array() : this.#arena.bytes(handle, length).slice();
  }

  /**
   * Replaces the item's value with a copy of `bytes`. Caller must hold the lock of the item's
   * bucket. Throws RangeError when memory runs out (the old value is kept).
   */
  setValue(item: number, bytes: Uint8Array): void {
    const handle = this.#arena.alloc(bytes.length);
    this.#arena.bytes(handle, bytes.length).set(bytes);
    const old = this.#words[item / 4 + I_VALUE];
    this.#words[item / 4 + I_VALUE] = handle;
    this.#words[item / 4 + I_VALUE_LEN] = bytes.length;
    if (old !== 0) this.#arena.free(old);
  }

  #keyView(item: number): Uint8Array {
    return this.#arena.bytes(item + ITEM_WORDS * 4, this.#words[item / 4 + I_KEY_LEN]);
  }

  /** Swaps the values of two items (their keys and ids stay). Caller must hold both buckets. */
  swapValues(a: number, b: number): void {
    const [wa, wb] = [a / 4, b / 4];
    const [value, length] = [this.#words[wa + I_VALUE], this.#words[wa + I_VALUE_LEN]];
    this.#words[wa + I_VALUE] = this.#words[wb + I_VALUE];
    this.#words[wa + I_VALUE_LEN] = this.#words[wb + I_VALUE_LEN];
    this.#words[wb + I_VALUE] = value;
    this.#words[wb + I_VALUE_LEN] = length;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
