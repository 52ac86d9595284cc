/**
 * A bounded read window over a stream of chunks: the buffer a framed-record reader (TFRecord
 * today) parses frames from.
 *
 * Frames are parsed in place from the chunk the stream handed over. Only a frame that straddles
 * two chunks is assembled in a scratch buffer owned by the window, and only that frame's bytes
 * are copied there (the rest of the next chunk is parsed in place again). The window asks for
 * the next chunk only when it needs it: reading ahead, so that I/O overlaps the parsing, is the
 * stream's own work (`fileByteSource` keeps one chunk read ahead, an HTTP body buffers in
 * undici), and asking early here as well would hold a third chunk. So the window holds at most
 * one frame (the scratch) plus the chunk it parses, and its stream one more: the bound documented
 * on `fromTFRecord`.
 *
 * A chunk is used only until the next one is asked for (the head of a straddling frame is copied
 * out first), so the window also reads streams that reuse their buffers, as `fileByteSource`'s
 * internal one does for local files.
 *
 * Views returned by {@link ByteWindow.view} are valid until the next call that moves the window:
 * callers copy what they keep.
 *
 * @module
 * @internal
 */
const EMPTY = new Uint8Array(0);

/** @internal */
export class ByteWindow {
  readonly #chunks: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  #end = 0;
  /** Owned buffer where straddling frames are assembled; kept for reuse (the largest frame seen). */
  #scratch: Uint8Array = EMPTY;
  /** The rest of a chunk whose head went into the scratch buffer. */
  #pending: Uint8Array | undefined;
  /** Bytes still to drop from the stream (a skipped frame larger than what was buffered). */
  #discard = 0;
  #eof = false;
  /** Offset in the stream of the byte at `#pos`. */
  offset: number;

  constructor(chunks: AsyncIterable<Uint8Array>, offset: number) {
    this.#chunks = chunks[Symbol.asyncIterator]();
    this.offset = offset;
  }

  /** True once the stream ended; {@link ByteWindow.available} bytes are all that is left. */
  get eof(): boolean {
    return this.#eof;
  }

  /** True when the stream ended while bytes to skip were still owed: the skipped frame was cut. */
  get endedInsideSkip(): boolean {
    return this.#eof && this.#discard > 0;
  }

  /** Bytes readable now without waiting. */
  available(): number {
    return this.#end - this.#pos;
  }

  /** The buffer holding the available bytes, and where they start in it. */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  get position(): number {
    return this.#pos;
  }

  /** Move past `n` available bytes. */
  consume(n: number): void {
    this.#pos += n;
    this.offset += n;
  }

  /** Move past `n` bytes, some of which may not have arrived yet (they are dropped unread). */
  skip(n: number): void {
    const available = this.#end - this.#pos;
    this.offset += n;
    if (n <= available) {
      this.#pos += n;
      return;
    }
    this.#pos = this.#end;
    this.#discard += n - available;
  }

  /**
   * Wait until `n` contiguous bytes are available, or the stream ends (then fewer are).
   * @returns Whether `n` bytes are available.
   */
  async fill(n: number): Promise<boolean> {
    while (this.#end - this.#pos < n) {
      const have = this.#end - this.#pos;
      if (have > 0 && this.#buf !== this.#scratch) {
        // A frame straddles chunks: its head moves to the scratch buffer *before* the next chunk
        // is asked for, since a stream over reused buffers (`fileByteSource`'s internal one)
        // overwrites the chunk it handed over with the read it starts then.
        this.#scratch = room(this.#scratch, 0, have, n);
        this.#scratch.set(this.#buf.subarray(this.#pos, this.#end));
        this.#buf = this.#scratch;
        this.#pos = 0;
        this.#end = have;
      }
      const chunk = await this.#nextChunk();
      if (chunk === undefined) {
        this.#eof = true;
        return false;
      }
      if (have === 0) {
        // Nothing left over: parse the new chunk in place.
        this.#buf = chunk;
        this.#pos = 0;
        this.#end = chunk.length;
        continue;
      }
      // The head is in the scratch buffer: add just the bytes the frame needs.
      if (this.#pos !== 0) this.#scratch.copyWithin(0, this.#pos, this.#end);
      const take = Math.min(chunk.length, n - have);
      const needed = have + take;
      this.#scratch = room(this.#scratch, have, needed, n);
      this.#scratch.set(chunk.subarray(0, take), have);
      this.#buf = this.#scratch;
      this.#pos = 0;
      this.#end = needed;
      if (take < chunk.length) this.#pending = chunk.subarray(take);
    }
    return true;
  }

  async #nextChunk(): Promise<Uint8Array | undefined> {
    for (;;) {
      let chunk = this.#pending;
      this.#pending = undefined;
      if (chunk === undefined) {
        const next = await this.#chunks.next();
        if (next.done === true) return undefined;
        chunk = next.value;
      }
      if (this.#discard > 0) {
        if (chunk.length <= this.#discard) {
          this.#discard -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(this.#discard);
        this.#discard = 0;
      }
      if (chunk.length > 0) return chunk;
    }
  }

  /** Stop the underlying stream (closes its file handle or connection); safe to call twice. */
  async close(): Promise<void> {
    this.#buf = EMPTY;
    this.#scratch = EMPTY;
    this.#pending = undefined;
    await this.#chunks.return?.();
  }
}

/**
 * `scratch` (its first `kept` bytes kept) with room for `needed` bytes of a frame of `n`: itself
 * when it has room, else grown to at least `needed`, doubling up to `n`, so memory follows the
 * bytes that arrived rather than the length a header claims.
 */
function room(scratch: Uint8Array, kept: number, needed: number, n: number): Uint8Array {
  if (scratch.length >= needed) return scratch;
  const grown = new Uint8Array(Math.max(needed, Math.min(n, scratch.length * 2)));
  grown.set(scratch.subarray(0, kept));
  return grown;
}
