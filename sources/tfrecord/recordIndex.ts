/**
 * Record indexes of TFRecord files: where each frame starts and how long it is, built by one scan
 * of the frame headers, or read from (and written to) the `offset length` per line index files
 * that DALI's and the `tfrecord` Python package's `tfrecord2idx` tools make.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { ByteSource } from '../core/byteSource.js';
import { fileError, openRegular } from '../core/fileByteSource.js';
import { FileHandlePool } from '../core/fileHandlePool.js';
import { maskedCrc32cOf } from './crc32c.js';
import { CorruptRecordError, RecordIndexError } from './errors.js';
import { hex, u32 } from './segmentCursor.js';

/** Bytes of a frame besides its data: the u64 length, its masked CRC32C, the data's masked CRC32C. */
export const FRAME_OVERHEAD = 16;
const HEADER = 12;
/** Bytes read per step of a scan, and of an index file being read. */
const SCAN_CHUNK = 64 * 1024;

/**
 * Where every record of one TFRecord file sits. 16 bytes per record in memory (two `Float64Array`
 * entries): a million records take 16 MB.
 * @public
 */
export interface TFRecordIndex {
  /** The TFRecord file (its path or ByteSource name). */
  readonly file: string;
  /** Records in the file. */
  readonly count: number;
  /** Byte offset of each frame (its length field); `count` entries are meaningful. */
  readonly offsets: Float64Array;
  /** Byte length of each whole frame (data plus 16 bytes of length and CRCs), as `tfrecord2idx` writes it. */
  readonly lengths: Float64Array;
}

/** Growable pair of typed arrays; grows by doubling only as entries arrive. */
class IndexBuilder {
  offsets = new Float64Array(64);
  lengths = new Float64Array(64);
  count = 0;

  push(offset: number, length: number): void {
    if (this.count === this.offsets.length) {
      const offsets = new Float64Array(this.count * 2);
      const lengths = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      lengths.set(this.lengths);
      this.offsets = offsets;
      this.lengths = lengths;
    }
    this.offsets[this.count] = offset;
    this.lengths[this.count++] = length;
  }

  done(file: string): TFRecordIndex {
    return { file, count: this.count, offsets: this.offsets.subarray(0, this.count), lengths: this.lengths.subarray(0, this.count) };
  }
}

/**
 * Throws {@link RecordIndexError} `RXFEED_ERR_TFRECORD_NOT_SEEKABLE` when `head` (the first bytes
 * of `file`) starts with the gzip magic and is not a TFRecord frame whose length CRC checks (a
 * frame may start with those two bytes by chance).
 * @internal
 */
export function refuseGzip(file: string, head: Uint8Array): void {
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return;
  if (head.length >= HEADER && maskedCrc32cOf(head, 0, 8) === u32(head, 8)) return;
  throw notSeekable(file, 'gzip');
}

/** The error for a compressed file. @internal */
export function notSeekable(file: string, compression: string): RecordIndexError {
  return new RecordIndexError(
    'RXFEED_ERR_TFRECORD_NOT_SEEKABLE',
    { file },
    `is ${compression} compressed, and a compressed stream cannot seek to a record; ` +
      'recompress it without compression to read it by index, or read it front to back with fromTFRecord',
  );
}

/**
 * Options of {@link buildRecordIndex}.
 * @public
 */
export interface BuildRecordIndexOptions {
  /** Check the masked CRC32C of every length field (default true); a mismatch is a {@link CorruptRecordError}. */
  readonly verify?: boolean;
  /** Aborts the scan. */
  readonly signal?: AbortSignal;
}

/**
 * Index a TFRecord file by one scan of its frame headers: reads the 12-byte header of each frame
 * and seeks past its data. Reads are of at most 64 KiB: one holds every header it covers, so
 * small records cost one read per 64 KiB; after a frame longer than that, the next read is the
 * next 12-byte header alone, so a file of large records is read only at its headers (what an
 * object store is billed for).
 *
 * @example
 * ```ts
 * import { buildRecordIndex, writeRecordIndex } from 'rxfeed/tfrecord';
 * const index = await buildRecordIndex('data/train-00000.tfrecord');
 * await writeRecordIndex('data/train-00000.tfrecord.idx', index);
 * ```
 *
 * @param input - A path or a {@link ByteSource}.
 * @param options - See {@link BuildRecordIndexOptions}.
 * @returns The offset and frame length of every record.
 * @throws {@link CorruptRecordError} for a length whose CRC does not check or a frame cut short
 *   by the end of the file; {@link RecordIndexError} `RXFEED_ERR_TFRECORD_NOT_SEEKABLE` for a gzip
 *   file; `FileReadError` when the file cannot be read.
 * @public
 */
export async function buildRecordIndex(input: string | ByteSource, options: BuildRecordIndexOptions = {}): Promise<TFRecordIndex> {
  if (typeof input === 'string') {
    const pool = new FileHandlePool(1, () => new InvalidArgumentError('buildRecordIndex', 'the scan was over'));
    try {
      return await scanHeaders(pool.source(input), options);
    } finally {
      await pool.close();
    }
  }
  if (typeof input !== 'object' || input === null || typeof (input as Partial<ByteSource>).read !== 'function') {
    throw new InvalidArgumentError('buildRecordIndex.input', `must be a path or a ByteSource, got ${describe(input)}`);
  }
  return scanHeaders(input, options);
}

/** {@link buildRecordIndex} over a ByteSource. @internal */
export async function scanHeaders(source: ByteSource, options: BuildRecordIndexOptions): Promise<TFRecordIndex> {
  const { verify = true, signal } = options;
  const size = await source.size(signal);
  const index = new IndexBuilder();
  let chunk: Uint8Array = new Uint8Array(0);
  let chunkStart = 0;
  // After a frame longer than a step, the next is likely long too: read its header alone.
  let step = SCAN_CHUNK;
  let offset = 0;
  while (offset < size) {
    if (offset + HEADER > chunkStart + chunk.length) {
      chunkStart = offset;
      chunk = await source.read(offset, Math.min(size, offset + step), signal);
      if (offset === 0) refuseGzip(source.name, chunk);
    }
    const location = { file: source.name, offset, record: index.count };
    const at = offset - chunkStart;
    if (chunk.length - at < HEADER) {
      throw new CorruptRecordError(location, 'truncated', `${chunk.length - at} byte(s) left, a frame header needs ${HEADER}`);
    }
    if (verify) {
      const stored = u32(chunk, at + 8);
      const computed = maskedCrc32cOf(chunk, at, at + 8);
      if (stored !== computed) {
        throw new CorruptRecordError(location, 'length-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
      }
    }
    const frame = u32(chunk, at + 4) * 4294967296 + u32(chunk, at) + FRAME_OVERHEAD;
    if (offset + frame > size) {
      throw new CorruptRecordError(location, 'truncated', `the frame needs ${frame} bytes, ${size - offset} are left`);
    }
    index.push(offset, frame);
    step = frame > SCAN_CHUNK ? HEADER : SCAN_CHUNK;
    offset += frame;
  }
  return index.done(source.name);
}

/**
 * Options of {@link readRecordIndex}.
 * @public
 */
export interface ReadRecordIndexOptions {
  /** The TFRecord file the index describes, named in errors (default: the index path without `.idx`). */
  readonly file?: string;
  /** The TFRecord file's size: when given, every frame must end inside it and the last exactly at it. */
  readonly fileSize?: number;
}

const DIGIT_0 = 0x30;
const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Read a `tfrecord2idx` index file: one line per record, `<frame offset> <frame length>` in
 * decimal, as DALI's `tools/tfrecord2idx` and the `tfrecord` package's
 * `tfrecord.tools.tfrecord2idx` both write it (one space, `\n` after every line). Spaces and tabs
 * of any number separate and may surround the two numbers, `\r\n` ends a line as well, blank
 * lines are ignored and the last line may lack its newline, as numpy's `loadtxt` (the Python
 * reader) accepts.
 *
 * The file is untrusted: each line must hold exactly two decimal integers, the first frame must
 * start at byte 0 and each next one where the previous ends, a frame is at least 16 bytes, and
 * with `fileSize` the frames must end exactly at the end of the file. The file is parsed as it is
 * read, 64 KiB at a time: memory grows with the lines read (16 bytes per record), never with a
 * number in them.
 *
 * @example
 * ```ts
 * import { readRecordIndex } from 'rxfeed/tfrecord';
 * const index = await readRecordIndex('data/train-00000.tfrecord.idx');
 * console.log(index.count, index.offsets[1]);
 * ```
 *
 * @param path - The index file.
 * @param options - See {@link ReadRecordIndexOptions}.
 * @returns The index.
 * @throws {@link RecordIndexError} `RXFEED_ERR_TFRECORD_INDEX` naming the index file and line;
 *   `FileReadError` when it cannot be read.
 * @public
 */
export async function readRecordIndex(path: string, options: ReadRecordIndexOptions = {}): Promise<TFRecordIndex> {
  if (typeof path !== 'string') throw new InvalidArgumentError('readRecordIndex.path', `must be a path, got ${describe(path)}`);
  const file = options.file ?? path.replace(/\.idx$/, '');
  const { fileSize } = options;
  if (fileSize !== undefined && (!Number.isSafeInteger(fileSize) || fileSize < 0)) {
    throw new InvalidArgumentError('readRecordIndex.fileSize', `must be a non-negative integer, got ${describe(fileSize)}`);
  }
  const index = new IndexBuilder();
  let line = 1;
  const fail = (message: string): never => {
    throw new RecordIndexError('RXFEED_ERR_TFRECORD_INDEX', { file, indexFile: path, line }, message);
  };
  // The numbers of the current line, and the one being read (digits so far, or -1 between numbers).
  const numbers: number[] = [];
  let digits = -1;
  const endNumber = (): void => {
    if (digits < 0) return;
    if (numbers.length === 2) fail('has more than two numbers; expected `<offset> <length>`');
    numbers.push(digits);
    digits = -1;
  };
  const endLine = (): void => {
    endNumber();
    if (numbers.length === 0) return; // blank
    if (numbers.length !== 2) fail('has one number; expected `<offset> <length>`');
    const [offset, length] = numbers as [number, number];
    const expected = index.count === 0 ? 0 : index.offsets[index.count - 1]! + index.lengths[index.count - 1]!;
    if (offset !== expected) {
      fail(`offset ${offset} does not follow the previous frame (expected ${expected}): entries must be ascending and contiguous`);
    }
    if (length < FRAME_OVERHEAD) fail(`length ${length} is shorter than a frame's ${FRAME_OVERHEAD} bytes of length and CRCs`);
    if (fileSize !== undefined && offset + length > fileSize) {
      fail(`the frame at byte ${offset} of ${length} bytes ends past the end of the file (${fileSize} bytes)`);
    }
    index.push(offset, length);
    numbers.length = 0;
  };

  const { handle } = await openRegular(path);
  try {
    const chunk = new Uint8Array(SCAN_CHUNK);
    let position = 0;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, chunk.length, position));
      } catch (error) {
        throw fileError(path, error, position);
      }
      if (bytesRead === 0) break;
      position += bytesRead;
      for (let i = 0; i < bytesRead; i++) {
        const byte = chunk[i]!;
        const digit = byte - DIGIT_0;
        if (digit >= 0 && digit <= 9) {
          digits = digits < 0 ? digit : digits * 10 + digit;
          if (digits > Number.MAX_SAFE_INTEGER) fail('holds a number larger than 2^53 - 1');
        } else if (byte === SPACE || byte === TAB || byte === CR) {
          endNumber();
        } else if (byte === LF) {
          endLine();
          line++;
        } else {
          fail(
            `holds ${describe(String.fromCharCode(byte))} (byte 0x${byte.toString(16).padStart(2, '0')}); expected decimal digits and a space`,
          );
        }
      }
    }
    endLine();
  } finally {
    await handle.close();
  }
  if (fileSize !== undefined) {
    const covered = index.count === 0 ? 0 : index.offsets[index.count - 1]! + index.lengths[index.count - 1]!;
    if (covered !== fileSize) {
      throw new RecordIndexError(
        'RXFEED_ERR_TFRECORD_INDEX',
        { file, indexFile: path },
        `its frames cover ${covered} bytes of the file's ${fileSize}: the index is stale or incomplete`,
      );
    }
  }
  return index.done(file);
}

/**
 * Write an index file in the `tfrecord2idx` format (`<offset> <length>\n` per record, the exact
 * bytes DALI's and the `tfrecord` package's tools write), atomically: to a temporary file beside
 * `path`, then renamed over it, so a reader never sees half an index.
 *
 * @example
 * ```ts
 * import { buildRecordIndex, writeRecordIndex } from 'rxfeed/tfrecord';
 * await writeRecordIndex('data/train-00000.tfrecord.idx', await buildRecordIndex('data/train-00000.tfrecord'));
 * ```
 *
 * @param path - The index file.
 * @param index - The index (from {@link buildRecordIndex} or {@link readRecordIndex}).
 * @throws `FileReadError` when the file cannot be written (code `RXFEED_ERR_FILE_READ` or `RXFEED_ERR_FILE_ACCESS`).
 * @public
 */
export async function writeRecordIndex(path: string, index: TFRecordIndex): Promise<void> {
  if (typeof path !== 'string') throw new InvalidArgumentError('writeRecordIndex.path', `must be a path, got ${describe(path)}`);
  if (typeof index !== 'object' || index === null || !(index.offsets instanceof Float64Array) || !(index.lengths instanceof Float64Array)) {
    throw new InvalidArgumentError('writeRecordIndex.index', `must be a TFRecordIndex, got ${describe(index)}`);
  }
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx');
    try {
      // 4096 lines per write: bounded text whatever the record count.
      for (let first = 0; first < index.count; first += 4096) {
        let text = '';
        for (let i = first; i < Math.min(index.count, first + 4096); i++) text += `${index.offsets[i]} ${index.lengths[i]}\n`;
        await handle.writeFile(text);
      }
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw fileError(path, error);
  }
}
