/**
 * The engine of the record datasets (`tfrecordDataset`, `tfdsDataset`): indexes files (an index
 * file or one scan of the headers) and reads runs of records by index, checked and decoded.
 *
 * @module
 */
import { InvalidArgumentError, RxfeedError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import type { ByteSource } from '../core/byteSource.js';
import type { FileHandlePool } from '../core/fileHandlePool.js';
import { DatasetClosedError, readCoalesced, type IndexRun, type RandomAccess, type RandomAccessLayout } from '../core/randomAccess.js';
import type { Part } from '../core/selection.js';
import { maskedCrc32cOf } from './crc32c.js';
import { CorruptRecordError, RecordIndexError, type RecordLocation } from './errors.js';
import { locate, positiveInteger } from './fromTFRecord.js';
import { FRAME_OVERHEAD, readRecordIndex, refuseGzip, scanHeaders, writeRecordIndex, type TFRecordIndex } from './recordIndex.js';
import { hex, u32 } from './segmentCursor.js';

/**
 * How a record dataset finds and keeps its record indexes, and how it reads.
 * @public
 */
export interface RecordDatasetOptions {
  /** Check the masked CRC32C of every length and every record read (default true). */
  readonly verify?: boolean;
  /**
   * Where the `tfrecord2idx` index file of a TFRecord file is (called with the path, or the
   * ByteSource's name). Default: `<file>.idx` for a path (what DALI users have), none for a
   * ByteSource. An index file found there is read (and checked) instead of scanning the file; a
   * missing one is built by one scan of the frame headers.
   */
  readonly indexPath?: (file: string) => string;
  /** Write the index files that were missing, once built (default false). */
  readonly saveIndex?: boolean;
  /** Most file handles kept open between reads, least recently used closed first (default 16). */
  readonly maxOpenFiles?: number;
  /**
   * Range reads of local files of at most this many bytes are synchronous preads on the calling
   * thread (default 256 KiB; 0: none). From the page cache such a read takes a few microseconds,
   * where a trip through libuv's thread pool costs tens: a global shuffle over 12 KB records ran
   * at 0.36x of a sequential read through the pool (bench/randomAccess). A read the disk must
   * serve (a cold cache) blocks the event loop while it lasts: set 0 where that matters, or read
   * in a worker thread.
   */
  readonly syncReadBytes?: number;
  /**
   * Most records one range read covers (default 256): a read of many neighbours is cut into range
   * reads of at most this many records, which bounds the bytes one holds.
   */
  readonly maxRun?: number;
  /** Range reads in flight at once (default 8). */
  readonly concurrency?: number;
}

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

/** The checked {@link RecordDatasetOptions}. @internal */
export interface DatasetSettings {
  readonly where: string;
  readonly verify: boolean;
  readonly indexPath: ((file: string) => string) | undefined;
  readonly saveIndex: boolean;
  readonly maxOpenFiles: number;
  readonly syncReadBytes: number;
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
    syncReadBytes: options.syncReadBytes === 0 ? 0 : positiveInteger(options.syncReadBytes, 256 * 1024, `${where}.syncReadBytes`),
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

/**
 * The dataset over records `[first, end)` of indexed files (each part one shard of the layout).
 *
 * **Memory bound**: a range read holds the frames of at most `maxRun` consecutive records, and at
 * most `concurrency` are in flight; the indexes hold 16 bytes per record; at most `maxOpenFiles`
 * idle file handles stay open. Raw records are views of their range read's buffer (no copy), so
 * a raw record kept alive keeps its run's buffer: at most `maxRun` records' frames.
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
