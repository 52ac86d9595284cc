/**
 * Errors of the TFRecord, tf.train.Example and TFDS readers.
 *
 * @module
 */
import { RxfeedError } from '../../src/errors.js';

/**
 * Where a record sits: the file, the byte offset of its frame and its number in the file.
 * @public
 */
export interface RecordLocation {
  /** The file or object name (a path, a URL, `s3://bucket/key`). */
  readonly file: string;
  /**
   * Byte offset of the record's frame (its length field) in the file; for a compressed file, the
   * offset in the decompressed stream.
   */
  readonly offset: number;
  /** Position of the record in its file, counting from 0. */
  readonly record: number;
}

/**
 * Why a TFRecord frame was rejected.
 *
 * - `length-crc`: the masked CRC32C of the 8-byte length does not match, so the length (and with it
 *   every later frame boundary) cannot be trusted.
 * - `data-crc`: the masked CRC32C of the record data does not match.
 * - `truncated`: the file ends inside a frame.
 * @public
 */
export type CorruptionReason = 'length-crc' | 'data-crc' | 'truncated';

/**
 * A TFRecord frame failed its checks (see {@link CorruptionReason}). Raised by default; with
 * `onCorrupt: 'skip'` the record is skipped and reported on the ledger instead.
 * @public
 */
export class CorruptRecordError extends RxfeedError implements RecordLocation {
  readonly file: string;
  readonly offset: number;
  readonly record: number;
  readonly reason: CorruptionReason;

  constructor(location: RecordLocation, reason: CorruptionReason, detail: string) {
    super(
      'RXFEED_ERR_CORRUPT_RECORD',
      `corrupt TFRecord in ${location.file}: record ${location.record} at byte ${location.offset}: ` + `${reason} (${detail})`,
    );
    this.file = location.file;
    this.offset = location.offset;
    this.record = location.record;
    this.reason = reason;
  }
}

/**
 * With `onCorrupt: 'skip'`, more records were skipped than `maxSkipRatio` allows.
 * @public
 */
export class TooManyCorruptRecordsError extends RxfeedError {
  /** Records skipped so far. */
  readonly skipped: number;
  /** Records seen so far (read plus skipped). */
  readonly seen: number;
  /** The ratio that was exceeded. */
  readonly maxSkipRatio: number;

  constructor(skipped: number, seen: number, maxSkipRatio: number, last: string) {
    super(
      'RXFEED_ERR_TOO_MANY_CORRUPT',
      `skipped ${skipped} corrupt TFRecord record(s) of ${seen} seen, more than maxSkipRatio ` + `${maxSkipRatio}; last in ${last}`,
    );
    this.skipped = skipped;
    this.seen = seen;
    this.maxSkipRatio = maxSkipRatio;
  }
}

/**
 * Why a feature did not match its spec.
 *
 * `missing`: absent with no default; `dtype`: stored as another list kind; `shape`: the wrong
 * number of values; `precision`: an int64 that the chosen integer mode cannot hold exactly;
 * `decode`: the value could not be decoded (an image, a Text that is not UTF-8).
 * @public
 */
export type FeatureMismatch = 'missing' | 'dtype' | 'shape' | 'precision' | 'decode';

/**
 * A feature of a record does not match the feature spec (or the TFDS `features.json`).
 * @public
 */
export class FeatureError extends RxfeedError {
  /** The feature's name (a TFDS feature's flattened path, e.g. `steps/observation/image_0`). */
  readonly feature: string;
  readonly mismatch: FeatureMismatch;
  /** The record, when known (always, for errors raised by the readers). */
  readonly location: RecordLocation | undefined;
  /** The message without the location. */
  readonly detail: string;

  constructor(feature: string, mismatch: FeatureMismatch, detail: string, location?: RecordLocation) {
    super(
      'RXFEED_ERR_FEATURE',
      `feature '${feature}' ${mismatch}: ${detail}` +
        (location === undefined ? '' : ` (${location.file}: record ${location.record} at byte ${location.offset})`),
    );
    this.feature = feature;
    this.mismatch = mismatch;
    this.detail = detail;
    this.location = location;
  }

  /** The same error, naming the record it was raised for. */
  at(location: RecordLocation): FeatureError {
    return new FeatureError(this.feature, this.mismatch, this.detail, location);
  }
}

/**
 * A record is not a well-formed `tf.train.Example` / `SequenceExample` protocol buffer.
 * @public
 */
export class MalformedExampleError extends RxfeedError {
  /** The record, when known (always, for errors raised by the readers). */
  readonly location: RecordLocation | undefined;
  /** The message without the location. */
  readonly detail: string;

  constructor(detail: string, location?: RecordLocation) {
    super(
      'RXFEED_ERR_MALFORMED_EXAMPLE',
      `malformed tf.train.Example: ${detail}` +
        (location === undefined ? '' : ` (${location.file}: record ${location.record} at byte ${location.offset})`),
    );
    this.detail = detail;
    this.location = location;
  }

  /** The same error, naming the record it was raised for. */
  at(location: RecordLocation): MalformedExampleError {
    return new MalformedExampleError(this.detail, location);
  }
}

/**
 * A TFDS prepared directory is incomplete or not understood (a missing `dataset_info.json`, an
 * unknown split, a feature type this reader does not support).
 * @public
 */
export class TfdsError extends RxfeedError {
  /** The dataset directory. */
  readonly dataDir: string;

  /**
   * @param dataDir - The dataset directory.
   * @param message - What is wrong.
   * @param options - `cause`: the underlying error.
   * @param code - The code; `RXFEED_ERR_TFDS` unless a subclass names a narrower one.
   */
  constructor(
    dataDir: string,
    message: string,
    options?: ErrorOptions,
    code: 'RXFEED_ERR_TFDS' | 'RXFEED_ERR_TFDS_METADATA' = 'RXFEED_ERR_TFDS',
  ) {
    super(code, `TFDS ${dataDir}: ${message}`, options);
    this.dataDir = dataDir;
  }
}

/**
 * `dataset_info.json` or `features.json` is malformed: a value of the wrong type or out of range,
 * or a shard file name that would leave the dataset directory (a `filepathTemplate`, dataset or
 * split name with `..`, `/` or `\`). Code `RXFEED_ERR_TFDS_METADATA`; names the file and the JSON
 * path of the offending value.
 *
 * @example
 * ```ts
 * import { TfdsMetadataError } from 'rxfeed/tfrecord';
 * declare const error: unknown;
 * // TFDS data/ds/1.0.0: dataset_info.json: splits[0].shardLengths[3] must be a non-negative integer, got "x"
 * if (error instanceof TfdsMetadataError) console.log(error.file, error.jsonPath);
 * ```
 * @public
 */
export class TfdsMetadataError extends TfdsError {
  /** The JSON file: `dataset_info.json` or `features.json`. */
  readonly file: string;
  /** Where in the file, e.g. `splits[0].shardLengths[3]`; empty for the whole document. */
  readonly jsonPath: string;

  /**
   * @param dataDir - The dataset directory.
   * @param file - The JSON file.
   * @param jsonPath - The path of the offending value.
   * @param message - What is wrong with it.
   */
  constructor(dataDir: string, file: string, jsonPath: string, message: string) {
    super(dataDir, `${file}: ${jsonPath === '' ? '(document)' : jsonPath} ${message}`, undefined, 'RXFEED_ERR_TFDS_METADATA');
    this.file = file;
    this.jsonPath = jsonPath;
  }
}

/**
 * The codes of {@link RecordIndexError}.
 *
 * - `RXFEED_ERR_TFRECORD_INDEX`: an index file is malformed (a line that is not two decimal
 *   integers, frames that do not follow each other, a length past the end of the file) or does
 *   not cover its file; names the index file and its line.
 * - `RXFEED_ERR_TFRECORD_INDEX_STALE`: at read time, the frame at an indexed offset has another
 *   length than the index says: the file was rewritten after its index; names the byte offset.
 * - `RXFEED_ERR_TFRECORD_NOT_SEEKABLE`: the file is gzip or zlib compressed, so a record cannot be
 *   reached without inflating everything before it.
 * @public
 */
export type RecordIndexErrorCode = 'RXFEED_ERR_TFRECORD_INDEX' | 'RXFEED_ERR_TFRECORD_INDEX_STALE' | 'RXFEED_ERR_TFRECORD_NOT_SEEKABLE';

/**
 * A TFRecord file cannot be read by index: its index file is malformed or stale, or the file is
 * compressed (see {@link RecordIndexErrorCode}). A compressed file cannot seek: recompress it
 * without compression (or with a seekable container), or read it front to back with
 * `fromTFRecord`.
 *
 * @example
 * ```ts
 * import { RecordIndexError } from 'rxfeed/tfrecord';
 * declare const error: unknown;
 * // data/a.tfrecord, index data/a.tfrecord.idx line 3: offset 40 does not follow the previous frame (expected 52)
 * if (error instanceof RecordIndexError) console.log(error.file, error.indexFile, error.line, error.offset);
 * ```
 * @public
 */
export class RecordIndexError extends RxfeedError {
  declare readonly code: RecordIndexErrorCode;
  /** The TFRecord file (a path, a URL, `s3://bucket/key`). */
  readonly file: string;
  /** The index file, when the index was read from one. */
  readonly indexFile: string | undefined;
  /** The line of the index file at fault, counting from 1. */
  readonly line: number | undefined;
  /** The byte offset in the TFRecord file at fault. */
  readonly offset: number | undefined;

  /**
   * @param code - One of {@link RecordIndexErrorCode}.
   * @param where - Where it was found: the TFRecord file, and the index file, line and byte offset when known.
   * @param message - What is wrong.
   */
  constructor(
    code: RecordIndexErrorCode,
    where: { readonly file: string; readonly indexFile?: string; readonly line?: number; readonly offset?: number },
    message: string,
  ) {
    const at = where.offset === undefined ? '' : ` at byte ${where.offset}`;
    const index = where.indexFile === undefined ? '' : `, index ${where.indexFile}${where.line === undefined ? '' : ` line ${where.line}`}`;
    const place = where.file + at + index;
    super(code, `${place}: ${message}`);
    this.file = where.file;
    this.indexFile = where.indexFile;
    this.line = where.line;
    this.offset = where.offset;
  }
}
