/**
 * TFRecord files read by index: a map-style dataset (the RandomAccess port) over a record index
 * per file, items identical to `fromTFRecord`'s.
 *
 * @module
 */
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import type { ByteSource } from '../core/byteSource.js';
import { FileHandlePool } from '../core/fileHandlePool.js';
import { DatasetClosedError, readCoalesced, type IndexRun, type RandomAccess, type RandomAccessLayout } from '../core/randomAccess.js';
import type { Part } from '../core/selection.js';
import { maskedCrc32cOf } from './crc32c.js';
import { CorruptRecordError, RecordIndexError, type RecordLocation } from './errors.js';
import { int64ModeOf, type Example, type Int64Mode, type SequenceExample } from './example.js';
import type { FeatureSpec, ParsedExample, ParsedSequenceExample, SequenceFeatureSpec } from './featureSpec.js';
import {
  decoderOf,
  locate,
  type CustomRecordOptions,
  type ExampleRecordOptions,
  type FromTFRecordOptions,
  type RawRecordOptions,
  type SequenceExampleRecordOptions,
} from './fromTFRecord.js';
import {
  FRAME_OVERHEAD,
  notSeekable,
  readRecordIndex,
  refuseGzip,
  scanHeaders,
  writeRecordIndex,
  type TFRecordIndex,
} from './recordIndex.js';
import { compressionOf } from './segmentCursor.js';

/**
 * How a record dataset finds and keeps its record indexes, and how it reads.
 * @public
 */
export interface RecordDatasetOptions {
  /** Check the masked CRC32C of every length and every record read (default true). */
  readonly verify?: boolean;
  /**
   * Where the `tfrecord2idx` index file of a TFRecord file is: default `<file>.idx` for a path
   * (what DALI users have), none for a ByteSource. An index file found there is read (and
   * checked) instead of scanning the file; a missing one is built by scanning.
   */
  readonly indexPath?: (file: string) => string;
  /** Write the index files that were missing, once built (default false). */
  readonly saveIndex?: boolean;
  /** Most file handles kept open between reads, least recently used closed first (default 16). */
  readonly maxOpenFiles?: number;
  /**
   * Most records one range read covers (default 256): a read of many neighbours is cut into range
   * reads of at most this many records, which bounds the bytes one holds.
   */
  readonly maxRun?: number;
  /** Range reads in flight at once (default 8). */
  readonly concurrency?: number;
}

/**
 * {@link tfrecordDataset}'s options: a `fromTFRecord` decoding mode (`O`, e.g. `RawRecordOptions`),
 * without the options of sequential reading (corruption skipping, lengths, pull sizes), plus
 * {@link RecordDatasetOptions}. `compression` other than `none` (or `auto` on a `.gz` / `.zz`
 * name) is refused: a compressed file cannot seek.
 * @public
 */
export type TFRecordDatasetOptions<O extends FromTFRecordOptions = FromTFRecordOptions> = Omit<
  O,
  'onCorrupt' | 'maxSkipRatio' | 'ledger' | 'onSkip' | 'lengths' | 'recordsPerPull' | 'chunkBytes'
> &
  RecordDatasetOptions;

/**
 * A dataset of TFRecord records read by index.
 * @public
 */
export interface TFRecordDataset<T> extends RandomAccess<T> {
  /** One shard per file (or per range of a file, for a TFDS split slice). */
  readonly layout: RandomAccessLayout;
  /** The record index of each file, in input order (to save with `writeRecordIndex`). */
  readonly indexes: readonly TFRecordIndex[];
  /** See {@link RandomAccess.read}; always a promise here. */
  read(indices: readonly number[], signal?: AbortSignal): Promise<readonly T[]>;
  /** See {@link RandomAccess.close}: closes every kept file handle. */
  close(): Promise<void>;
}

/** One indexed file. @internal */
export interface IndexedFile {
  readonly source: ByteSource;
  readonly index: TFRecordIndex;
  /** The index file it came from, if any: named when a frame disagrees with it. */
  readonly indexFile: string | undefined;
}

function positiveInteger(value: unknown, fallback: number, name: string): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(name, `must be a positive integer, got ${describe(n)}`);
  return n;
}

/** The checked {@link RecordDatasetOptions}. @internal */
export interface DatasetSettings {
  readonly where: string;
  readonly verify: boolean;
  readonly indexPath: ((file: string) => string) | undefined;
  readonly saveIndex: boolean;
  readonly maxOpenFiles: number;
  readonly maxRun: number;
  readonly concurrency: number;
}

/** Checks the options every record dataset shares. @internal */
export function datasetSettings(options: RecordDatasetOptions, where: string): DatasetSettings {
  const { verify = true, indexPath, saveIndex = false } = options;
  if (typeof verify !== 'boolean') throw new InvalidArgumentError(`${where}.verify`, `must be a boolean, got ${describe(verify)}`);
  if (typeof saveIndex !== 'boolean') throw new InvalidArgumentError(`${where}.saveIndex`, `must be a boolean, got ${describe(saveIndex)}`);
  if (indexPath !== undefined && typeof indexPath !== 'function') {
    throw new InvalidArgumentError(`${where}.indexPath`, `must be a function from a file to its index path, got ${describe(indexPath)}`);
  }
  return {
    where,
    verify,
    indexPath,
    saveIndex,
    maxOpenFiles: positiveInteger(options.maxOpenFiles, 16, `${where}.maxOpenFiles`),
    maxRun: positiveInteger(options.maxRun, 256, `${where}.maxRun`),
    concurrency: positiveInteger(options.concurrency, 8, `${where}.concurrency`),
  };
}

/** `work` over `items`, at most `limit` at once, answers in order. */
async function mapLimit<I, R>(items: readonly I[], limit: number, work: (item: I) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The record index of `source`: read from its index file when there is one, else built by a scan
 * of its headers (and saved with `saveIndex`).
 */
async function indexOf(source: ByteSource, isPath: boolean, settings: DatasetSettings): Promise<IndexedFile> {
  const size = await source.size();
  refuseGzip(source.name, await source.read(0, 12));
  const indexFile = settings.indexPath?.(source.name) ?? (isPath ? `${source.name}.idx` : undefined);
  if (indexFile !== undefined && typeof indexFile !== 'string') {
    throw new InvalidArgumentError(`${settings.where}.indexPath`, `must answer a path, answered ${describe(indexFile)} for ${source.name}`);
  }
  if (indexFile !== undefined) {
    try {
      return { source, index: await readRecordIndex(indexFile, { file: source.name, fileSize: size }), indexFile };
    } catch (error) {
      if (!(error instanceof RxfeedError && error.code === 'RXFEED_ERR_FILE_NOT_FOUND')) throw error;
    }
  }
  const index = await scanHeaders(source, { verify: settings.verify });
  if (settings.saveIndex && indexFile !== undefined) await writeRecordIndex(indexFile, index);
  return { source, index, indexFile: undefined };
}

/**
 * Indexes every input (a path through `pool`, or a ByteSource), a few at once.
 * @internal
 */
export function indexFiles(
  inputs: readonly (string | ByteSource)[],
  pool: FileHandlePool,
  settings: DatasetSettings,
): Promise<IndexedFile[]> {
  return mapLimit(inputs, settings.concurrency, (input) =>
    typeof input === 'string' ? indexOf(pool.source(input), true, settings) : indexOf(input, false, settings),
  );
}

function u32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * The dataset over records `[first, end)` of indexed files (each part one shard of the layout).
 *
 * **Memory bound**: a range read holds the frames of at most `maxRun` consecutive records, and at
 * most `concurrency` are in flight; the indexes hold 16 bytes per record; at most `maxOpenFiles`
 * idle file handles stay open.
 * @internal
 */
export function openRecordDataset<T>(
  files: readonly IndexedFile[],
  parts: readonly Part<number>[],
  decode: (record: Uint8Array, at: { location(): RecordLocation }) => T | PromiseLike<T>,
  settings: DatasetSettings,
  pool: FileHandlePool,
): TFRecordDataset<T> {
  const { where, verify } = settings;
  const shardEnds: number[] = [];
  let size = 0;
  for (const part of parts) shardEnds.push((size += part.end! - part.first));
  const layout: RandomAccessLayout = { shardEnds, shardNames: parts.map((part) => files[part.input]!.source.name) };
  let closed = false;

  const readRun = async ({ first, end, shard }: IndexRun, signal: AbortSignal): Promise<T[]> => {
    if (closed) throw new DatasetClosedError(where);
    const part = parts[shard]!;
    const { source, index, indexFile } = files[part.input]!;
    const r0 = part.first + first - (shardEnds[shard - 1] ?? 0);
    const r1 = r0 + end - first;
    const start = index.offsets[r0]!;
    const bytes = await source.read(start, index.offsets[r1 - 1]! + index.lengths[r1 - 1]!, signal);
    const out: (T | PromiseLike<T>)[] = [];
    let pending = false;
    for (let record = r0; record < r1; record++) {
      const offset = index.offsets[record]!;
      const frame = index.lengths[record]!;
      const location: RecordLocation = { file: source.name, offset, record };
      const stale = (message: string): RecordIndexError =>
        new RecordIndexError('RXFEED_ERR_TFRECORD_INDEX_STALE', { file: source.name, indexFile, offset }, `${message}: the index is stale`);
      const at = offset - start;
      if (bytes.length < at + frame) throw stale(`the file ends inside the ${frame}-byte frame indexed here`);
      if (verify) {
        const stored = u32(bytes, at + 8);
        const computed = maskedCrc32cOf(bytes, at, at + 8);
        if (stored !== computed) {
          const hint = indexFile === undefined ? '' : `; if the file was rewritten, its index ${indexFile} is stale`;
          throw new CorruptRecordError(location, 'length-crc', `stored ${hex(stored)}, computed ${hex(computed)}${hint}`);
        }
      }
      const length = u32(bytes, at + 4) * 4294967296 + u32(bytes, at);
      if (length + FRAME_OVERHEAD !== frame) throw stale(`the frame header says ${length} data bytes, the index ${frame - FRAME_OVERHEAD}`);
      const dataStart = at + 12;
      const dataEnd = dataStart + length;
      if (verify) {
        const stored = u32(bytes, dataEnd);
        const computed = maskedCrc32cOf(bytes, dataStart, dataEnd);
        if (stored !== computed) throw new CorruptRecordError(location, 'data-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
      }
      let value: T | PromiseLike<T>;
      try {
        value = decode(bytes.subarray(dataStart, dataEnd), { location: () => location });
      } catch (error) {
        throw locate(error, location);
      }
      if (isPromiseLike(value)) {
        pending = true;
        value = Promise.resolve(value).catch((error: unknown) => {
          throw locate(error, location);
        });
      }
      out.push(value);
    }
    return pending ? Promise.all(out) : (out as T[]);
  };

  return {
    size,
    layout,
    indexes: files.map((file) => file.index),
    read: (indices, signal) => {
      if (closed) return Promise.reject(new DatasetClosedError(where));
      return readCoalesced(indices, readRun, {
        size,
        where: `${where}.read`,
        shardEnds,
        maxRun: settings.maxRun,
        concurrency: settings.concurrency,
        signal,
      });
    },
    close: async () => {
      closed = true;
      await pool.close();
    },
  };
}

function checkInputs(inputs: unknown, where: string): asserts inputs is readonly (string | ByteSource)[] {
  if (!Array.isArray(inputs))
    throw new InvalidArgumentError(`${where}.inputs`, `must be an array of paths or ByteSources, got ${describe(inputs)}`);
  inputs.forEach((input: unknown, i) => {
    const source = input as Partial<ByteSource> | null;
    if (typeof input !== 'string' && (typeof source !== 'object' || source === null || typeof source.read !== 'function')) {
      throw new InvalidArgumentError(`${where}.inputs[${i}]`, `must be a path or a ByteSource, got ${describe(input)}`);
    }
  });
}

/** Options that only a sequential reader has. */
const SEQUENTIAL_ONLY: readonly string[] = ['onCorrupt', 'maxSkipRatio', 'ledger', 'onSkip', 'lengths', 'recordsPerPull', 'chunkBytes'];

/**
 * Reads TFRecord files by index, as a map-style dataset: `await dataset.read([7, 3])` answers
 * records 7 and 3 of the files' concatenation, each exactly the item `fromTFRecord` with the same
 * decoding options emits at that position.
 *
 * Each file's record index (offset and length of every frame, 16 bytes per record) is read from
 * its `tfrecord2idx` index file (`<file>.idx` by default, see
 * {@link RecordDatasetOptions.indexPath}) or built once by a scan of its headers, before the
 * promise resolves. A read sorts the indices, and each run of consecutive records in one file is
 * ONE range read (`ByteSource.read(start, end)`), split into records, checked and decoded.
 *
 * **Lifetime**: file handles are opened as reads need them and kept (at most `maxOpenFiles` idle,
 * least recently used closed first); `close()` closes them all, and a read after it fails with
 * `DatasetClosedError`.
 *
 * **Compressed files cannot seek**: `compression: 'gzip' | 'zlib'`, a `.gz` / `.zz` name with
 * `auto`, or the gzip magic at byte 0 fail with {@link RecordIndexError}
 * `RXFEED_ERR_TFRECORD_NOT_SEEKABLE`; recompress without compression, or read them front to back
 * with `fromTFRecord`.
 *
 * @example
 * ```ts
 * const dataset = await tfrecordDataset(['train-00000.tfrecord', 'train-00001.tfrecord'], { decode: 'example' });
 * const [first, last] = await dataset.read([0, dataset.size - 1]);
 * await dataset.close();
 * ```
 *
 * @param inputs - Paths or ByteSources, in order.
 * @param options - A decoding mode of `fromTFRecord` and {@link RecordDatasetOptions}.
 * @returns The dataset, once every file is indexed.
 * @throws `InvalidArgumentError` for bad options; rejects with {@link RecordIndexError} (a
 *   malformed or stale index file, a compressed file), {@link CorruptRecordError} (a scan meeting a
 *   bad frame) or `FileReadError`. Reads reject with {@link CorruptRecordError},
 *   {@link RecordIndexError} `RXFEED_ERR_TFRECORD_INDEX_STALE`, `FeatureError` or
 *   `MalformedExampleError`, each naming the file and byte offset.
 * @public
 */
export function tfrecordDataset(
  inputs: readonly (string | ByteSource)[],
  options?: TFRecordDatasetOptions<RawRecordOptions>,
): Promise<TFRecordDataset<Uint8Array>>;
export function tfrecordDataset<S extends FeatureSpec>(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions<ExampleRecordOptions<S>> & { readonly features: S },
): Promise<TFRecordDataset<ParsedExample<S>>>;
export function tfrecordDataset(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions<ExampleRecordOptions<undefined>>,
): Promise<TFRecordDataset<Example>>;
export function tfrecordDataset<C extends FeatureSpec, Q extends FeatureSpec>(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions<SequenceExampleRecordOptions<C, Q, SequenceFeatureSpec<C, Q>>> & {
    readonly sequenceFeatures: SequenceFeatureSpec<C, Q>;
  },
): Promise<TFRecordDataset<ParsedSequenceExample<C, Q>>>;
export function tfrecordDataset(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions<SequenceExampleRecordOptions<FeatureSpec, FeatureSpec, undefined>>,
): Promise<TFRecordDataset<SequenceExample>>;
export function tfrecordDataset<T>(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions<CustomRecordOptions<T>>,
): Promise<TFRecordDataset<T>>;
export async function tfrecordDataset(
  inputs: readonly (string | ByteSource)[],
  options: TFRecordDatasetOptions = {},
): Promise<TFRecordDataset<unknown>> {
  const where = 'tfrecordDataset';
  checkInputs(inputs, where);
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`${where}.options`, `must be an object, got ${describe(options)}`);
  for (const key of SEQUENTIAL_ONLY) {
    if ((options as Record<string, unknown>)[key] !== undefined) {
      throw new InvalidArgumentError(
        `${where}.${key}`,
        'is an option of sequential reading (fromTFRecord); a dataset read by index reads every record it is asked for',
      );
    }
  }
  const compression = options.compression ?? 'auto';
  if (!['auto', 'none', 'gzip', 'zlib'].includes(compression)) {
    throw new InvalidArgumentError(`${where}.compression`, `must be auto, none, gzip or zlib, got ${describe(compression)}`);
  }
  const int64: Int64Mode = int64ModeOf(options.int64, `${where}.int64`);
  const decode = decoderOf(options as FromTFRecordOptions, int64, where);
  const settings = datasetSettings(options, where);
  for (const input of inputs) {
    const name = typeof input === 'string' ? input : input.name;
    const resolved = compressionOf(name, compression);
    if (resolved !== 'none') throw notSeekable(name, resolved);
  }
  const pool = new FileHandlePool(settings.maxOpenFiles, () => new DatasetClosedError(where));
  try {
    const files = await indexFiles(inputs, pool, settings);
    const parts = files.map((file, i) => ({ input: i, first: 0, end: file.index.count }));
    return openRecordDataset(files, parts, decode, settings, pool);
  } catch (error) {
    await pool.close();
    throw error;
  }
}
