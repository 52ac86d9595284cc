/**
 * A TFDS prepared split read by index: the RandomAccess port over its shard files, items
 * identical to `fromTfds`'s.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { FileHandlePool } from '../core/fileHandlePool.js';
import { DatasetClosedError } from '../core/randomAccess.js';
import { carveParts, type Part } from '../core/selection.js';
import { TfdsError } from './errors.js';
import { int64ModeOf, type Int64Mode } from './example.js';
import type { ImageDecoder } from './imageDecoder.js';
import { readTfdsInfo, resolveTfdsSplit, splitParts, tfdsDecoder } from './tfds.js';
import type { TfdsExample } from './tfdsFeatures.js';
import { datasetSettings, indexFiles, openRecordDataset, type RecordDatasetOptions, type TFRecordDataset } from './recordDataset.js';

/**
 * Options of {@link tfdsDataset}.
 * @public
 */
export interface TfdsDatasetOptions extends RecordDatasetOptions {
  /** Decode Image features to pixels, as `fromTfds`'s option of that name (default false). */
  readonly decodeImages?: boolean | ImageDecoder;
  /** How int64 features are decoded (default `bigint`). */
  readonly int64?: Int64Mode;
}

/**
 * Reads a split of a TFDS prepared directory by index, as a map-style dataset: element `i` is
 * exactly the `i`-th example `fromTfds` emits for the same split expression and options.
 *
 * Every shard file the split touches is indexed as {@link tfrecordDataset} does (its
 * `<shard>.idx` file, else one scan of its headers), and must hold the records
 * `dataset_info.json`'s `shardLengths` declares. The layout has one shard per shard file (per
 * range of a shard file, for a slice such as `train[10:20]`).
 *
 * @example
 * ```ts
 * import { tfdsDataset } from 'rxfeed/tfrecord';
 * const episodes = await tfdsDataset('data/bridge_dataset/1.0.0', 'train[:80%]');
 * const [episode] = await episodes.read([12]);
 * console.log(Object.keys(episode!));
 * await episodes.close();
 * ```
 *
 * @typeParam T - The type of one example, written from features.json, as for {@link fromTfds};
 *   default {@link TfdsExample}.
 * @param dataDir - The dataset version directory (holding `dataset_info.json`).
 * @param split - A TFDS split expression, e.g. `train`, `train[:10%]`, `train+val`.
 * @param options - See {@link TfdsDatasetOptions}.
 * @returns The dataset, once every shard file is indexed.
 * @throws `TfdsError` / `TfdsMetadataError` or `InvalidArgumentError` for a wrong directory, split
 *   or option, and a `TfdsError` when a shard holds another number of records than declared;
 *   otherwise as {@link tfrecordDataset}.
 * @public
 */
export async function tfdsDataset<T extends object = TfdsExample>(
  dataDir: string,
  split: string,
  options: TfdsDatasetOptions = {},
): Promise<TFRecordDataset<T>> {
  const where = 'tfdsDataset';
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`${where}.options`, `must be an object, got ${describe(options)}`);
  const int64 = int64ModeOf(options.int64, `${where}.int64`);
  const settings = datasetSettings(options, where);
  const info = readTfdsInfo(dataDir);
  const decode = tfdsDecoder(info, options.decodeImages, int64, where) as (record: Uint8Array) => T | Promise<T>;
  const { files, lengths, parts } = splitParts(info, resolveTfdsSplit(info, split));
  const pool = new FileHandlePool(settings.maxOpenFiles, () => new DatasetClosedError(where), settings.syncReadBytes);
  try {
    const indexed = await indexFiles(files, pool, settings);
    indexed.forEach(({ index }, i) => {
      if (index.count !== lengths[i]) {
        throw new TfdsError(dataDir, `shard ${files[i]} holds ${index.count} records; dataset_info.json declares ${lengths[i]}`);
      }
    });
    const shards: Part<number>[] = lengths.map((length, i) => ({ input: i, first: 0, end: length }));
    const carved = parts.flatMap(({ start, end }) => carveParts(shards, start, end));
    return openRecordDataset(indexed, carved, decode, settings, pool);
  } catch (error) {
    await pool.close();
    throw error;
  }
}
