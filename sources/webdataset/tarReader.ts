/**
 * A pull-driven tar parser for WebDataset shards: headers decoded in place from the stream's
 * chunks, member data in buffers of their own that grow with the bytes that arrive.
 *
 * @module
 */
import { CorruptShardError, MemberTooLargeError, TruncatedShardError } from './errors.js';
import {
  BLOCK,
  checksumMatches,
  decodeString,
  headerName,
  isZeroBlock,
  parseNumber,
  SIZE,
  SIZE_LENGTH,
  SPACE,
  TYPEFLAG,
  wordSum,
} from './tarHeader.js';

/** What a member is, as far as a shard reader cares. */
export type TarMemberType = 'file' | 'directory' | 'link' | 'symlink' | 'other';

/** One member's header, with GNU long names and pax `path` / `size` records applied. */
export interface TarHeader {
  /** The member's name: pax `path`, else a GNU long name, else ustar prefix + name. */
  readonly name: string;
  readonly type: TarMemberType;
  /** Bytes of data that follow the header on tape (0 for directories). */
  readonly size: number;
  /** Offset in the tar stream of the member's own header block (after any long-name or pax blocks). */
  readonly offset: number;
  /**
   * Offset in the tar stream of the first of the member's header blocks: its GNU long name or
   * pax header when it has one, else its own. Reading from there gives the member with its name.
   */
  readonly start: number;
}

/** Largest GNU long name or pax header kept in memory: real ones are a few hundred bytes. */
export const MAX_EXTENDED_HEADER = 1024 * 1024;
/**
 * Default of {@link TarParserOptions.maxMemberSize}: 1 GiB. WebDataset members are samples
 * (images, audio clips, short videos, encoded tensors), typically kilobytes to tens of megabytes,
 * and its shards are themselves recommended at a few hundred megabytes to a gigabyte; a member
 * larger than that is a corrupt or hostile header far more often than real data.
 */
export const DEFAULT_MAX_MEMBER_SIZE = 2 ** 30;
/** Largest {@link TarParserOptions.maxMemberSize}: 4 GiB, the largest typed array Node 20 allocates. */
export const MAX_MEMBER_SIZE_LIMIT = 2 ** 32;
/**
 * First allocation for a member whose data spans chunks, unless the member is smaller: from there
 * the buffer doubles as bytes arrive, capped at the declared size. Members up to this size (most
 * of them) are allocated once at their size.
 */
const GROWTH_START = 64 * 1024;
const EMPTY = new Uint8Array(0);

const enum State {
  /** Between members: padding to skip, then a header. */
  Header,
  /** A member's data is next: `data()` or `skip()` it. */
  Data,
  /** Past the end-of-archive blocks (or a clean end of input): nothing more to give. */
  End,
}

/** Options of a {@link TarParser}. */
export interface TarParserOptions {
  /**
   * Largest member, in bytes, whose data {@link TarParser.data} gives: a larger one fails with a
   * {@link MemberTooLargeError} before any of its data is buffered. Skipping a member buffers
   * nothing, so no limit applies to {@link TarParser.skip}. Default
   * {@link DEFAULT_MAX_MEMBER_SIZE} (1 GiB), at most {@link MAX_MEMBER_SIZE_LIMIT} (4 GiB).
   */
  readonly maxMemberSize?: number;
  /**
   * Offset in the shard of the first byte pushed (default 0): a range read of a sample index
   * starts mid-shard, and errors must name offsets in the shard.
   */
  readonly offset?: number;
}

/** An extended header (GNU `L`, pax `x`) whose data is being collected. */
interface Extended {
  readonly type: number;
  /** Offset of its header block in the tar stream, named if a record is malformed. */
  readonly offset: number;
  /** Its declared size. */
  readonly size: number;
  /** Its bytes received so far, when they span chunks: grown as they arrive, like member data. */
  bytes: Uint8Array;
  filled: number;
  /** Padding after its data. */
  readonly padding: number;
}

/**
 * Parses a tar stream given one chunk at a time, and says when it needs the next one.
 *
 * The caller drives it: {@link TarParser.header} gives the next member's header, then
 * {@link TarParser.data} (its bytes) or {@link TarParser.skip} must consume the member before the
 * next `header()`. Each answers `undefined` when the chunk it has is used up: the caller then
 * {@link TarParser.push}es the next chunk of the stream, or calls {@link TarParser.end} when there
 * is none, and asks again. So the parser reads exactly as fast as its caller pulls.
 *
 * Formats: POSIX ustar (name + prefix), GNU tar's old format and v7 (no magic), GNU long names
 * (`L`) and long link names (`K`, skipped: links are never followed), pax extended headers (`x`:
 * `path` and `size`; global `g` headers are skipped), sizes in octal or GNU base-256. A header's
 * checksum must match the unsigned or the signed sum of its bytes, as GNU tar accepts. The archive
 * ends at two zero blocks (a lone zero block is passed over, as GNU tar does), or at a clean end of
 * input on a block boundary; bytes after the end-of-archive blocks are counted and ignored.
 *
 * Memory: the chunk it was given (held by reference, never copied, until the next one comes), one 512-byte block for a
 * header split across two chunks, a pending GNU long name or pax header (at most
 * {@link MAX_EXTENDED_HEADER}), and the data of the member being read. Sizes come from untrusted
 * headers, so they never drive an allocation ahead of the bytes: a member wholly inside the
 * chunk is copied once into a buffer of its size (an extended header is read in place); one that
 * spans chunks starts in a buffer of at most 64 KiB that doubles as its bytes arrive, capped at
 * its declared size, so it never holds more than twice the bytes received (or 64 KiB), and a
 * member's buffer ends exactly its size. A member larger than
 * {@link TarParserOptions.maxMemberSize} fails at once. Headers inside one chunk are decoded in
 * place, with no copy.
 *
 * Every malformed input ends in a {@link CorruptShardError}, {@link TruncatedShardError} or
 * {@link MemberTooLargeError} naming the shard and a byte offset. Calling `header`, `data` and
 * `skip` out of turn is a bug of the caller (the internal `ShardReader`), not of any input: those
 * internal invariant checks throw a plain `Error`, which no public function can reach.
 */
export class TarParser {
  readonly #shard: string;
  readonly #maxMemberSize: number;
  #chunk: Uint8Array = EMPTY;
  /** Read position in `#chunk`. */
  #position = 0;
  /** Offset in the tar stream of `#chunk[0]`. */
  #base = 0;
  #state = State.Header;
  /** Padding still to skip before the next header. */
  #padding = 0;
  /** A header split across chunks, being assembled. */
  readonly #split = new Uint8Array(BLOCK);
  readonly #splitWords = new Uint32Array(this.#split.buffer);
  /** `#chunk` as 32-bit words from its first 4-aligned byte, for {@link wordSum}; made on first use per chunk. */
  #words: Uint32Array | undefined;
  /** The byte offset in `#chunk.buffer` of `#words[0]`. */
  #wordsFrom = 0;
  /** The block {@link TarParser.#nextBlock} found: `#blockBytes[#blockAt]`, at `#blockOffset` in the stream. */
  #blockBytes: Uint8Array = EMPTY;
  #blockAt = 0;
  #blockOffset = 0;
  #splitFilled = 0;
  #splitOffset = 0;
  /** Zero blocks in a row: two end the archive. */
  #zeroBlocks = 0;
  /** The offset of the first header block of the member being parsed (see {@link TarHeader.start}). */
  #headerStart: number | undefined;
  #extended: Extended | undefined;
  /** Name from a GNU `L` header or a pax `path`, for the next member. */
  #longName: string | undefined;
  /** Size from a pax `size` record, for the next member. */
  #paxSize: number | undefined;
  /** The member whose data is next or being read. */
  #member: TarHeader | undefined;
  /** Data bytes of `#member` not yet consumed. */
  #remaining = 0;
  /** The member's bytes received so far, when they span chunks: grown as they arrive. */
  #target: Uint8Array | undefined;
  /** Bytes of `#target` filled. */
  #filled = 0;

  /**
   * @param shard - The shard's name, for errors.
   * @param options - See {@link TarParserOptions}; checked by the caller (`fromWebDataset`).
   */
  constructor(shard: string, options: TarParserOptions = {}) {
    this.#shard = shard;
    this.#maxMemberSize = options.maxMemberSize ?? DEFAULT_MAX_MEMBER_SIZE;
    this.#base = options.offset ?? 0;
  }

  /** Bytes of the tar stream given so far. */
  get received(): number {
    return this.#base + this.#chunk.byteLength;
  }

  /** The member whose data is being read or skipped, named in truncation errors. */
  get member(): string | undefined {
    return this.#state === State.Data ? this.#member?.name : undefined;
  }

  /** Whether the archive has ended: `header()` answers `null` from now on. */
  get done(): boolean {
    return this.#state === State.End;
  }

  /**
   * Give the parser the next chunk of the stream. Only once the current one is used up (a call
   * answered `undefined`); after the end of the archive chunks are counted and dropped.
   */
  push(chunk: Uint8Array): void {
    this.#base += this.#chunk.byteLength;
    this.#chunk = chunk;
    this.#position = 0;
    this.#words = undefined;
  }

  /**
   * The input has ended. At a block boundary between members, the archive ends there (tar writers
   * always add end-of-archive blocks, but a clean cut at a boundary loses nothing that was
   * announced). Anywhere else it is truncated.
   *
   * @throws {@link TruncatedShardError} with the stream offset and the member being read, if any.
   */
  end(): void {
    if (this.#state === State.End) return;
    const between = this.#state === State.Header && this.#splitFilled === 0 && this.#padding === 0;
    if (between && this.#extended === undefined && this.#longName === undefined && this.#paxSize === undefined) {
      this.#state = State.End;
      return;
    }
    throw new TruncatedShardError(this.#shard, this.received, false, this.member);
  }

  /**
   * The next member's header; `null` when the archive has ended; `undefined` when the next
   * chunk is needed (or the input ended, once `end()` was called: then `end()` threw).
   *
   * @throws {@link CorruptShardError} on a bad checksum or a malformed number or pax record.
   */
  header(): TarHeader | null | undefined {
    if (this.#state === State.End) return null;
    if (this.#state === State.Data) throw new Error('TarParser: the member before must be read or skipped first');
    for (;;) {
      if (this.#padding > 0 && !this.#skipPadding()) return undefined;
      if (this.#extended !== undefined && !this.#collectExtended(this.#extended)) return undefined;
      if (!this.#nextBlock()) return undefined;
      const bytes = this.#blockBytes;
      const at = this.#blockAt;
      const offset = this.#blockOffset;
      if (isZeroBlock(bytes, at)) {
        if (++this.#zeroBlocks === 2) {
          this.#state = State.End;
          return null;
        }
        continue;
      }
      this.#zeroBlocks = 0;
      this.#headerStart ??= offset;
      const header = this.#decode(bytes, at, offset);
      if (header !== undefined) {
        this.#headerStart = undefined;
        return header;
      }
    }
  }

  /**
   * The data of the member whose header was just given, in a fresh `Uint8Array` of exactly its
   * size (its own `ArrayBuffer`, copied from the chunk or chunks); `undefined` when the next
   * chunk is needed.
   *
   * @throws {@link MemberTooLargeError} when the member is larger than `maxMemberSize`.
   */
  data(): Uint8Array | undefined {
    if (this.#state !== State.Data) throw new Error('TarParser: no member data to read');
    const chunk = this.#chunk;
    const available = chunk.byteLength - this.#position;
    const remaining = this.#remaining;
    let target = this.#target;
    if (target === undefined) {
      const member = this.#member!;
      const size = member.size;
      if (size > this.#maxMemberSize) {
        throw new MemberTooLargeError(this.#shard, member.offset, member.name, size, this.#maxMemberSize);
      }
      if (available >= remaining) {
        // The usual case, the whole member inside one chunk. (A fresh Uint8Array filled by `set`
        // rather than `ArrayBuffer.prototype.slice`: as fast for large members, several times
        // faster for small ones, and never a Buffer whatever the chunk is.)
        target = new Uint8Array(size);
        target.set(chunk.subarray(this.#position, this.#position + remaining));
        this.#position += remaining;
        this.#finishData(remaining);
        return target;
      }
      target = EMPTY;
      this.#filled = 0;
    }
    const take = Math.min(available, remaining);
    const filled = this.#filled;
    target = grow(target, filled, filled + take, this.#member!.size);
    this.#target = target;
    target.set(chunk.subarray(this.#position, this.#position + take), filled);
    this.#position += take;
    this.#remaining -= take;
    this.#filled = filled + take;
    if (this.#remaining > 0) return undefined;
    this.#target = undefined;
    this.#finishData(0);
    return target;
  }

  /** Pass over the data of the member whose header was just given; `false` when the next chunk is needed. */
  skip(): boolean {
    if (this.#state !== State.Data) throw new Error('TarParser: no member data to skip');
    const take = Math.min(this.#chunk.byteLength - this.#position, this.#remaining);
    this.#position += take;
    this.#remaining -= take;
    if (this.#remaining > 0) return false;
    this.#finishData(0);
    return true;
  }

  /** The member's data is consumed: its padding is skipped before the next header. */
  #finishData(taken: number): void {
    this.#remaining -= taken;
    this.#padding = padding(this.#member!.size);
    this.#member = undefined;
    this.#state = State.Header;
  }

  #skipPadding(): boolean {
    const take = Math.min(this.#chunk.byteLength - this.#position, this.#padding);
    this.#position += take;
    this.#padding -= take;
    return this.#padding === 0;
  }

  /**
   * Find the next 512-byte block, into `#blockBytes`/`#blockAt`/`#blockOffset` (no object per
   * header): the chunk itself when the block lies inside it, else `#split`, where it is
   * assembled. False when the chunk ran out first.
   */
  #nextBlock(): boolean {
    const chunk = this.#chunk;
    const position = this.#position;
    if (this.#splitFilled === 0 && chunk.byteLength - position >= BLOCK) {
      this.#position = position + BLOCK;
      this.#blockBytes = chunk;
      this.#blockAt = position;
      this.#blockOffset = this.#base + position;
      return true;
    }
    if (this.#splitFilled === 0) this.#splitOffset = this.#base + position;
    const take = Math.min(chunk.byteLength - position, BLOCK - this.#splitFilled);
    this.#split.set(chunk.subarray(position, position + take), this.#splitFilled);
    this.#position = position + take;
    this.#splitFilled += take;
    if (this.#splitFilled < BLOCK) return false;
    this.#splitFilled = 0;
    this.#blockBytes = this.#split;
    this.#blockAt = 0;
    this.#blockOffset = this.#splitOffset;
    return true;
  }

  /**
   * The unsigned sum of the block at `bytes[at]`, four bytes at a time: the bytes before its
   * first 4-aligned byte and after its last whole word one by one (network chunks start
   * anywhere), the rest as words of a view of the chunk made once per chunk.
   */
  #blockSum(bytes: Uint8Array, at: number): number {
    if (bytes === this.#split) return wordSum(this.#splitWords, 0, BLOCK / 4);
    let words = this.#words;
    if (words === undefined) {
      const first = bytes.byteOffset + ((4 - (bytes.byteOffset % 4)) % 4);
      words = new Uint32Array(bytes.buffer, first, Math.floor(Math.max(0, bytes.byteOffset + bytes.byteLength - first) / 4));
      this.#words = words;
      this.#wordsFrom = first;
    }
    const start = bytes.byteOffset + at;
    const head = (4 - (start % 4)) % 4;
    let sum = 0;
    for (let index = at; index < at + head; index++) sum += bytes[index]!;
    const count = head === 0 ? BLOCK / 4 : BLOCK / 4 - 1;
    sum += wordSum(words, (start + head - this.#wordsFrom) / 4, count);
    for (let index = at + head + count * 4; index < at + BLOCK; index++) sum += bytes[index]!;
    return sum;
  }

  /** Decode the header block at `bytes[at]`: a member's header, or `undefined` for an extended header. */
  #decode(bytes: Uint8Array, at: number, offset: number): TarHeader | undefined {
    if (!checksumMatches(bytes, at, this.#blockSum(bytes, at))) throw this.#corrupt(offset, 'header checksum mismatch');
    const typeflag = bytes[at + TYPEFLAG]!;
    let size = this.#number(bytes, at + SIZE, SIZE_LENGTH, offset, 'size');
    switch (typeflag) {
      case 0x4c: // 'L': GNU long name of the next member
      case 0x78: // 'x': pax extended header of the next member
        if (size > MAX_EXTENDED_HEADER) {
          throw this.#corrupt(offset, `extended header of ${size} bytes (at most ${MAX_EXTENDED_HEADER} are read)`);
        }
        this.#extended = { type: typeflag, offset, size, bytes: EMPTY, filled: 0, padding: padding(size) };
        return undefined;
      case 0x4b: // 'K': GNU long link name: links are never followed, so it is not needed
      case 0x67: // 'g': pax global header: no record of it applies to reading samples
        this.#padding = size + padding(size);
        return undefined;
    }
    const name = this.#longName ?? headerName(bytes, at);
    this.#longName = undefined;
    if (this.#paxSize !== undefined) {
      size = this.#paxSize;
      this.#paxSize = undefined;
    }
    let type: TarMemberType;
    switch (typeflag) {
      case 0x00: // v7 regular file, or a directory by its trailing slash (as tar reads it)
      case 0x30: // '0'
        type = name.endsWith('/') ? 'directory' : 'file';
        break;
      case 0x37: // '7': contiguous file, a regular file everywhere today
        type = 'file';
        break;
      case 0x35: // '5'
        type = 'directory';
        break;
      case 0x31: // '1'
        type = 'link';
        break;
      case 0x32: // '2'
        type = 'symlink';
        break;
      default:
        type = 'other';
    }
    // Directories carry no data on tape whatever their size field says (GNU tar and tar-stream
    // both read them so); every other member's data is skipped by its size.
    if (type === 'directory') size = 0;
    const header: TarHeader = { name, type, size, offset, start: this.#headerStart ?? offset };
    this.#member = header;
    this.#remaining = size;
    this.#state = State.Data;
    return header;
  }

  /** Collect an extended header's data, then apply it to the next member. */
  #collectExtended(extended: Extended): boolean {
    const chunk = this.#chunk;
    const position = this.#position;
    const take = Math.min(chunk.byteLength - position, extended.size - extended.filled);
    let data: Uint8Array;
    if (extended.filled === 0 && take === extended.size) {
      // All inside this chunk (the usual case): read in place.
      data = chunk.subarray(position, position + take);
      this.#position = position + take;
    } else {
      extended.bytes = grow(extended.bytes, extended.filled, extended.filled + take, extended.size);
      extended.bytes.set(chunk.subarray(position, position + take), extended.filled);
      this.#position = position + take;
      extended.filled += take;
      if (extended.filled < extended.size) return false;
      data = extended.bytes;
    }
    this.#extended = undefined;
    this.#padding = extended.padding;
    if (extended.type === 0x4c) {
      this.#longName = decodeString(data, 0, data.byteLength);
    } else {
      this.#applyPax(data, extended.offset);
    }
    return this.#padding === 0 || this.#skipPadding();
  }

  /**
   * Read the records of a pax extended header (`"<length> <key>=<value>\n"`, the length in
   * bytes counting the whole record) and keep `path` and `size`.
   */
  #applyPax(bytes: Uint8Array, offset: number): void {
    let start = 0;
    while (start < bytes.byteLength) {
      // A NUL where a record should start: the rest is padding some writers leave.
      if (bytes[start] === 0) return;
      let cursor = start;
      let length = 0;
      while (cursor < bytes.byteLength && bytes[cursor]! >= 0x30 && bytes[cursor]! <= 0x39) {
        length = length * 10 + bytes[cursor]! - 0x30;
        cursor++;
      }
      const end = start + length;
      if (cursor === start || bytes[cursor] !== SPACE || end > bytes.byteLength || bytes[end - 1] !== 0x0a) {
        throw this.#corrupt(offset, 'malformed pax extended header record');
      }
      const equals = bytes.indexOf(0x3d, cursor + 1); // '='
      if (equals < 0 || equals >= end) throw this.#corrupt(offset, 'malformed pax extended header record');
      const key = decodeString(bytes, cursor + 1, equals);
      const value = decodeString(bytes, equals + 1, end - 1);
      // An empty value unsets the key: the header's own field applies.
      if (key === 'path') {
        this.#longName = value === '' ? undefined : value;
      } else if (key === 'size') {
        if (value !== '' && !/^\d+$/.test(value)) throw this.#corrupt(offset, `pax size '${value}' is not a number`);
        const size = value === '' ? undefined : Number(value);
        if (size !== undefined && !Number.isSafeInteger(size)) throw this.#corrupt(offset, `pax size ${value} is too large`);
        this.#paxSize = size;
      }
      start = end;
    }
  }

  /** A numeric field: octal (space- or NUL-terminated, leading spaces allowed) or GNU base-256. */
  #number(bytes: Uint8Array, at: number, length: number, offset: number, field: string): number {
    const value = parseNumber(bytes, at, length);
    if (value === undefined) throw this.#corrupt(offset, `malformed ${field} field`);
    return value;
  }

  #corrupt(offset: number, reason: string): CorruptShardError {
    return new CorruptShardError(this.#shard, offset, reason);
  }
}

/**
 * `buffer` (its first `filled` bytes kept) with room for `needed` bytes of an item declaring
 * `size`: itself when there is room; else a buffer of at least {@link GROWTH_START}, doubled,
 * and never more than `size`, so the last growth lands exactly on it. Memory follows the bytes
 * received (at most twice them, or 64 KiB), never the size a header claims.
 */
function grow(buffer: Uint8Array, filled: number, needed: number, size: number): Uint8Array {
  if (needed <= buffer.byteLength) return buffer;
  const grown = new Uint8Array(Math.min(size, Math.max(GROWTH_START, 2 * buffer.byteLength, needed)));
  grown.set(buffer.subarray(0, filled));
  return grown;
}

/** Bytes of padding after `size` bytes of data, up to the next block. */
function padding(size: number): number {
  const partial = size % BLOCK;
  return partial === 0 ? 0 : BLOCK - partial;
}
