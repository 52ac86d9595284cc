/**
 * The one registry of rxfeed's error codes.
 *
 * Every `code` an rxfeed error can carry is a key of {@link ERROR_CODES}, and
 * {@link RxfeedErrorCode} is their union: `RxfeedError`'s constructor takes only these, so a
 * misspelt code fails to compile. A code never changes meaning between versions; callers branch on
 * it, not on messages. Grouped by where they are raised; the class that carries each is named.
 *
 * @module
 */

/**
 * Every rxfeed error code, each mapped to itself (so `ERROR_CODES.RXFEED_ERR_TASK` can be
 * compared with `error.code` in plain JavaScript too).
 *
 * @example
 * ```ts
 * import { ERROR_CODES, RxfeedError } from 'rxfeed';
 * declare const error: unknown;
 * declare function skip(): void;
 * if (error instanceof RxfeedError && error.code === ERROR_CODES.RXFEED_ERR_OBJECT_NOT_FOUND) skip();
 * ```
 * @public
 */
export const ERROR_CODES = Object.freeze({
  // Core (src/, operators/)
  /** An option or argument is out of its documented range (`InvalidArgumentError`). */
  RXFEED_ERR_INVALID_ARG: 'RXFEED_ERR_INVALID_ARG',
  /** An operator needs the dataset size and none is known (`UnknownSizeError`). */
  RXFEED_ERR_UNKNOWN_SIZE: 'RXFEED_ERR_UNKNOWN_SIZE',
  /** File-level sharding got fewer files than rank x worker slots (`TooFewShardsError`). */
  RXFEED_ERR_TOO_FEW_SHARDS: 'RXFEED_ERR_TOO_FEW_SHARDS',
  /** A batch could not be collated: ragged shapes, mixed types or a missing key (`CollateError`). */
  RXFEED_ERR_COLLATE: 'RXFEED_ERR_COLLATE',
  /** A task run by `parallelMap` in this thread failed; `cause` is its error (`TaskError`). */
  RXFEED_ERR_TASK: 'RXFEED_ERR_TASK',
  /** A loader was aborted through its `AbortSignal` (`AbortedError`). */
  RXFEED_ERR_ABORTED: 'RXFEED_ERR_ABORTED',
  /** A loader's `next()` was called again before the previous call settled (`RxfeedError`). */
  RXFEED_ERR_CONCURRENT_NEXT: 'RXFEED_ERR_CONCURRENT_NEXT',
  /** A `Puller` broke its contract: it answered a pull with an Observable that completed without a chunk (`RxfeedError`). */
  RXFEED_ERR_PULLER: 'RXFEED_ERR_PULLER',
  /** `oneBatch` or `Loader.oneBatch` found a pipeline that yields no item (`EmptyPipelineError`). */
  RXFEED_ERR_EMPTY_LOADER: 'RXFEED_ERR_EMPTY_LOADER',
  /** An item was dropped on purpose by a `hooks` callback (`SkipItem`); never ends a pipeline. */
  RXFEED_ERR_SKIP_ITEM: 'RXFEED_ERR_SKIP_ITEM',
  /** A rank received more samples than the dataset size allows any rank (`SizeMismatchError`). */
  RXFEED_ERR_SIZE_MISMATCH: 'RXFEED_ERR_SIZE_MISMATCH',
  /** `padToBatch` owes a padded batch and has no row to repeat nor `fill` (`NoPadTemplateError`). */
  RXFEED_ERR_NO_PAD_TEMPLATE: 'RXFEED_ERR_NO_PAD_TEMPLATE',
  /** A random-access dataset was read after its `close()` (`DatasetClosedError`). */
  RXFEED_ERR_DATASET_CLOSED: 'RXFEED_ERR_DATASET_CLOSED',
  /** A random-access dataset broke its contract: a read answered the wrong number of elements (`RxfeedError`). */
  RXFEED_ERR_RANDOM_ACCESS: 'RXFEED_ERR_RANDOM_ACCESS',
  /**
   * `Loader.state` cannot describe what the consumer received: a stage cannot save its state, or
   * items reached the loader without origins (a plain Observable source, a plain operator that
   * emits later) (`LoaderStateError`).
   */
  RXFEED_ERR_STATE_UNTRACKED: 'RXFEED_ERR_STATE_UNTRACKED',
  /** A loader state is malformed: not one `Loader.state` made, or edited (`LoaderStateError`). */
  RXFEED_ERR_STATE_INVALID: 'RXFEED_ERR_STATE_INVALID',
  /**
   * A loader state does not fit the pipeline it was given to: another dataset, sampler or
   * pipeline, or a world size it cannot be split over (`LoaderStateError`).
   */
  RXFEED_ERR_STATE_MISMATCH: 'RXFEED_ERR_STATE_MISMATCH',
  /** A batch leaf could not be turned into a device tensor (`DeviceConversionError`). */
  RXFEED_ERR_DEVICE_CONVERSION: 'RXFEED_ERR_DEVICE_CONVERSION',

  // Worker threads and image decoding (src/adapters/)
  /** A worker-thread task failed; `remoteCode` is its own error's code (`WorkerTaskError`). */
  RXFEED_ERR_WORKER_TASK: 'RXFEED_ERR_WORKER_TASK',
  /** The worker thread holding an item died before answering (`WorkerExitError`). */
  RXFEED_ERR_WORKER_EXIT: 'RXFEED_ERR_WORKER_EXIT',
  /** A worker pipeline failed in one of its threads; `remoteCode` is its own error's code (`WorkerPipelineError`). */
  RXFEED_ERR_WORKER_PIPELINE: 'RXFEED_ERR_WORKER_PIPELINE',
  /**
   * A worker pipeline's part read its whole input: nothing in it split the input by worker
   * (`shard`, `fromRandomAccess`), so every thread would read the same items (`RxfeedError`, as
   * the `remoteCode` of a `WorkerPipelineError`).
   */
  RXFEED_ERR_WORKER_UNSPLIT: 'RXFEED_ERR_WORKER_UNSPLIT',
  /** A task was given to a closed worker executor, or a closed worker pipeline was subscribed (`ExecutorClosedError`). */
  RXFEED_ERR_EXECUTOR_CLOSED: 'RXFEED_ERR_EXECUTOR_CLOSED',
  /** An upload was asked of a WebGPU staging ring after it was destroyed (`RxfeedError`). */
  RXFEED_ERR_UPLOAD_RING_DESTROYED: 'RXFEED_ERR_UPLOAD_RING_DESTROYED',
  /** An image could not be decoded, or claims more than `maxPixels` pixels (`DecodeError`). */
  RXFEED_ERR_DECODE: 'RXFEED_ERR_DECODE',

  // Local files (sources/core/)
  /** A file does not exist (`ENOENT`, `ENOTDIR`) (`FileReadError`). */
  RXFEED_ERR_FILE_NOT_FOUND: 'RXFEED_ERR_FILE_NOT_FOUND',
  /** Permission to a file was denied (`EACCES`, `EPERM`) (`FileReadError`). */
  RXFEED_ERR_FILE_ACCESS: 'RXFEED_ERR_FILE_ACCESS',
  /** A path names a directory, device, FIFO or socket, not a regular file (`FileReadError`). */
  RXFEED_ERR_FILE_NOT_REGULAR: 'RXFEED_ERR_FILE_NOT_REGULAR',
  /** Any other file system failure opening or reading a file; `cause` says which (`FileReadError`). */
  RXFEED_ERR_FILE_READ: 'RXFEED_ERR_FILE_READ',

  // TFRecord and TFDS (sources/tfrecord/)
  /** A TFRecord frame failed its length or data CRC, or was cut short (`CorruptRecordError`). */
  RXFEED_ERR_CORRUPT_RECORD: 'RXFEED_ERR_CORRUPT_RECORD',
  /** More TFRecord records were skipped as corrupt than `maxSkipRatio` allows (`TooManyCorruptRecordsError`). */
  RXFEED_ERR_TOO_MANY_CORRUPT: 'RXFEED_ERR_TOO_MANY_CORRUPT',
  /** A record's feature does not match the feature spec (`FeatureError`). */
  RXFEED_ERR_FEATURE: 'RXFEED_ERR_FEATURE',
  /** A record is not a well-formed `tf.train.Example` / `SequenceExample` (`MalformedExampleError`). */
  RXFEED_ERR_MALFORMED_EXAMPLE: 'RXFEED_ERR_MALFORMED_EXAMPLE',
  /** A TFDS prepared directory is incomplete or not understood (`TfdsError`). */
  RXFEED_ERR_TFDS: 'RXFEED_ERR_TFDS',
  /** A TFDS `dataset_info.json` or `features.json` value is malformed (`TfdsMetadataError`). */
  RXFEED_ERR_TFDS_METADATA: 'RXFEED_ERR_TFDS_METADATA',
  /** A TFRecord index file (`tfrecord2idx` format) is malformed or does not fit its file (`RecordIndexError`). */
  RXFEED_ERR_TFRECORD_INDEX: 'RXFEED_ERR_TFRECORD_INDEX',
  /** A TFRecord frame disagrees with the record index read for its file: the index is stale (`RecordIndexError`). */
  RXFEED_ERR_TFRECORD_INDEX_STALE: 'RXFEED_ERR_TFRECORD_INDEX_STALE',
  /** A compressed TFRecord file cannot be read by index (`RecordIndexError`). */
  RXFEED_ERR_TFRECORD_NOT_SEEKABLE: 'RXFEED_ERR_TFRECORD_NOT_SEEKABLE',

  // WebDataset tar shards (sources/webdataset/)
  /** A shard's tar or gzip stream ended early (`TruncatedShardError`). */
  RXFEED_ERR_TRUNCATED_SHARD: 'RXFEED_ERR_TRUNCATED_SHARD',
  /** A shard is not a readable tar stream: bad checksum, malformed header, corrupt gzip (`CorruptShardError`). */
  RXFEED_ERR_CORRUPT_SHARD: 'RXFEED_ERR_CORRUPT_SHARD',
  /** A member name is absolute or has a `..` segment (`UnsafeMemberError`). */
  RXFEED_ERR_UNSAFE_MEMBER: 'RXFEED_ERR_UNSAFE_MEMBER',
  /** A sample lacks an expected extension under `missing: 'error'` (`SampleFieldError`). */
  RXFEED_ERR_MISSING_FIELD: 'RXFEED_ERR_MISSING_FIELD',
  /** A sample holds one extension twice (`SampleFieldError`). */
  RXFEED_ERR_DUPLICATE_FIELD: 'RXFEED_ERR_DUPLICATE_FIELD',
  /** A member is larger than `maxMemberSize` (`MemberTooLargeError`). */
  RXFEED_ERR_MEMBER_TOO_LARGE: 'RXFEED_ERR_MEMBER_TOO_LARGE',
  /** A member's extension is a reserved metadata name such as `__key__` (`ReservedFieldError`). */
  RXFEED_ERR_RESERVED_FIELD: 'RXFEED_ERR_RESERVED_FIELD',
  /** A sample index sidecar or `wids` shard descriptor is malformed (`SampleIndexError`). */
  RXFEED_ERR_SAMPLE_INDEX: 'RXFEED_ERR_SAMPLE_INDEX',
  /** A shard disagrees with its sample index, sidecar or `wids` descriptor (`StaleIndexError`). */
  RXFEED_ERR_STALE_INDEX: 'RXFEED_ERR_STALE_INDEX',
  /** A gzip-compressed shard was given to a random-access dataset (`CompressedShardError`). */
  RXFEED_ERR_COMPRESSED_SHARD: 'RXFEED_ERR_COMPRESSED_SHARD',
  /** A sample given to `toWebDataset` has a `__key__` that would not read back as itself (`SampleWriteError`). */
  RXFEED_ERR_SAMPLE_KEY: 'RXFEED_ERR_SAMPLE_KEY',
  /** A sample given to `toWebDataset` has a field name or value it cannot write (`SampleWriteError`). */
  RXFEED_ERR_SAMPLE_FIELD: 'RXFEED_ERR_SAMPLE_FIELD',
  /** Writing, closing or renaming a shard file failed; `cause` is the file system's error (`ShardWriteError`). */
  RXFEED_ERR_SHARD_WRITE: 'RXFEED_ERR_SHARD_WRITE',

  // Object stores (sources/objectstore/), all `ObjectStoreError`
  /** 404, or an S3 `NoSuchKey` / `NoSuchBucket`. */
  RXFEED_ERR_OBJECT_NOT_FOUND: 'RXFEED_ERR_OBJECT_NOT_FOUND',
  /** 401 or 403: missing or wrong credentials, a bad signature. */
  RXFEED_ERR_OBJECT_ACCESS: 'RXFEED_ERR_OBJECT_ACCESS',
  /** Any other 4xx except 429: the request itself is wrong; not retried. */
  RXFEED_ERR_OBJECT_REQUEST: 'RXFEED_ERR_OBJECT_REQUEST',
  /** The object changed (ETag or Last-Modified) while it was being read. */
  RXFEED_ERR_OBJECT_CHANGED: 'RXFEED_ERR_OBJECT_CHANGED',
  /** Every attempt failed with a transient fault; `cause` holds the last one. */
  RXFEED_ERR_OBJECT_RETRIES: 'RXFEED_ERR_OBJECT_RETRIES',
  /** The server answered something malformed or over its size limit. */
  RXFEED_ERR_OBJECT_PROTOCOL: 'RXFEED_ERR_OBJECT_PROTOCOL',
  /** A read broke after delivering bytes and the server sent no validator to resume against. */
  RXFEED_ERR_OBJECT_UNVERIFIABLE: 'RXFEED_ERR_OBJECT_UNVERIFIABLE',
  /** An attempt received less than the store's minimum speed. */
  RXFEED_ERR_OBJECT_SLOW: 'RXFEED_ERR_OBJECT_SLOW',
  /** An attempt ran past the store's `deadlineMs`. */
  RXFEED_ERR_OBJECT_DEADLINE: 'RXFEED_ERR_OBJECT_DEADLINE',
  /** A key is not a literal name inside the store (it would leave the base path). */
  RXFEED_ERR_OBJECT_KEY: 'RXFEED_ERR_OBJECT_KEY',
  /** A key or listing entry names a URL on an origin the store was not given. */
  RXFEED_ERR_OBJECT_ORIGIN: 'RXFEED_ERR_OBJECT_ORIGIN',
  /** The request failed below HTTP in a way a retry would not fix (unknown host ...). */
  RXFEED_ERR_OBJECT_NETWORK: 'RXFEED_ERR_OBJECT_NETWORK',

  // MongoDB (sources/mongodb/)
  /** The collection or view a dataset names does not exist (`MongoCollectionNotFoundError`). */
  RXFEED_ERR_MONGO_NO_COLLECTION: 'RXFEED_ERR_MONGO_NO_COLLECTION',
  /** The dataset's filter, pipeline, projection or sort was rejected (`MongoQueryError`). */
  RXFEED_ERR_MONGO_QUERY: 'RXFEED_ERR_MONGO_QUERY',
  /** Reading failed after its retries, or the view broke the ordering contract (`MongoReadError`). */
  RXFEED_ERR_MONGO_READ: 'RXFEED_ERR_MONGO_READ',
  /** A batch of write-back updates failed (`MongoWriteError`). */
  RXFEED_ERR_MONGO_WRITE: 'RXFEED_ERR_MONGO_WRITE',
  /** A MongoDB client was used from a thread other than the one that made it (`MongoThreadError`). */
  RXFEED_ERR_MONGO_THREAD: 'RXFEED_ERR_MONGO_THREAD',
  /** No MongoDB server could be selected within the retries (`MongoUnreachableError`). */
  RXFEED_ERR_MONGO_UNREACHABLE: 'RXFEED_ERR_MONGO_UNREACHABLE',
  /** The server refused the credentials (`MongoAuthError`). */
  RXFEED_ERR_MONGO_AUTH: 'RXFEED_ERR_MONGO_AUTH',
  /** The driver rejected a connection string before connecting (`MongoUriError`). */
  RXFEED_ERR_MONGO_URI: 'RXFEED_ERR_MONGO_URI',
  /** A document could not be turned into an element, or a reply not decoded (`MongoDecodeError`). */
  RXFEED_ERR_MONGO_DECODE: 'RXFEED_ERR_MONGO_DECODE',
  /** A document a random-access dataset listed is no longer in its view (`MongoDocumentMissingError`). */
  RXFEED_ERR_MONGO_MISSING: 'RXFEED_ERR_MONGO_MISSING',
} as const);

/**
 * The union of every rxfeed error code: the type of `RxfeedError.code`. See {@link ERROR_CODES}
 * for what each means.
 * @public
 */
export type RxfeedErrorCode = keyof typeof ERROR_CODES;
