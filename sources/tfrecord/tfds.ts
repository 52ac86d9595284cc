/**
 * TFDS prepared directories: `dataset_info.json`, `features.json` and the TFRecord shards, read
 * with TFDS split slicing and decoded per `features.json`.
 *
 * @module
 */
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe, excerpt } from '../../src/excerpt.js';
import { ownField } from '../../src/fields.js';
import { TfdsError } from './errors.js';
import { decodeExample, int64ModeOf, type Int64Mode } from './example.js';
import { fromTFRecordParts, type TFRecordOptions } from './fromTFRecord.js';
import { sharpImageDecoder, type ImageDecoder } from './imageDecoder.js';
import { TfdsFeatures, type TfdsExample } from './tfdsFeatures.js';
import { JsonReader, readJsonFile } from './tfdsJson.js';

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

/**
 * Checks a value substituted into `filepathTemplate` (the dataset or a split name): it must not
 * bring a separator or a `..` into the shard path.
 */
function placeholder(reader: JsonReader, value: string, path: string): string {
  if (/[/\\\0]/.test(value) || value.includes('..')) {
    reader.fail(path, `must not contain '/', '\\', '..' or NUL (it names shard files), got ${describe(value)}`);
  }
  return value;
}

/** The template with the placeholders every shard of a split shares filled in. */
function splitTemplate(template: string, dataset: string, split: string, format: string, count: number): string {
  return template
    .replaceAll('{DATASET}', dataset)
    .replaceAll('{SPLIT}', split)
    .replaceAll('{FILEFORMAT}', format)
    .replaceAll('{SHARD_X_OF_Y}', '{SHARD_INDEX}-of-{NUM_SHARDS}')
    .replaceAll('{NUM_SHARDS}', pad(count));
}

function pad(n: number): string {
  return String(n).padStart(5, '0');
}

/**
 * Whether `name` is a relative path that stays inside its directory by its letters alone: no
 * empty, `.` or `..` segment, no backslash (a separator on Windows), no NUL. Symbolic links
 * inside the dataset directory are followed as the user laid them out.
 */
function staysInside(name: string): boolean {
  if (name === '' || name.includes('\\') || name.includes('\0')) return false;
  return name.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function checkDataDir(dataDir: unknown): void {
  if (typeof dataDir !== 'string' || dataDir === '' || dataDir.includes('\0')) {
    throw new InvalidArgumentError('dataDir', `must be a non-empty path, got ${describe(dataDir)}`);
  }
}

/**
 * Reads the metadata of a TFDS prepared directory (the one holding `dataset_info.json`, e.g.
 * `~/tensorflow_datasets/mnist/3.0.1`). Small JSON files (at most 64 MiB each), read
 * synchronously.
 *
 * The metadata is untrusted input: every value is checked, and every shard file must resolve
 * inside `dataDir` (see {@link parseTfdsInfo}).
 *
 * @example
 * ```ts
 * import { readTfdsInfo } from 'rxfeed/tfrecord';
 * const info = readTfdsInfo('data/bridge_dataset/1.0.0');
 * console.log(info.splits.get('train')?.numExamples);
 * ```
 *
 * @param dataDir - The dataset version directory.
 * @returns The splits (with shard files and lengths) and the features description.
 * @throws {@link TfdsError} when a file is missing, unreadable, too large or not JSON;
 *   {@link TfdsMetadataError} when `dataset_info.json` is malformed; `InvalidArgumentError`
 *   for a `dataDir` that is not a path.
 * @public
 */
export function readTfdsInfo(dataDir: string): TfdsInfo {
  checkDataDir(dataDir);
  const info = readJsonFile(dataDir, 'dataset_info.json');
  const features = readJsonFile(dataDir, 'features.json');
  return parseTfdsInfo(dataDir, info, features);
}

/**
 * Checks a parsed `dataset_info.json` and resolves its shard files, without touching the disk
 * (what {@link readTfdsInfo} does after reading the files).
 *
 * Only the fields rxfeed reads are checked: `name`, `version`, `fileFormat` (strings), and each
 * split's `name` (a string), `shardLengths` (non-negative integers, as numbers or decimal strings)
 * and `filepathTemplate` (a string). Every shard path must stay inside `dataDir`: the template
 * must be a relative path with no `.` or `..` segment, and the dataset and split names must not
 * contain `/`, `\`, `..` or NUL.
 *
 * @example
 * ```ts
 * import { parseTfdsInfo } from 'rxfeed/tfrecord';
 * import { readFileSync } from 'node:fs';
 * const infoText = readFileSync('data/ds/1.0.0/dataset_info.json', 'utf8');
 * const featuresText = readFileSync('data/ds/1.0.0/features.json', 'utf8');
 * const info = parseTfdsInfo('data/ds/1.0.0', JSON.parse(infoText), JSON.parse(featuresText));
 * ```
 *
 * @param dataDir - The dataset version directory the shard paths are joined to.
 * @param datasetInfo - The parsed `dataset_info.json`.
 * @param features - The parsed `features.json` (kept as given; checked by `fromTfds`).
 * @returns The splits (with shard files and lengths) and the features description.
 * @throws {@link TfdsMetadataError} naming the JSON path of the first malformed value;
 *   {@link TfdsError} for a file format other than tfrecord; `InvalidArgumentError` for a
 *   `dataDir` that is not a path.
 * @public
 */
export function parseTfdsInfo(dataDir: string, datasetInfo: unknown, features: unknown): TfdsInfo {
  checkDataDir(dataDir);
  const reader = new JsonReader(dataDir, 'dataset_info.json');
  const info = reader.object(datasetInfo, '');
  const optionalString = (key: string, fallback: string): string => {
    const value = ownField(info, key);
    return value === undefined ? fallback : reader.string(value, key);
  };
  const name = placeholder(reader, optionalString('name', ''), 'name');
  const version = optionalString('version', '');
  const format = optionalString('fileFormat', 'tfrecord');
  if (format !== 'tfrecord') throw new TfdsError(dataDir, `file format ${describe(format)} is not supported (only tfrecord)`);
  const splits = new Map<string, TfdsSplitInfo>();
  const directory = join(dataDir, 'x').slice(0, -1);
  const splitList = ownField(info, 'splits');
  const entries = splitList === undefined ? [] : reader.array(splitList, 'splits');
  for (let s = 0; s < entries.length; s++) {
    const at = `splits[${s}]`;
    const split = reader.object(entries[s], at);
    const splitName = placeholder(reader, reader.string(ownField(split, 'name'), `${at}.name`), `${at}.name`);
    if (splits.has(splitName)) reader.fail(`${at}.name`, `repeats split ${describe(splitName)}`);
    const lengthList = ownField(split, 'shardLengths');
    const lengthValues = lengthList === undefined ? [] : reader.array(lengthList, `${at}.shardLengths`);
    const shardLengths: number[] = [];
    let numExamples = 0;
    for (let i = 0; i < lengthValues.length; i++) {
      const n = reader.integer(lengthValues[i], `${at}.shardLengths[${i}]`, 0);
      shardLengths.push(n);
      numExamples += n;
    }
    if (!Number.isSafeInteger(numExamples)) reader.fail(`${at}.shardLengths`, 'add up to more records than a safe integer');
    const templateValue = ownField(split, 'filepathTemplate');
    const template = templateValue === undefined ? DEFAULT_TEMPLATE : reader.string(templateValue, `${at}.filepathTemplate`);
    const files: string[] = [];
    const shared = splitTemplate(template, name, splitName, format, shardLengths.length);
    // Shards differ only in the digits of {SHARD_INDEX}, which cannot make a `.`, `..` or empty
    // segment: checking one name checks them all.
    const first = shared.replaceAll('{SHARD_INDEX}', pad(0));
    if (shardLengths.length > 0 && !staysInside(first)) {
      reader.fail(`${at}.filepathTemplate`, `makes shard 0 ${describe(first)}, which is not a file path inside the dataset directory`);
    }
    for (let i = 0; i < shardLengths.length; i++) {
      // The name has no `.`, `..` or empty segment, so joining is appending to the normalised directory.
      files.push(directory + shared.replaceAll('{SHARD_INDEX}', pad(i)));
    }
    splits.set(splitName, { name: splitName, shardLengths, files, numExamples });
  }
  return { dataDir, name, version, splits, features };
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
 * import { readTfdsInfo, resolveTfdsSplit } from 'rxfeed/tfrecord';
 * resolveTfdsSplit(readTfdsInfo('data/ds/1.0.0'), 'train[:10%]+val');
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
  if (!(info?.splits instanceof Map)) {
    throw new InvalidArgumentError(
      'resolveTfdsSplit.info',
      `must be a TfdsInfo (from readTfdsInfo or parseTfdsInfo), got ${describe(info)}`,
    );
  }
  if (typeof expression !== 'string') throw new InvalidArgumentError('split', `must be a string, got ${describe(expression)}`);
  return expression.split('+').map((part) => {
    const text = part.trim();
    const match = SUB_SPLIT.exec(text);
    if (match === null) throw new InvalidArgumentError('split', `cannot parse ${describe(text)} of ${describe(expression)}`);
    const [, name, index, from, to, rounding] = match;
    const split = info.splits.get(name!);
    if (split === undefined) {
      const names = [...info.splits.keys()];
      const listed =
        names
          .slice(0, 10)
          .map((split) => excerpt(split, 40))
          .join(', ') + (names.length > 10 ? `, ... (${names.length} in all)` : '');
      throw new InvalidArgumentError('split', `no split '${excerpt(name!, 40)}' in ${info.dataDir}; it has ${listed || 'none'}`);
    }
    const n = split.numExamples;
    if (index !== undefined) {
      const i = Number(index) < 0 ? n + Number(index) : Number(index);
      if (i < 0 || i >= n) throw new InvalidArgumentError('split', `index ${describe(index)} is outside '${name}' (${n} records)`);
      return { split: split.name, start: i, end: i + 1 };
    }
    const boundary = (value: string | undefined, fallback: number): number => {
      if (value === undefined) return fallback;
      let absolute: number;
      if (value.endsWith('%')) {
        const percent = Number(value.slice(0, -1));
        if (Math.abs(percent) > 100) throw new InvalidArgumentError('split', `percent ${describe(value)} is outside [-100%, 100%]`);
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
export interface FromTfdsOptions extends Pick<
  TFRecordOptions,
  'verify' | 'onCorrupt' | 'maxSkipRatio' | 'ledger' | 'onSkip' | 'recordsPerPull' | 'chunkBytes'
> {
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
 * Name the examples' type once, as `fromTfds<Episode>(...)`, and every level of an example is
 * typed from there, with no cast at each use. The type is what features.json says, written with
 * the values above (rxfeed does not check it against the file: a wrong one is a wrong cast).
 *
 * @example
 * ```ts
 * import { fromTfds, type DecodedImage } from 'rxfeed/tfrecord';
 * import { toLoader } from 'rxfeed';
 * // features.json of bridge_dataset: a Dataset of steps, each a FeaturesDict
 * interface Step {
 *   action: Float32Array; // Tensor float32 [7]
 *   is_first: boolean; // Scalar bool
 *   language_instruction: string; // Text
 *   observation: { image_0: DecodedImage; state: Float32Array }; // Image (decodeImages: true), Tensor
 * }
 * interface Episode {
 *   steps: Step[];
 *   episode_metadata: { file_path: string; episode_id: number };
 * }
 * const episodes = fromTfds<Episode>('data/bridge_dataset/1.0.0', { split: 'train[:80%]', decodeImages: true });
 * for await (const episode of toLoader(episodes)) {
 *   for (const step of episode.steps) console.log(step.language_instruction, step.action[0], step.observation.image_0.shape);
 * }
 * ```
 *
 * @typeParam T - The type of one example, written from features.json; default {@link TfdsExample},
 *   which says only that it is a tree of {@link TfdsValue}s.
 *
 * @param dataDir - The dataset version directory (holding `dataset_info.json`).
 * @param options - The split and decoding options.
 * @returns A cold, sized Observable of decoded examples.
 * @throws {@link TfdsError} (or its {@link TfdsMetadataError}) or `InvalidArgumentError` at once
 *   when the directory, its metadata, the split or an option is wrong; the Observable errors as `fromTFRecord` does, and with a `FeatureError` when a record
 *   does not match features.json.
 * @public
 */
export function fromTfds<T extends object = TfdsExample>(dataDir: string, options: FromTfdsOptions): Observable<T> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('fromTfds.options', `must be an object with a split, got ${describe(options)}`);
  }
  const int64 = int64ModeOf(options.int64, 'fromTfds.int64');
  const info = readTfdsInfo(dataDir);
  // The caller's type for what features.json describes: one cast here instead of one per use.
  const decode = tfdsDecoder(info, options.decodeImages, int64, 'fromTfds') as (record: Uint8Array) => T | Promise<T>;
  const { files, lengths, parts } = splitParts(info, resolveTfdsSplit(info, options.split));
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

/**
 * The decoder of a TFDS record per `features.json`: what `fromTfds` and `tfdsDataset` emit.
 * @internal
 */
export function tfdsDecoder(
  info: TfdsInfo,
  decodeImages: boolean | ImageDecoder | undefined,
  int64: Int64Mode,
  where: string,
): (record: Uint8Array) => TfdsExample | Promise<TfdsExample> {
  if (decodeImages !== undefined && typeof decodeImages !== 'boolean' && typeof decodeImages !== 'function') {
    throw new InvalidArgumentError(`${where}.decodeImages`, `must be a boolean or an image decoder, got ${describe(decodeImages)}`);
  }
  const features = new TfdsFeatures(info.features, info.dataDir);
  const imageDecoder = decodeImages === true ? sharpImageDecoder : typeof decodeImages === 'function' ? decodeImages : undefined;
  return (record) => {
    const example = decodeExample(record, { int64 });
    const images = imageDecoder === undefined ? undefined : features.decodeImages(example, imageDecoder);
    if (images === undefined) return features.decode(example, int64, undefined);
    return images.then((decoded) => features.decode(example, int64, decoded));
  };
}

/**
 * The shard files of every split `ranges` touch (each once, with its declared length), and each
 * range as a range of the records of those files, concatenated.
 * @internal
 */
export function splitParts(
  info: TfdsInfo,
  ranges: readonly TfdsSplitRange[],
): { files: string[]; lengths: number[]; parts: { start: number; end: number }[] } {
  const files: string[] = [];
  const lengths: number[] = [];
  const firstFile = new Map<string, number>();
  for (const range of ranges) {
    if (firstFile.has(range.split)) continue;
    const split = info.splits.get(range.split)!;
    firstFile.set(range.split, files.length);
    // One by one: a spread of a million shards would overflow the stack.
    for (const file of split.files) files.push(file);
    for (const length of split.shardLengths) lengths.push(length);
  }
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
  return { files, lengths, parts };
}
