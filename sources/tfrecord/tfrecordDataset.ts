/**
 * TFRecord files read by index: a map-style dataset (the RandomAccess port) over a record index
 * per file, items identical to `fromTFRecord`'s.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { ByteSource } from '../core/byteSource.js';
import { FileHandlePool } from '../core/fileHandlePool.js';
import { DatasetClosedError } from '../core/randomAccess.js';
import { int64ModeOf, type Example, type Int64Mode, type SequenceExample } from './example.js';
import type { FeatureSpec, ParsedExample, ParsedSequenceExample, SequenceFeatureSpec } from './featureSpec.js';
import {
  decoderOf,
  type CustomRecordOptions,
  type ExampleRecordOptions,
  type FromTFRecordOptions,
  type RawRecordOptions,
  type SequenceExampleRecordOptions,
} from './fromTFRecord.js';
import { datasetSettings, indexFiles, openRecordDataset, type RecordDatasetOptions, type TFRecordDataset } from './recordDataset.js';
import { notSeekable } from './recordIndex.js';
import { compressionOf } from './segmentCursor.js';

export type { RecordDatasetOptions, TFRecordDataset } from './recordDataset.js';

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
 * import { tfrecordDataset } from 'rxfeed/tfrecord';
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
  // Each range read fills a fresh buffer: raw records are views of it (a run's records share it).
  const decode = decoderOf(options as FromTFRecordOptions, int64, where, true);
  const settings = datasetSettings(options, where);
  for (const input of inputs) {
    const name = typeof input === 'string' ? input : input.name;
    const resolved = compressionOf(name, compression);
    if (resolved !== 'none') throw notSeekable(name, resolved);
  }
  const pool = new FileHandlePool(settings.maxOpenFiles, () => new DatasetClosedError(where), settings.syncReadBytes);
  try {
    const files = await indexFiles(inputs, pool, settings);
    const parts = files.map((file, i) => ({ input: i, first: 0, end: file.index.count }));
    return openRecordDataset(files, parts, decode, settings, pool);
  } catch (error) {
    await pool.close();
    throw error;
  }
}
