/**
 * TFDS prepared directories: `dataset_info.json`, `features.json` and the TFRecord shards, read
 * with TFDS split slicing and decoded per `features.json`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { TfdsError } from './errors.js';
import { decodeExample, type Int64Mode } from './example.js';
import { fromTFRecordParts, type TFRecordOptions } from './fromTFRecord.js';
import { sharpImageDecoder, type ImageDecoder } from './imageDecoder.js';
import { TfdsFeatures, type TfdsExample } from './tfdsFeatures.js';

/**
 * One split of a TFDS dataset.
 * @public
 */
export interface TfdsSplitInfo {
  readonly name: string;
  /** Records in each shard, from `shardLengths`. */
  readonly shardLengths: readonly number[];
  /** The shard files, in order (absolute or relative to the working directory, as `dataDir` was). */
  readonly files: readonly string[];
  /** Records in the split. */
  readonly numExamples: number;
}

/**
 * What `dataset_info.json` says, with the shard files resolved.
 * @public
 */
export interface TfdsInfo {
  readonly dataDir: string;
  readonly name: string;
  readonly version: string;
  readonly splits: ReadonlyMap<string, TfdsSplitInfo>;
  /** The parsed `features.json`, as stored. */
  readonly features: unknown;
}

/**
 * A contiguous range `[start, end)` of one split, as a split expression selects it.
 * @public
 */
export interface TfdsSplitRange {
  readonly split: string;
  readonly start: number;
  readonly end: number;
}

const DEFAULT_TEMPLATE = '{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}';

function readJson(dataDir: string, name: string): unknown {
  const path = join(dataDir, name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TfdsError(dataDir, `cannot read ${name}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TfdsError(dataDir, `${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function shardName(template: string, dataset: string, split: string, format: string, index: number, count: number): string {
  const pad = (n: number): string => String(n).padStart(5, '0');
  return template
    .replaceAll('{DATASET}', dataset)
    .replaceAll('{SPLIT}', split)
    .replaceAll('{FILEFORMAT}', format)
    .replaceAll('{SHARD_X_OF_Y}', `${pad(index)}-of-${pad(count)}`)
    .replaceAll('{SHARD_INDEX}', pad(index))
    .replaceAll('{NUM_SHARDS}', pad(count));
}

/**
 * Reads the metadata of a TFDS prepared directory (the one holding `dataset_info.json`, e.g.
 * `~/tensorflow_datasets/mnist/3.0.1`). Small JSON files, read synchronously.
 *
 * @example
 * ```ts
 * const info = readTfdsInfo('data/bridge_dataset/1.0.0');
 * console.log(info.splits.get('train')?.numExamples);
 * ```
 *
 * @param dataDir - The dataset version directory.
 * @returns The splits (with shard files and lengths) and the features description.
 * @throws {@link TfdsError} when a file is missing or not understood.
 * @public
 */
export function readTfdsInfo(dataDir: string): TfdsInfo {
  const info = readJson(dataDir, 'dataset_info.json') as Record<string, unknown>;
  const features = readJson(dataDir, 'features.json');
  const name = String(info.name ?? '');
  const format = String(info.fileFormat ?? 'tfrecord');
  if (format !== 'tfrecord') throw new TfdsError(dataDir, `file format ${format} is not supported (only tfrecord)`);
  const splits = new Map<string, TfdsSplitInfo>();
  for (const split of (info.splits ?? []) as Record<string, unknown>[]) {
    const splitName = String(split.name);
    const shardLengths = ((split.shardLengths ?? []) as unknown[]).map((n) => Number(n));
    if (!shardLengths.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new TfdsError(dataDir, `split ${splitName}: shardLengths must be non-negative integers`);
    }
    const template = String(split.filepathTemplate ?? DEFAULT_TEMPLATE);
    const files = shardLengths.map((_, i) => join(dataDir, shardName(template, name, splitName, format, i, shardLengths.length)));
    splits.set(splitName, {
      name: splitName,
      shardLengths,
      files,
      numExamples: shardLengths.reduce((sum, n) => sum + n, 0),
    });
  }
  return { dataDir, name, version: String(info.version ?? ''), splits, features };
}

/** Python's `round`: halves go to the even neighbour, as TFDS's percent slicing does. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

const SUB_SPLIT = /^([\w-]+)(?:\[(?:(-?\d+)|(?:(-?\d+(?:%|shard)?)?:(-?\d+(?:%|shard)?)?))\])?(?:\((closest|pct1_dropremainder)\))?$/;

/**
 * Resolves a TFDS split expression to record ranges, with TFDS's semantics: `train`,
 * `train[10:20]` and `train[-5:]` (absolute, Python slice rules, clamped to the split),
 * `train[:10%]` (percent, rounded to the closest record, halves to even as TFDS does; `(pct1_dropremainder)`
 * for TFDS's other rounding), `train[:2shard]` (shard boundaries), `train[7]` (one record), and
 * unions `train+validation[:50%]`.
 *
 * @example
 * ```ts
 * resolveTfdsSplit(readTfdsInfo(dir), 'train[:10%]+val');
 * // [{ split: 'train', start: 0, end: 2 }, { split: 'val', start: 0, end: 25 }]
 * ```
 *
 * @param info - The dataset's metadata.
 * @param expression - The split expression.
 * @returns One range per `+`-separated part, in order.
 * @throws `InvalidArgumentError` for a malformed expression or an unknown split.
 * @public
 */
export function resolveTfdsSplit(info: TfdsInfo, expression: string): TfdsSplitRange[] {
  return expression.split('+').map((part) => {
    const text = part.trim();
    const match = SUB_SPLIT.exec(text);
    if (match === null) throw new InvalidArgumentError('split', `cannot parse '${text}' of '${expression}'`);
    const [, name, index, from, to, rounding] = match;
    const split = info.splits.get(name!);
    if (split === undefined) {
      throw new InvalidArgumentError('split', `no split '${name}' in ${info.dataDir}; it has ${[...info.splits.keys()].join(', ')}`);
    }
    const n = split.numExamples;
    if (index !== undefined) {
      const i = Number(index) < 0 ? n + Number(index) : Number(index);
      if (i < 0 || i >= n) throw new InvalidArgumentError('split', `index ${index} is outside '${name}' (${n} records)`);
      return { split: split.name, start: i, end: i + 1 };
    }
    const boundary = (value: string | undefined, fallback: number): number => {
      if (value === undefined) return fallback;
      let absolute: number;
      if (value.endsWith('%')) {
        const percent = Number(value.slice(0, -1));
        if (Math.abs(percent) > 100) throw new InvalidArgumentError('split', `percent ${value} is outside [-100%, 100%]`);
        absolute =
          rounding === 'pct1_dropremainder'
            ? percent * Math.floor(n / 100)
            : Math.sign(percent) * roundHalfEven((Math.abs(percent) * n) / 100);
      } else if (value.endsWith('shard')) {
        const shards = Number(value.slice(0, -'shard'.length));
        const count = split.shardLengths.length;
        const at = Math.max(0, Math.min(count, shards < 0 ? count + shards : shards));
        return split.shardLengths.slice(0, at).reduce((sum, k) => sum + k, 0);
      } else {
        absolute = Number(value);
      }
      if (absolute < 0) absolute += n;
      return Math.max(0, Math.min(n, absolute));
    };
    const start = boundary(from, 0);
    const end = boundary(to, n);
    return { split: split.name, start, end: Math.max(start, end) };
  });
}

/**
 * Options of {@link fromTfds}.
 * @public
 */
export interface FromTfdsOptions
  extends Pick<TFRecordOptions, 'verify' | 'onCorrupt' | 'maxSkipRatio' | 'ledger' | 'onSkip' | 'recordsPerPull' | 'chunkBytes'> {
  /** A TFDS split expression, e.g. `train`, `train[:10%]`, `train[-5%:]`, `train+val`. */
  readonly split: string;
  /**
   * Decode Image features to pixels (`true`: with {@link sharpImageDecoder}; or your own
   * {@link ImageDecoder}). Default false: images stay encoded bytes (decode them in
   * `parallelMap` to use every core).
   */
  readonly decodeImages?: boolean | ImageDecoder;
  /** How int64 features are decoded (default `bigint`). */
  readonly int64?: Int64Mode;
}

/**
 * Reads a split of a TFDS prepared directory as decoded examples (see the `tfdsFeatures` notes
 * for the value of each feature type: nested FeaturesDict, Sequence / Dataset, Tensor, Scalar,
 * Image, ClassLabel, Text).
 *
 * The size is known from `shardLengths`, so `padToBatch` works; `shard()` splits by element
 * exactly (ranges that cross shard files, seeking with a per-file record index), or by file with
 * `mode: 'file'`. Reading, corruption policy and memory bounds are those of `fromTFRecord`.
 *
 * @example
 * ```ts
 * const episodes = fromTfds('data/bridge_dataset/1.0.0', { split: 'train[:80%]', decodeImages: true });
 * for await (const episode of toLoader(episodes)) {
 *   for (const step of episode.steps as TfdsExample[]) { ... }
 * }
 * ```
 *
 * @param dataDir - The dataset version directory (holding `dataset_info.json`).
 * @param options - The split and decoding options.
 * @returns A cold, sized Observable of decoded examples.
 * @throws {@link TfdsError} or `InvalidArgumentError` at once when the directory or split is
 *   wrong; the Observable errors as `fromTFRecord` does, and with a `FeatureError` when a record
 *   does not match features.json.
 * @public
 */
export function fromTfds(dataDir: string, options: FromTfdsOptions): Observable<TfdsExample> {
  const info = readTfdsInfo(dataDir);
  const features = new TfdsFeatures(info.features, dataDir);
  const ranges = resolveTfdsSplit(info, options.split);
  const int64 = options.int64 ?? 'bigint';
  const imageDecoder =
    options.decodeImages === true ? sharpImageDecoder : typeof options.decodeImages === 'function' ? options.decodeImages : undefined;
  const decode = (record: Uint8Array): TfdsExample | Promise<TfdsExample> => {
    const example = decodeExample(record, { int64 });
    const images = imageDecoder === undefined ? undefined : features.decodeImages(example, imageDecoder);
    if (images === undefined) return features.decode(example, int64, undefined);
    return images.then((decoded) => features.decode(example, int64, decoded));
  };
  // Every split the expression touches, each file once, with its declared length.
  const files: string[] = [];
  const lengths: number[] = [];
  const firstFile = new Map<string, number>();
  for (const range of ranges) {
    if (firstFile.has(range.split)) continue;
    const split = info.splits.get(range.split)!;
    firstFile.set(range.split, files.length);
    files.push(...split.files);
    lengths.push(...split.shardLengths);
  }
  // Each part of the expression is a range of the global order of `files`.
  const offsets = new Map<string, number>();
  let before = 0;
  for (const split of firstFile.keys()) {
    offsets.set(split, before);
    before += info.splits.get(split)!.numExamples;
  }
  const parts = ranges.map((range) => ({
    start: offsets.get(range.split)! + range.start,
    end: offsets.get(range.split)! + range.end,
  }));
  return fromTFRecordParts(
    files,
    {
      decode,
      lengths,
      int64,
      verify: options.verify,
      onCorrupt: options.onCorrupt,
      maxSkipRatio: options.maxSkipRatio,
      ledger: options.ledger,
      onSkip: options.onSkip,
      // One episode can be megabytes of images: hand them over one at a time.
      recordsPerPull: options.recordsPerPull ?? 1,
      chunkBytes: options.chunkBytes,
    },
    parts,
  );
}
