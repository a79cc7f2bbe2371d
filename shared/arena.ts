import { lockWord, unlockWord } from "./mutex.ts";

// Layout, in 32-bit words: [0] the allocator's own lock, [1] the bump pointer (byte offset of
// never-used memory), [2 + c] the first free block of size class c, or 0 when there is none.
// Blocks are 2^c bytes, 8-aligned: word 0 holds c, word 1 the next free block (when free) or
// IN_USE. A handle is the byte offset of a block's payload, just after that 8-byte header.
// Must hold the word-0 lock when touching the bump pointer, the free lists, or a free block.
const LOCK = 0;
const BUMP = 1;
const FREE = 2;
const CLASSES = 32;
const HEADER_BYTES = (FREE + CLASSES) * 4;
const BLOCK_HEADER = 8;
const MIN_CLASS = 4; // 16-byte blocks: 8 of header, 8 of payload
const IN_USE = -0x55aa;

/**
 * A thread-safe memory allocator over one `SharedArrayBuffer`, so that variable-size data (keys,
 * values) can live in memory every Worker sees. `alloc(n)` returns a handle, a number that means
 * the same bytes in every thread; `bytes(handle, n)` is a view of them; `free(handle)` gives them
 * back. The allocator locks internally (its own lock, outside any lock order you keep), but the
 * bytes of a block are yours: if two threads may touch one block, you must lock.
 *
 * Blocks come in power-of-two size classes from 16 bytes up, each class with its own free list,
 * so freed memory is reused quickly (a freed block may be handed out again at once: reading a
 * block after freeing it reads someone else's data).
 *
 * @example
 * ```ts
 * import { Arena } from "@course/shared";
 *
 * const arena = Arena.create(1 << 20);
 * const h = arena.alloc(5);
 * arena.bytes(h, 5).set(new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(arena.bytes(h, 5).slice())); // "hello"
 * arena.free(h);
 * ```
 */
export class Arena {
  #words: Int32Array;
  #bytes: Uint8Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer);
    this.#bytes = new Uint8Array(buffer);
  }

  /**
   * A new arena of `size` bytes (rounded up to a multiple of 8; memory the OS only commits as
   * it is first used). Throws RangeError when `size` is not a positive integer below 2 GiB.
   */
  static create(size: number): Arena {
    if (!Number.isInteger(size) || size < 1 || size > 0x7fff_0000) {
      throw new RangeError(`Cannot create arena: size ${size} is not from 1 byte to 2 GiB`);
    }
    const buffer = new SharedArrayBuffer(HEADER_BYTES + Math.ceil(size / 8) * 8);
    const arena = new Arena(buffer);
    arena.#words[BUMP] = HEADER_BYTES;
    return arena;
  }

  /** The same arena in another thread, from the `buffer` of one made by `create`. */
  static from(buffer: SharedArrayBuffer): Arena {
    return new Arena(buffer);
  }

  /** The shared memory to send to Workers. */
  get buffer(): SharedArrayBuffer {
    return this.#words.buffer as SharedArrayBuffer;
  }

  /** A handle to at least `n` bytes. Throws RangeError when the arena has no room. */
  alloc(n: number): number {
    const c = classFor(n);
    lockWord(this.#words, LOCK);
    try {
      let block = this.#words[FREE + c];
      if (block !== 0) {
        this.#words[FREE + c] = this.#words[block / 4 + 1];
      } else {
        block = this.#words[BUMP];
        if (block + 2 ** c > this.#bytes.length) {
          throw new RangeError(`Cannot allocate ${n} bytes: the arena is full`);
        }
        this.#words[BUMP] = block + 2 ** c;
        this.#words[block / 4] = c;
      }
      this.#words[block / 4 + 1] = IN_USE;
      return block + BLOCK_HEADER;
    } finally {
      unlockWord(this.#words, LOCK);
    }
  }

  /** Gives back the block of `handle`. Throws TypeError when it is not an allocated block. */
  free(handle: number): void {
    const block = handle - BLOCK_HEADER;
    lockWord(this.#words, LOCK);
    try {
      if (block < HEADER_BYTES || block % 8 !== 0 || this.#words[block / 4 + 1] !== IN_USE) {
        throw new TypeError(`Cannot free handle ${handle}: not an allocated block`);
      }
      const c = this.#words[block / 4];
      this.#words[block / 4 + 1] = this.#words[FREE + c];
      this.#words[FREE + c] = block;
    } finally {
      unlockWord(this.#words, LOCK);
    }
  }

  /** How many bytes the block of `handle` can hold (at least what `alloc` was asked for). */
  capacity(handle: number): number {
    return 2 ** this.#words[(handle - BLOCK_HEADER) / 4] - BLOCK_HEADER;
  }

  /** A view of `n` bytes of the block of `handle` (shared memory: copy with `.slice()`). */
  bytes(handle: number, n: number): Uint8Array {
    return this.#bytes.subarray(handle, handle + n);
  }

  /** The whole arena as 32-bit words (handles are 8-aligned: a block's words start at handle / 4). */
  words(): Int32Array {
    return this.#words;
  }
}

/** The size class (log2 of the block size) that fits `n` payload bytes. */
function classFor(n: number): number {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Cannot allocate ${n} bytes: not a non-negative integer`);
  }
  return Math.max(MIN_CLASS, Math.ceil(Math.log2(n + BLOCK_HEADER)));
}
