/**
 * The fields of one 512-byte tar header block (POSIX ustar, GNU and v7): numbers in octal or
 * base-256, the checksum, names and NUL-terminated strings, decoded in place.
 *
 * @module
 */

/** Tar's block size: headers are one block, data is padded to whole blocks. */
export const BLOCK = 512;

/** `size` bytes rounded up to whole tar blocks. */
export function blocks(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** An ASCII space: the padding of numeric fields and the separator of pax records. */
export const SPACE = 0x20;
const utf8 = new TextDecoder();

// Header fields (POSIX ustar, GNU tar's old format and v7 share the first 257 bytes).
const NAME = 0;
const NAME_LENGTH = 100;
export const SIZE = 124;
export const SIZE_LENGTH = 12;
const CHECKSUM = 148;
const CHECKSUM_LENGTH = 8;
export const TYPEFLAG = 156;
const MAGIC = 257;
const PREFIX = 345;
const PREFIX_LENGTH = 155;

/**
 * True when every byte of the block is zero, the checksum field aside (as tar-stream decides it;
 * GNU tar asks all 512 bytes to be zero, which this includes).
 */
export function isZeroBlock(bytes: Uint8Array, at: number): boolean {
  // The name's first byte is never NUL in a real header: most blocks answer on the first test.
  if (bytes[at] !== 0) return false;
  for (let index = at + 1; index < at + CHECKSUM; index++) if (bytes[index] !== 0) return false;
  for (let index = at + CHECKSUM + CHECKSUM_LENGTH; index < at + BLOCK; index++) if (bytes[index] !== 0) return false;
  return true;
}

/**
 * The stored checksum equals the sum of the header's bytes with the checksum field counted as
 * spaces, as unsigned bytes (POSIX) or as signed ones (some historic writers, which tar accepts too).
 *
 * @param sum - The unsigned sum of all 512 bytes of the block when the caller has it (from
 *   {@link wordSum}); summed here byte by byte otherwise.
 */
export function checksumMatches(bytes: Uint8Array, at: number, sum?: number): boolean {
  const stored = parseOctal(bytes, at + CHECKSUM, CHECKSUM_LENGTH);
  if (stored === undefined) return false;
  let unsigned = sum ?? byteSum(bytes, at);
  for (let index = at + CHECKSUM; index < at + CHECKSUM + CHECKSUM_LENGTH; index++) unsigned -= bytes[index]!;
  unsigned += CHECKSUM_LENGTH * SPACE;
  if (stored === unsigned) return true;
  // Signed only when unsigned fails: each byte of 0x80 or more counts 256 less.
  let signed = unsigned;
  for (let index = at; index < at + BLOCK; index++) {
    if (index >= at + CHECKSUM && index < at + CHECKSUM + CHECKSUM_LENGTH) continue;
    if (bytes[index]! >= 0x80) signed -= 0x100;
  }
  return stored === signed;
}

function byteSum(bytes: Uint8Array, at: number): number {
  let sum = 0;
  for (let index = at; index < at + BLOCK; index++) sum += bytes[index]!;
  return sum;
}

/**
 * The unsigned sum of `count` 32-bit words of `words` from `index`: the bulk of a header's
 * checksum with a quarter of the loads. Each word adds its bytes in two 16-bit lanes, which
 * cannot carry into each other: a lane gains at most 2 x 255 per word, 65,280 over the 128 words
 * of a block.
 */
export function wordSum(words: Uint32Array, index: number, count: number): number {
  let lanes = 0;
  const end = index + count;
  for (let word = index; word < end; word++) {
    const value = words[word]!;
    // Wraps as int32 to stay in small-integer arithmetic; the true total is below 2^32.
    lanes = (lanes + (value & 0x00ff00ff) + ((value >>> 8) & 0x00ff00ff)) | 0;
  }
  const total = lanes >>> 0;
  return (total & 0xffff) + (total >>> 16);
}

/** A numeric header field, octal or base-256; `undefined` when malformed or negative. */
export function parseNumber(bytes: Uint8Array, at: number, length: number): number | undefined {
  const first = bytes[at]!;
  if ((first & 0x80) === 0) return parseOctal(bytes, at, length);
  // GNU base-256: the high bit marks it, the next one is the sign (a negative size is nonsense),
  // the rest of the field is a big-endian number.
  if ((first & 0x40) !== 0) return undefined;
  let value = first & 0x3f;
  for (let index = at + 1; index < at + length; index++) value = value * 256 + bytes[index]!;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * An octal field: leading spaces, octal digits, then a space or NUL or the field's end. An empty
 * field is 0, as tar-stream reads it.
 */
function parseOctal(bytes: Uint8Array, at: number, length: number): number | undefined {
  const end = at + length;
  let index = at;
  while (index < end && bytes[index] === SPACE) index++;
  let value = 0;
  for (; index < end; index++) {
    const byte = bytes[index]!;
    if (byte === 0 || byte === SPACE) break;
    if (byte < 0x30 || byte > 0x37) return undefined;
    value = value * 8 + byte - 0x30;
  }
  for (; index < end; index++) {
    const byte = bytes[index]!;
    if (byte !== 0 && byte !== SPACE) return undefined;
  }
  return value;
}

/** ustar's prefix + '/' + name when the magic is POSIX's `ustar\0`; the name alone otherwise. */
export function headerName(bytes: Uint8Array, at: number): string {
  const name = decodeField(bytes, at + NAME, NAME_LENGTH);
  const posix =
    bytes[at + MAGIC] === 0x75 && // u
    bytes[at + MAGIC + 1] === 0x73 && // s
    bytes[at + MAGIC + 2] === 0x74 && // t
    bytes[at + MAGIC + 3] === 0x61 && // a
    bytes[at + MAGIC + 4] === 0x72 && // r
    bytes[at + MAGIC + 5] === 0x00;
  if (!posix || bytes[at + PREFIX] === 0) return name;
  return `${decodeField(bytes, at + PREFIX, PREFIX_LENGTH)}/${name}`;
}

/** A NUL-terminated string field. */
function decodeField(bytes: Uint8Array, at: number, length: number): string {
  let end = at;
  const limit = at + length;
  while (end < limit && bytes[end] !== 0) end++;
  return decodeString(bytes, at, end);
}

/** UTF-8 text of `bytes[start, end)`, stopping at a NUL (GNU long names end with one). */
export function decodeString(bytes: Uint8Array, start: number, end: number): string {
  let ascii = true;
  let index = start;
  for (; index < end; index++) {
    const byte = bytes[index]!;
    if (byte === 0) break;
    if (byte >= 0x80) ascii = false;
  }
  // Member names are short and almost always ASCII: building the string directly is several
  // times faster than a TextDecoder call per name.
  if (ascii && index - start <= 256) return String.fromCharCode.apply(null, bytes.subarray(start, index) as unknown as number[]);
  return utf8.decode(bytes.subarray(start, index));
}
