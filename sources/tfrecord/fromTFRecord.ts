/**
 * The TFRecord source: framed records from local files or any {@link ByteSource}, CRC-checked,
 * pulled on demand, optionally decoded as `tf.train.Example` / `SequenceExample`.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { isPromiseLike } from '../../src/isPromiseLike.js';
import { LoaderStateError } from '../../src/loaderState.js';
import type { ByteSource } from '../core/byteSource.js';
import { fileByteSource, MAX_CHUNK_BYTES, STREAM_CHUNK } from '../core/fileByteSource.js';
import { fromPuller } from '../core/fromPuller.js';
import type { Chunk, Puller, PullContext } from '../core/puller.js';
import { carveParts, partsInfo } from '../core/selection.js';
import { FeatureError, MalformedExampleError, TooManyCorruptRecordsError, type RecordLocation } from './errors.js';
import { decodeExample, decodeSequenceExample, int64ModeOf, type Example, type Int64Mode, type SequenceExample } from './example.js';
import {
  parseExample,
  parseSequenceExample,
  validateSpec,
  type FeatureSpec,
  type ParsedExample,
  type ParsedSequenceExample,
  type SequenceFeatureSpec,
} from './featureSpec.js';
import {
  NEED,
  RECORD,
  SegmentCursor,
  SkipLedger,
  type Counters,
  type ResumePoint,
  type Segment,
  type Settings,
  type SkippedRecord,
  type TFRecordCompression,
} from './segmentCursor.js';

export { SkipLedger, type SkippedRecord, type TFRecordCompression } from './segmentCursor.js';

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
   * about 2 µs per 12 KB record with the native CRC32C, the CRC's own speed (`bench/tfrecord.ts`:
   * raw records with and without the check, per-round difference; medians 1.7, 2.0 and 2.7 µs in
   * three runs on a loaded 2-core machine, the issue measured 2.2-2.5 µs; not 0.3 µs), which is
   * a third to a half of the time of reading raw records from the page cache.
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
  /**
   * Bytes per read for inputs given as paths (default 1 MiB, at most 1 GiB; the measured best of
   * 256 KiB, 1 MiB and 4 MiB, see `fileByteSource`).
   */
  readonly chunkBytes?: number;
  /** How int64 values are decoded (default `bigint`); see {@link Int64Mode}. */
  readonly int64?: Int64Mode;
}

/**
 * The error of a decoder, naming the record it was raised for.
 * @internal
 */
export function locate(error: unknown, location: RecordLocation): unknown {
  if (error instanceof FeatureError && error.location === undefined) return error.at(location);
  if (error instanceof MalformedExampleError && error.location === undefined) return error.at(location);
  return error;
}

/**
 * Where a chunk of records begins, as a loader state saves it (see `Puller.bookmark`):
 * `[segment, offset, record]`, the position of the segment in the subscription's own list (after
 * any `shard`), the byte offset of the chunk's first frame (in the decompressed stream for a
 * compressed file) and that frame's record number in its file.
 */
type Bookmark = readonly [segment: number, offset: number, record: number];

/**
 * The resume point a bookmark names, checked against `segments`: it is untrusted input (a state
 * read back from disk). Whether the bytes there are that record's frame is checked when it is
 * read (see `SegmentCursor`).
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID` naming the file and offset.
 */
function resumePoint(bookmark: unknown, segments: readonly Segment[]): { segment: number; point: ResumePoint } {
  const invalid = (why: string): never => {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `fromTFRecord: the state's bookmark ${describe(bookmark)} ${why}`,
      'fromTFRecord',
    );
  };
  if (!Array.isArray(bookmark) || bookmark.length !== 3 || !bookmark.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
    invalid('is not [file, byte offset, record] (non-negative integers)');
  }
  const [index, offset, record] = bookmark as unknown as Bookmark;
  const segment = segments[index];
  if (segment === undefined) return invalid(`names file ${index}; this subscription reads ${segments.length}`);
  const name = segment.input.name;
  if (record < segment.first || (segment.end !== undefined && record >= segment.end)) {
    const span = `[${segment.first}, ${segment.end ?? 'its end'})`;
    invalid(`names record ${record} at byte ${offset} of ${name}, which reads records ${span}`);
  }
  return { segment: index, point: { offset, record } };
}

/** Opens the puller of one subscription over `segments`. */
function openPuller<T>(segments: readonly Segment[], settings: Settings<T>, context: PullContext): Puller<T> {
  const counters: Counters = { seen: 0, skipped: 0, lastSkip: '' };
  const resume = context.resumeAt === undefined ? undefined : resumePoint(context.resumeAt, segments);
  let nextSegment = resume?.segment ?? 0;
  let cursor: SegmentCursor | undefined;
  /** The position in `segments` of the cursor's segment. */
  let cursorSegment = 0;
  /** Where the chunk being gathered (or last answered) begins. */
  let chunkStart: Bookmark = [0, 0, 0];
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
    cursorSegment = nextSegment++;
    const point = cursorSegment === resume?.segment ? resume.point : undefined;
    cursor = new SegmentCursor(segments[cursorSegment]!, settings as Settings<unknown>, counters, context.signal, point);
  };

  const pull = (): Chunk<T> | Promise<Chunk<T>> => {
    // A read that was in flight when the puller closed: nothing more is read.
    if (closed) return null;
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
        if (out.length === 0) chunkStart = [cursorSegment, cursor.frameOffset, cursor.frameRecord];
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
    // A chunk never spans two files: it ends where its file does.
    bookmark: () => chunkStart,
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
  const info = partsInfo<ByteSource, T>(segments, {
    where: 'fromTFRecord',
    open: (parts) => openSegments(parts, settings),
    fileName: (source) => source.name,
  });
  return fromPuller<T>((context) => openPuller(segments, settings, context), info, 'fromTFRecord');
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

/**
 * `value` (or `fallback`), checked to be an integer in `[1, max]`.
 * @internal
 */
export function positiveInteger(value: number | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
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
 * the one the file's stream reads ahead so that I/O overlaps parsing; `chunkBytes`, 1 MiB by
 * default, each for paths, read into two buffers used in turn) plus one frame (a
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
 * **Resume** (`Loader.state`): the state saves where the chunk holding the first record not
 * received begins, `[file, byte offset, record]` (the file's position in this subscription's own
 * list, after any `shard`), and a resumed loader opens that file at that offset: the files before
 * it are not opened and the records before it not read. A gzip or zlib file cannot seek: it is
 * inflated from its start and the records before the bookmark are skipped unread. A bookmark that
 * does not fit the files (no intact frame of that record at that offset) fails with a
 * `LoaderStateError` `RXFEED_ERR_STATE_INVALID` naming the file and offset.
 *
 * @example
 * ```ts
 * import { fixedLenFeature, fromTFRecord } from 'rxfeed/tfrecord';
 * import { toLoader } from 'rxfeed';
 * const examples = fromTFRecord(['train-00000.tfrecord', 'train-00001.tfrecord'], {
 *   decode: 'example',
 *   features: { image: fixedLenFeature('bytes', []), label: fixedLenFeature('int64', []) },
 * });
 * for await (const { image, label } of toLoader(examples)) console.log(image.length, label);
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
export function fromTFRecord(inputs: readonly (string | ByteSource)[], options: ExampleRecordOptions<undefined>): Observable<Example>;
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
export function fromTFRecord(inputs: readonly (string | ByteSource)[], options: FromTFRecordOptions = {}): Observable<unknown> {
  const { sources, settings } = prepare(inputs, options);
  const lengths = options.lengths;
  return openSegments(
    sources.map((source, i) => ({ input: source, first: 0, end: lengths?.[i] })),
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
  const files: Segment[] = sources.map((source, i) => ({ input: source, first: 0, end: options.lengths[i]! }));
  const segments = parts.flatMap(({ start, end }) => carveParts(files, start, end));
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
  const chunkBytes = positiveInteger(options.chunkBytes, STREAM_CHUNK, 'fromTFRecord.chunkBytes', MAX_CHUNK_BYTES);
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

/**
 * The decoder `options` ask for; `at` says where the record sits (a custom decoder is given it).
 * Shared with `tfrecordDataset`, so that both read the same items.
 * @internal
 */
export function decoderOf(
  options: FromTFRecordOptions,
  int64: Int64Mode,
  where = 'fromTFRecord',
  owned = false,
): (record: Uint8Array, at: { location(): RecordLocation }) => unknown {
  const decode = options.decode ?? 'raw';
  const decodeOptions = { int64 };
  // A raw record is copied out of a read chunk that is reused or large; a reader that `owned` the
  // bytes (a fresh buffer per range read, as tfrecordDataset's) hands out views of them instead.
  if (decode === 'raw') return owned ? (record) => record : (record) => record.slice();
  if (decode === 'example') {
    const spec = (options as ExampleRecordOptions<FeatureSpec | undefined>).features;
    if (spec === undefined) return (record) => decodeExample(record, decodeOptions);
    validateSpec(spec, `${where}.features`);
    return (record) => parseExample(decodeExample(record, decodeOptions), spec, decodeOptions);
  }
  if (decode === 'sequence-example') {
    const spec = (options as SequenceExampleRecordOptions<FeatureSpec, FeatureSpec, SequenceFeatureSpec | undefined>).sequenceFeatures;
    if (spec === undefined) return (record) => decodeSequenceExample(record, decodeOptions);
    validateSpec(spec.context ?? {}, `${where}.sequenceFeatures.context`);
    validateSpec(spec.sequence ?? {}, `${where}.sequenceFeatures.sequence`);
    return (record) => parseSequenceExample(decodeSequenceExample(record, decodeOptions), spec, decodeOptions);
  }
  if (typeof decode === 'function') {
    return (record, at) => decode(record, at.location());
  }
  throw new InvalidArgumentError(`${where}.decode`, `must be raw, example, sequence-example or a function`);
}
