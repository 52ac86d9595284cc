/**
 * The TFRecord source: framed records from local files or any {@link ByteSource}, CRC-checked,
 * pulled on demand, optionally decoded as `tf.train.Example` / `SequenceExample`.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { DatasetInfo } from '../../src/info.js';
import type { ByteSource } from '../core/byteSource.js';
import { fileByteSource, MAX_CHUNK_BYTES } from '../core/fileByteSource.js';
import { fromPuller } from '../core/fromPuller.js';
import type { Chunk, Puller, PullContext } from '../core/puller.js';
import { ByteWindow, InflateError, inflateChunks } from './byteWindow.js';
import { maskedCrc32cOf } from './crc32c.js';
import {
  CorruptRecordError,
  FeatureError,
  MalformedExampleError,
  TooManyCorruptRecordsError,
  type CorruptionReason,
  type RecordLocation,
} from './errors.js';
import {
  decodeExample,
  decodeSequenceExample,
  int64ModeOf,
  type Example,
  type Int64Mode,
  type SequenceExample,
} from './example.js';
import {
  parseExample,
  parseSequenceExample,
  validateSpec,
  type FeatureSpec,
  type ParsedExample,
  type ParsedSequenceExample,
  type SequenceFeatureSpec,
} from './featureSpec.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';

/**
 * How a file is compressed. `auto` (default) picks `gzip` for names ending in `.gz`, `zlib` for
 * `.zz` / `.zlib`, none otherwise. A compressed file cannot be seeked: element ranges that start
 * inside one read it from its beginning and skip the records before the range.
 * @public
 */
export type TFRecordCompression = 'auto' | 'none' | 'gzip' | 'zlib';

/**
 * One record skipped under `onCorrupt: 'skip'`.
 * @public
 */
export interface SkippedRecord extends RecordLocation {
  readonly reason: CorruptionReason;
  /** What exactly was wrong, e.g. `stored 0x1234abcd, computed 0x...`. */
  readonly detail: string;
}

/**
 * The record of every corrupt record skipped under `onCorrupt: 'skip'`. Pass one in the options
 * and read it during or after the iteration; it accumulates over every subscription (epoch).
 *
 * @example
 * ```ts
 * const ledger = new SkipLedger();
 * const records = fromTFRecord(files, { onCorrupt: 'skip', ledger });
 * // ... after reading:
 * for (const skip of ledger.skipped) console.warn(`${skip.file}#${skip.record}: ${skip.reason}`);
 * ```
 * @public
 */
export class SkipLedger {
  /** Every skip, in reading order. */
  readonly skipped: SkippedRecord[] = [];
}

/**
 * Decodes one record. `record` is a view of the reader's buffer, valid only during the
 * synchronous part of the call: copy what you keep (an async decoder must copy before its first
 * `await`).
 * @public
 */
export type RecordDecoder<T> = (record: Uint8Array, location: RecordLocation) => T | PromiseLike<T>;

/**
 * Options of {@link fromTFRecord} shared by every decoding mode.
 * @public
 */
export interface TFRecordOptions {
  /** See {@link TFRecordCompression}; default `auto`. */
  readonly compression?: TFRecordCompression;
  /**
   * Check the masked CRC32C of every length and every record (default true). Checking costs
   * about 0.3 µs per 12 KB record with the native CRC32C.
   */
  readonly verify?: boolean;
  /**
   * What a corrupt record does: `error` (default) ends the source with a
   * {@link CorruptRecordError}; `skip` drops it, reports it to `ledger` / `onSkip`, and goes on.
   * After a bad length CRC the reader scans forward for the next frame whose length CRC checks
   * (counting the unreadable stretch as one lost record). A damaged gzip/zlib stream loses the
   * rest of its file (one skip). Skipped records are not emitted, so a sized source then emits
   * fewer elements than its `size`: the ledger says which.
   */
  readonly onCorrupt?: 'error' | 'skip';
  /**
   * With `onCorrupt: 'skip'`: the largest share of skipped records among records seen (read plus
   * skipped), checked after each file and at the end; exceeding it raises
   * {@link TooManyCorruptRecordsError}. Default 0.01.
   */
  readonly maxSkipRatio?: number;
  /** Receives every skip (see {@link SkipLedger}). */
  readonly ledger?: SkipLedger;
  /** Called for every skip, as it happens. */
  readonly onSkip?: (skip: SkippedRecord) => void;
  /**
   * Records in each input, in order, when known (TFDS `shardLengths`). With them the source knows
   * its `size` and offers `selectRange` for exact element sharding; a file holding fewer records
   * than declared is reported as `truncated`, records beyond the declared count are not read.
   */
  readonly lengths?: readonly number[];
  /** Records handed to the pipeline per pull (default 8); backpressure is still checked between them. */
  readonly recordsPerPull?: number;
  /** Bytes per read for inputs given as paths (default 256 KiB, at most 1 GiB). */
  readonly chunkBytes?: number;
  /** How int64 values are decoded (default `bigint`); see {@link Int64Mode}. */
  readonly int64?: Int64Mode;
}

/** One input read from record `first` up to (excluding) `end`, or to its end when unknown. */
interface Segment {
  readonly source: ByteSource;
  readonly first: number;
  readonly end: number | undefined;
}

/** Per-file record offsets (8 bytes per record), built while reading and reused for seeks. */
class RecordIndex {
  #offsets = new Float64Array(64);
  count = 0;

  /** Records offset of `record`, if it is the next one not yet indexed. */
  note(record: number, offset: number): void {
    if (record !== this.count) return;
    if (this.count === this.#offsets.length) {
      const grown = new Float64Array(this.#offsets.length * 2);
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    this.#offsets[this.count++] = offset;
  }

  /** The indexed record closest to `record` from below, and its offset. */
  seek(record: number): { record: number; offset: number } {
    if (this.count === 0) return { record: 0, offset: 0 };
    const known = Math.min(record, this.count - 1);
    return { record: known, offset: this.#offsets[known]! };
  }
}

/** Everything a subscription needs besides the segments. */
interface Settings<T> {
  readonly compression: TFRecordCompression;
  readonly verify: boolean;
  readonly skip: boolean;
  readonly maxSkipRatio: number;
  readonly ledger: SkipLedger | undefined;
  readonly onSkip: ((skip: SkippedRecord) => void) | undefined;
  readonly recordsPerPull: number;
  readonly decode: (record: Uint8Array, cursor: SegmentCursor) => T | PromiseLike<T>;
  /** Per-file record indexes, shared by every source derived from one `fromTFRecord` call. */
  readonly indexes: Map<string, RecordIndex> | undefined;
}

/** Counts of one subscription, for `maxSkipRatio`. */
interface Counters {
  seen: number;
  skipped: number;
  lastSkip: string;
}

const RECORD = 0;
const NEED = 1;
const DONE = 2;
type Status = typeof RECORD | typeof NEED | typeof DONE;

const HEADER = 12;
const FOOTER = 4;

function u32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function compressionOf(name: string, option: TFRecordCompression): 'none' | 'gzip' | 'zlib' {
  if (option !== 'auto') return option;
  if (/\.gz(ip)?$/i.test(name)) return 'gzip';
  if (/\.(zz|zlib)$/i.test(name)) return 'zlib';
  return 'none';
}

/** Reads the frames of one segment for one subscription. */
class SegmentCursor {
  readonly file: string;
  readonly #segment: Segment;
  readonly #settings: Settings<unknown>;
  readonly #counters: Counters;
  readonly #index: RecordIndex | undefined;
  readonly #window: ByteWindow;
  /** Number of the next frame in the file. */
  #record: number;
  /** Bytes the next frame needs in the window. */
  #need = HEADER;
  #resyncing = false;
  /** The compressed stream broke: nothing after the current position can be read. */
  #inflateFailure: InflateError | undefined;
  /** The frame being skipped without reading (records before `first`), for a truncation report. */
  #skippedFrame: RecordLocation | undefined;
  /** Location of the record last returned by {@link SegmentCursor.next}. */
  frameOffset = 0;
  frameRecord = 0;
  /** Bounds of that record's data in {@link SegmentCursor.buffer}. */
  dataStart = 0;
  dataEnd = 0;

  constructor(segment: Segment, settings: Settings<unknown>, counters: Counters, signal: AbortSignal) {
    this.#segment = segment;
    this.#settings = settings;
    this.#counters = counters;
    this.file = segment.source.name;
    const compression = compressionOf(this.file, settings.compression);
    if (compression !== 'none') {
      this.#index = undefined;
      this.#record = 0;
      this.#window = new ByteWindow(inflateChunks(segment.source.stream(0, signal), compression), 0);
      return;
    }
    let index = settings.indexes?.get(this.file);
    if (settings.indexes !== undefined && index === undefined) {
      index = new RecordIndex();
      settings.indexes.set(this.file, index);
    }
    this.#index = index;
    // Seek to the indexed frame closest to `first`; the rest of the way is skipped frame by frame.
    const start = index?.seek(segment.first) ?? { record: 0, offset: 0 };
    this.#record = start.record;
    this.#window = new ByteWindow(segment.source.stream(start.offset, signal), start.offset);
  }

  get buffer(): Uint8Array {
    return this.#window.buffer;
  }

  /** Where the record last returned sits. */
  location(): RecordLocation {
    return { file: this.file, offset: this.frameOffset, record: this.frameRecord };
  }

  /**
   * Advance to the next record of the segment, synchronously, from the bytes already buffered.
   * `RECORD`: one is ready ({@link SegmentCursor.dataStart} ...); `NEED`: call
   * {@link SegmentCursor.fetch} first; `DONE`: the segment is over.
   */
  next(): Status {
    const window = this.#window;
    const end = this.#segment.end;
    for (;;) {
      if (end !== undefined && this.#record >= end) return DONE;
      if (this.#inflateFailure !== undefined) {
        const failure = this.#inflateFailure;
        this.#inflateFailure = undefined;
        this.#corrupt(this.#here(), failure.truncated ? 'truncated' : 'data-crc', `the compressed stream is damaged: ${failure.message}`);
        return DONE;
      }
      const available = window.available();
      if (this.#resyncing) {
        if (!this.#resync()) {
          if (!window.eof) {
            this.#need = HEADER;
            return NEED;
          }
          window.consume(window.available());
          this.#resyncing = false;
        }
        continue;
      }
      if (available < HEADER) {
        if (!window.eof) {
          this.#need = HEADER;
          return NEED;
        }
        if (window.endedInsideSkip) {
          const skipped = this.#skippedFrame!;
          this.#skippedFrame = undefined;
          this.#corrupt(skipped, 'truncated', 'the file ends inside this frame');
          return DONE;
        }
        if (available > 0) {
          const here = this.#here();
          window.consume(available);
          this.#corrupt(here, 'truncated', `${available} byte(s) left, a frame header needs ${HEADER}`);
          continue;
        }
        if (end !== undefined && this.#record < end) {
          const here = this.#here();
          this.#record = end;
          this.#corrupt(here, 'truncated', `the file ends after ${here.record} record(s); ${end} were declared`);
        }
        return DONE;
      }
      const buf = window.buffer;
      const at = window.position;
      if (this.#settings.verify) {
        const stored = u32(buf, at + 8);
        const computed = maskedCrc32cOf(buf, at, at + 8);
        if (stored !== computed) {
          const here = this.#here();
          this.#corrupt(here, 'length-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
          // The length cannot be trusted: look for the next frame whose length checks.
          this.#record++;
          this.#resyncing = true;
          window.consume(1);
          continue;
        }
      }
      const length = u32(buf, at + 4) * 4294967296 + u32(buf, at);
      const frame = HEADER + length + FOOTER;
      this.#index?.note(this.#record, window.offset);
      if (this.#record < this.#segment.first) {
        this.#skippedFrame = this.#here();
        window.skip(frame);
        this.#record++;
        continue;
      }
      if (available < frame) {
        if (!window.eof) {
          this.#need = frame;
          return NEED;
        }
        const here = this.#here();
        window.consume(available);
        this.#corrupt(here, 'truncated', `the frame needs ${frame} bytes, ${available} are left`);
        continue;
      }
      const dataStart = at + HEADER;
      const dataEnd = dataStart + length;
      if (this.#settings.verify) {
        const stored = u32(buf, dataEnd);
        const computed = maskedCrc32cOf(buf, dataStart, dataEnd);
        if (stored !== computed) {
          const here = this.#here();
          window.consume(frame);
          this.#record++;
          this.#corrupt(here, 'data-crc', `stored ${hex(stored)}, computed ${hex(computed)}`);
          continue;
        }
      }
      this.frameOffset = window.offset;
      this.frameRecord = this.#record;
      this.dataStart = dataStart;
      this.dataEnd = dataEnd;
      window.consume(frame);
      this.#record++;
      this.#counters.seen++;
      return RECORD;
    }
  }

  /** Wait for the bytes the last `NEED` asked for (or the end of the file). */
  async fetch(): Promise<void> {
    try {
      await this.#window.fill(this.#need);
    } catch (error) {
      if (!(error instanceof InflateError)) throw error;
      this.#inflateFailure = error;
    }
  }

  close(): Promise<void> {
    return this.#window.close();
  }

  #here(): RecordLocation {
    return { file: this.file, offset: this.#window.offset, record: this.#record };
  }

  /** Scans the window for a frame header whose length CRC checks; true when the window sits on one. */
  #resync(): boolean {
    const window = this.#window;
    const buf = window.buffer;
    const at = window.position;
    const last = at + window.available() - HEADER;
    for (let i = at; i <= last; i++) {
      if (maskedCrc32cOf(buf, i, i + 8) === u32(buf, i + 8)) {
        window.consume(i - at);
        this.#resyncing = false;
        return true;
      }
    }
    if (last >= at) window.consume(last - at + 1);
    return false;
  }

  #corrupt(location: RecordLocation, reason: CorruptionReason, detail: string): void {
    if (!this.#settings.skip) throw new CorruptRecordError(location, reason, detail);
    const skip: SkippedRecord = { ...location, reason, detail };
    this.#counters.seen++;
    this.#counters.skipped++;
    this.#counters.lastSkip = `${location.file} (record ${location.record} at byte ${location.offset})`;
    this.#settings.ledger?.skipped.push(skip);
    this.#settings.onSkip?.(skip);
  }
}


function locate(error: unknown, location: RecordLocation): unknown {
  if (error instanceof FeatureError && error.location === undefined) return error.at(location);
  if (error instanceof MalformedExampleError && error.location === undefined) return error.at(location);
  return error;
}

/** Opens the puller of one subscription over `segments`. */
function openPuller<T>(segments: readonly Segment[], settings: Settings<T>, context: PullContext): Puller<T> {
  const counters: Counters = { seen: 0, skipped: 0, lastSkip: '' };
  let nextSegment = 0;
  let cursor: SegmentCursor | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;

  const checkRatio = (): void => {
    if (counters.skipped > 0 && counters.skipped > settings.maxSkipRatio * counters.seen) {
      throw new TooManyCorruptRecordsError(counters.skipped, counters.seen, settings.maxSkipRatio, counters.lastSkip);
    }
  };

  const openNext = async (): Promise<void> => {
    await closing;
    closing = undefined;
    if (closed) return;
    cursor = new SegmentCursor(segments[nextSegment++]!, settings as Settings<unknown>, counters, context.signal);
  };

  const pull = (): Chunk<T> | Promise<Chunk<T>> => {
    const out: (T | PromiseLike<T>)[] = [];
    let pending = false;
    while (out.length < settings.recordsPerPull) {
      if (cursor === undefined) {
        if (nextSegment >= segments.length) {
          if (out.length > 0) break;
          checkRatio();
          return closing === undefined ? null : closing.then(() => null);
        }
        if (out.length > 0) break;
        return openNext().then(pull);
      }
      const status = cursor.next();
      if (status === RECORD) {
        let value: T | PromiseLike<T>;
        try {
          value = settings.decode(cursor.buffer.subarray(cursor.dataStart, cursor.dataEnd), cursor);
        } catch (error) {
          throw locate(error, cursor.location());
        }
        if (isPromiseLike(value)) {
          const location = cursor.location();
          pending = true;
          value = Promise.resolve(value).catch((error: unknown) => {
            throw locate(error, location);
          });
        }
        out.push(value);
        continue;
      }
      if (status === NEED) {
        if (out.length > 0) break;
        return cursor.fetch().then(pull);
      }
      closing = cursor.close();
      cursor = undefined;
      if (settings.skip) checkRatio();
    }
    return pending ? Promise.all(out) : (out as T[]);
  };

  return {
    pull,
    close: async () => {
      closed = true;
      const current = cursor;
      cursor = undefined;
      await Promise.all([closing, current?.close()]);
    },
  };
}

/** The source over `segments`, with the metadata `shard` uses. */
function openSegments<T>(segments: readonly Segment[], settings: Settings<T>): Observable<T> {
  const known = segments.every((segment) => segment.end !== undefined);
  const lengths = segments.map((segment) => (segment.end ?? 0) - segment.first);
  const size = known ? lengths.reduce((sum, n) => sum + n, 0) : undefined;
  const info: DatasetInfo<T> = {
    files: segments.map((segment) => segment.source.name),
    selectFiles: (indices) =>
      openSegments(
        indices.map((i) => {
          const segment = segments[i];
          if (segment === undefined) {
            throw new InvalidArgumentError('selectFiles', `no file at position ${i} of ${segments.length}`);
          }
          return segment;
        }),
        settings,
      ),
    ...(size === undefined
      ? {}
      : {
          size,
          selectRange: (start: number, end: number) => {
            if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > size) {
              throw new InvalidArgumentError('selectRange', `[${start}, ${end}) is not a range of [0, ${size})`);
            }
            const carved: Segment[] = [];
            let before = 0;
            segments.forEach((segment, i) => {
              const length = lengths[i]!;
              const from = Math.max(start - before, 0);
              const to = Math.min(end - before, length);
              if (from < to) carved.push({ source: segment.source, first: segment.first + from, end: segment.first + to });
              before += length;
            });
            return openSegments(carved, settings);
          },
        }),
  };
  return fromPuller<T>((context) => openPuller(segments, settings, context), info);
}

/** Options of {@link fromTFRecord} emitting raw records. @public */
export interface RawRecordOptions extends TFRecordOptions {
  /** `raw` (default): each record as a fresh `Uint8Array` the consumer owns. */
  readonly decode?: 'raw';
}

/** Options of {@link fromTFRecord} decoding `tf.train.Example`s. @public */
export interface ExampleRecordOptions<S extends FeatureSpec | undefined = undefined> extends TFRecordOptions {
  readonly decode: 'example';
  /** Parse with this spec (see `parseExample`); without it every feature is returned as stored. */
  readonly features?: S;
}

/** Options of {@link fromTFRecord} decoding `tf.train.SequenceExample`s. @public */
export interface SequenceExampleRecordOptions<
  C extends FeatureSpec = FeatureSpec,
  Q extends FeatureSpec = FeatureSpec,
  P extends SequenceFeatureSpec<C, Q> | undefined = undefined,
> extends TFRecordOptions {
  readonly decode: 'sequence-example';
  /** Parse with these specs (see `parseSequenceExample`). */
  readonly sequenceFeatures?: P;
}

/** Options of {@link fromTFRecord} with a decoder of your own. @public */
export interface CustomRecordOptions<T> extends TFRecordOptions {
  /** Called once per record; see {@link RecordDecoder} for the lifetime of its argument. */
  readonly decode: RecordDecoder<T>;
}

/**
 * Any options {@link fromTFRecord} takes.
 * @public
 */
export type FromTFRecordOptions<T = unknown> =
  | RawRecordOptions
  | ExampleRecordOptions<FeatureSpec | undefined>
  | SequenceExampleRecordOptions<FeatureSpec, FeatureSpec, SequenceFeatureSpec | undefined>
  | CustomRecordOptions<T>;

function positiveInteger(value: number | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new InvalidArgumentError(name, `must be an integer in [1, ${max}], got ${describe(n)}`);
  }
  return n;
}

/**
 * Reads TFRecord files: framed records (u64 length, masked CRC32C of the length, data, masked
 * CRC32C of the data), pulled only as fast as the pipeline consumes.
 *
 * Inputs are local paths or {@link ByteSource}s (object-store objects plug in unchanged: only
 * `stream(offset, signal)` is used). Files are read in order, one at a time, through one stream
 * each; the stream is closed when the file ends, on error and on unsubscribe (a `take(1)` or a
 * `break` closes the file handle before the loop's `break` returns).
 *
 * **Memory bound**: per subscription, at most two chunks of the stream (the one being parsed and
 * the one read ahead so that I/O overlaps parsing; 256 KiB each for paths) plus one frame (a
 * scratch buffer for a frame that straddles two chunks, kept at the size of the largest such
 * frame), plus `recordsPerPull` decoded records; for a compressed file add one chunk's
 * decompressed output.
 *
 * **Ownership**: raw records are fresh `Uint8Array`s (their own `ArrayBuffer`, transferable);
 * decoded values are fresh copies too. A custom decoder sees a view of the read buffer, valid
 * only during its synchronous part.
 *
 * **Sharding**: the Observable carries `files` and `selectFiles` (file-level `shard`); with
 * `lengths` also `size` and `selectRange(start, end)`, which reads only those elements across file
 * boundaries, seeking through a per-file record index (8 bytes per record, built on the first
 * read and kept with this source, so later epochs seek directly).
 *
 * @example
 * ```ts
 * const examples = fromTFRecord(['train-00000.tfrecord', 'train-00001.tfrecord'], {
 *   decode: 'example',
 *   features: { image: fixedLenFeature('bytes', []), label: fixedLenFeature('int64', []) },
 * });
 * for await (const { image, label } of toLoader(examples)) { ... }
 * ```
 *
 * @param inputs - Paths or ByteSources, in reading order.
 * @param options - Decoding mode and reading options; see {@link TFRecordOptions}.
 * @returns A cold Observable of records (raw, decoded or custom-decoded).
 * @throws `InvalidArgumentError` at once for bad options. The Observable errors with
 *   {@link CorruptRecordError}, {@link TooManyCorruptRecordsError}, {@link FeatureError} or
 *   {@link MalformedExampleError}, each naming the file, byte offset and record.
 * @public
 */
export function fromTFRecord(inputs: readonly (string | ByteSource)[], options?: RawRecordOptions): Observable<Uint8Array>;
export function fromTFRecord<S extends FeatureSpec>(
  inputs: readonly (string | ByteSource)[],
  options: ExampleRecordOptions<S> & { readonly features: S },
): Observable<ParsedExample<S>>;
export function fromTFRecord(
  inputs: readonly (string | ByteSource)[],
  options: ExampleRecordOptions<undefined>,
): Observable<Example>;
export function fromTFRecord<C extends FeatureSpec, Q extends FeatureSpec>(
  inputs: readonly (string | ByteSource)[],
  options: SequenceExampleRecordOptions<C, Q, SequenceFeatureSpec<C, Q>> & {
    readonly sequenceFeatures: SequenceFeatureSpec<C, Q>;
  },
): Observable<ParsedSequenceExample<C, Q>>;
export function fromTFRecord(
  inputs: readonly (string | ByteSource)[],
  options: SequenceExampleRecordOptions<FeatureSpec, FeatureSpec, undefined>,
): Observable<SequenceExample>;
export function fromTFRecord<T>(inputs: readonly (string | ByteSource)[], options: CustomRecordOptions<T>): Observable<T>;
export function fromTFRecord(
  inputs: readonly (string | ByteSource)[],
  options: FromTFRecordOptions = {},
): Observable<unknown> {
  const { sources, settings } = prepare(inputs, options);
  const lengths = options.lengths;
  return openSegments(
    sources.map((source, i) => ({ source, first: 0, end: lengths?.[i] })),
    settings,
  );
}

/**
 * `fromTFRecord` over parts of the global record order of `inputs` (whose `lengths` must be
 * given), read one after another: what a TFDS split union such as `train[:10]+val` needs. The
 * result is one source, so `size` and `selectRange` span all parts.
 * @internal
 */
export function fromTFRecordParts<T>(
  inputs: readonly (string | ByteSource)[],
  options: CustomRecordOptions<T> & { readonly lengths: readonly number[] },
  parts: readonly { readonly start: number; readonly end: number }[],
): Observable<T> {
  const { sources, settings } = prepare(inputs, options);
  const segments: Segment[] = [];
  for (const { start, end } of parts) {
    let before = 0;
    sources.forEach((source, i) => {
      const length = options.lengths[i]!;
      const from = Math.max(start - before, 0);
      const to = Math.min(end - before, length);
      if (from < to) segments.push({ source, first: from, end: to });
      before += length;
    });
  }
  return openSegments(segments, settings as Settings<T>);
}

function prepare(
  inputs: readonly (string | ByteSource)[],
  options: FromTFRecordOptions,
): { sources: ByteSource[]; settings: Settings<unknown> } {
  if (!Array.isArray(inputs)) throw new InvalidArgumentError('fromTFRecord.inputs', 'must be an array of paths or ByteSources');
  inputs.forEach((input: unknown, i) => {
    const source = input as Partial<ByteSource> | null;
    if (typeof input !== 'string' && (typeof source !== 'object' || source === null || typeof source.stream !== 'function')) {
      throw new InvalidArgumentError(`fromTFRecord.inputs[${i}]`, 'must be a path or a ByteSource');
    }
  });
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('fromTFRecord.options', 'must be an object');
  const chunkBytes = positiveInteger(options.chunkBytes, 256 * 1024, 'fromTFRecord.chunkBytes', MAX_CHUNK_BYTES);
  const recordsPerPull = positiveInteger(options.recordsPerPull, 8, 'fromTFRecord.recordsPerPull');
  const maxSkipRatio = options.maxSkipRatio ?? 0.01;
  if (!(typeof maxSkipRatio === 'number' && maxSkipRatio >= 0 && maxSkipRatio <= 1)) {
    throw new InvalidArgumentError('fromTFRecord.maxSkipRatio', `must be within [0, 1], got ${describe(maxSkipRatio)}`);
  }
  const onCorrupt = options.onCorrupt ?? 'error';
  if (onCorrupt !== 'error' && onCorrupt !== 'skip') {
    throw new InvalidArgumentError('fromTFRecord.onCorrupt', `must be 'error' or 'skip', got ${describe(onCorrupt)}`);
  }
  if (options.ledger !== undefined && !(options.ledger instanceof SkipLedger)) {
    throw new InvalidArgumentError('fromTFRecord.ledger', `must be a SkipLedger, got ${describe(options.ledger)}`);
  }
  if (options.onSkip !== undefined && typeof options.onSkip !== 'function') {
    throw new InvalidArgumentError('fromTFRecord.onSkip', `must be a function, got ${describe(options.onSkip)}`);
  }
  const compression = options.compression ?? 'auto';
  if (!['auto', 'none', 'gzip', 'zlib'].includes(compression)) {
    throw new InvalidArgumentError('fromTFRecord.compression', `must be auto, none, gzip or zlib, got ${describe(compression)}`);
  }
  const lengths = options.lengths;
  if (lengths !== undefined) {
    if (!Array.isArray(lengths)) throw new InvalidArgumentError('fromTFRecord.lengths', 'must be an array');
    if (lengths.length !== inputs.length) {
      throw new InvalidArgumentError('fromTFRecord.lengths', `has ${lengths.length} entries for ${inputs.length} inputs`);
    }
    if (!lengths.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new InvalidArgumentError('fromTFRecord.lengths', 'must be non-negative integers');
    }
  }
  const int64 = int64ModeOf(options.int64, 'fromTFRecord.int64');
  const sources = inputs.map((input) => (typeof input === 'string' ? fileByteSource(input, chunkBytes) : input));
  const settings: Settings<unknown> = {
    compression,
    verify: options.verify ?? true,
    skip: onCorrupt === 'skip',
    maxSkipRatio,
    ledger: options.ledger,
    onSkip: options.onSkip,
    recordsPerPull,
    decode: decoderOf(options, int64),
    indexes: lengths === undefined ? undefined : new Map(),
  };
  return { sources, settings };
}

function decoderOf(
  options: FromTFRecordOptions,
  int64: Int64Mode,
): (record: Uint8Array, cursor: SegmentCursor) => unknown {
  const decode = options.decode ?? 'raw';
  const decodeOptions = { int64 };
  if (decode === 'raw') return (record) => record.slice();
  if (decode === 'example') {
    const spec = (options as ExampleRecordOptions<FeatureSpec | undefined>).features;
    if (spec === undefined) return (record) => decodeExample(record, decodeOptions);
    validateSpec(spec, 'fromTFRecord.features');
    return (record) => parseExample(decodeExample(record, decodeOptions), spec, decodeOptions);
  }
  if (decode === 'sequence-example') {
    const spec = (options as SequenceExampleRecordOptions<FeatureSpec, FeatureSpec, SequenceFeatureSpec | undefined>)
      .sequenceFeatures;
    if (spec === undefined) return (record) => decodeSequenceExample(record, decodeOptions);
    validateSpec(spec.context ?? {}, 'fromTFRecord.sequenceFeatures.context');
    validateSpec(spec.sequence ?? {}, 'fromTFRecord.sequenceFeatures.sequence');
    return (record) => parseSequenceExample(decodeSequenceExample(record, decodeOptions), spec, decodeOptions);
  }
  if (typeof decode === 'function') {
    return (record, cursor) => decode(record, cursor.location());
  }
  throw new InvalidArgumentError('fromTFRecord.decode', `must be raw, example, sequence-example or a function`);
}
