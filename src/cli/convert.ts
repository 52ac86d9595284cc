/**
 * `rxfeed convert <input> <output>`: TFRecord -> WebDataset shards, WebDataset -> TFRecord, and a
 * MongoDB view -> WebDataset shards, with a mapping that makes TFRecord -> tar -> TFRecord give
 * back the same Examples.
 *
 * Each shard is written atomically by `toWebDataset` (or the one file by `toTFRecord`): on a
 * failure or Ctrl-C the shard being written is removed and the shards already complete stay.
 * Memory: the writers' bounds (`highWaterMark` samples waiting, the sample being written, an
 * upload part for S3).
 *
 * @module
 * @internal
 */
import { lastValueFrom, map, Observable, toArray } from 'rxjs';
import type { ExampleInput, FeatureInput } from '../../sources/tfrecord/exampleEncoder.js';
import type { Example, FeatureValue } from '../../sources/tfrecord/exampleReader.js';
import { InvalidArgumentError } from '../errors.js';
import { quoted } from '../excerpt.js';
import { bsonBinaryBytes, decodeRecord, idText } from './inspect.js';
import type { ResolvedInput } from './inputs.js';
import { bigintsAsStrings, formatBytes, table, type CliRun } from './output.js';
import { itemsOf } from './read.js';

/** The mapping, as `convert --help` prints it. */
export const CONVERT_HELP = `Output: a name ending in .tar is a WebDataset shard pattern whose %d or %06d is the shard number (out/train-%06d.tar,
or s3://bucket/train-%06d.tar), split by --max-count and --max-size; a name ending in .tfrecord is one TFRecord file.
Mapping:
  TFRecord -> WebDataset: Example i becomes sample __key__ = i as 9 digits (000000000, ...);
    a bytes feature with one value -> member <key>.<feature> holding those bytes as they are;
    an int64 list -> <key>.<feature>.int64.json ([1, 2]: JSON numbers, or strings past 2^53);
    a float list -> <key>.<feature>.float.json (NaN, Infinity, -Infinity and -0 as those strings); a bytes list of 0 or 2+ values -> <key>.<feature>.bytes.json (base64 strings).
    In feature and field names "%", "/", "\\", control characters and a leading "_" are written %XX (%2F for "/"):
    a member name cannot hold a separator of its own, and the writer skips fields starting with "_"; so is the dot
    of a name ending in .int64.json, .float.json or .bytes.json (%2E), which would read back as a typed list.
  WebDataset -> TFRecord: each sample becomes an Example with one feature per field: <f>.int64.json and
    <f>.float.json and <f>.bytes.json back to their lists (so TFRecord -> tar -> TFRecord gives the same Examples),
    any other field a bytes feature of one value named by its extension. __key__ is not written.
  MongoDB -> WebDataset: each document becomes a sample, __key__ = its _id (an ObjectId's hex, a string, a number);
    each top-level binary field -> <key>.<field> bytes; the other fields together -> <key>.json (ObjectIds as hex,
    dates as ISO strings, binaries nested deeper as base64).`;

/** Options of `convert`. */
export interface ConvertOptions {
  /** Samples per tar shard at most. */
  readonly maxCount?: number;
  /** Bytes per tar shard at most. */
  readonly maxSize?: number;
}

/** One file written. */
export interface ConvertedFile {
  readonly path: string;
  readonly samples: number;
  readonly bytes: number;
}

/** What `convert --json` prints. */
export interface ConvertResult {
  readonly input: string;
  readonly from: ResolvedInput['format'];
  readonly to: 'tar' | 'tfrecord';
  readonly files: readonly ConvertedFile[];
  readonly totals: { readonly files: number; readonly samples: number; readonly bytes: number };
}

/** A WebDataset sample as the writer takes it. */
type Sample = { __key__: string } & Record<string, Uint8Array | string>;

/** Convert `input` to `output`. */
export async function convert(input: ResolvedInput, output: string, options: ConvertOptions, run: CliRun): Promise<ConvertResult> {
  const to = /\.tar$/i.test(output) ? 'tar' : /\.tfrecords?$/i.test(output) ? 'tfrecord' : undefined;
  if (to === undefined)
    throw new InvalidArgumentError('output', `${quoted(output, 200)} must end in .tar (WebDataset shards) or .tfrecord`);
  if (to === 'tfrecord' && (options.maxCount !== undefined || options.maxSize !== undefined)) {
    throw new InvalidArgumentError('--max-count/--max-size', 'split tar shards; a .tfrecord output is one file');
  }
  const items = await itemsOf(input);
  const source = items.pipe(abortable(run.signal));
  let files: ConvertedFile[];
  if (to === 'tfrecord') {
    if (input.format !== 'tar')
      throw new InvalidArgumentError('convert', `converts ${input.format} to WebDataset (.tar) only, not to TFRecord`);
    const { toTFRecord } = await import('../../sources/tfrecord/toTFRecord.js');
    const written = await lastValueFrom(
      source.pipe(
        map((sample) => sampleToExample(sample as Sample)),
        toTFRecord(output),
      ),
    );
    files = [{ path: written.path, samples: written.records, bytes: written.bytes }];
  } else {
    if (input.format === 'tar') throw new InvalidArgumentError('convert', 'reads WebDataset shards already: convert them to .tfrecord');
    if (input.format === 'tfds') {
      throw new InvalidArgumentError(
        'convert',
        'reads TFRecord files and MongoDB views: give the TFDS shard files themselves, with --format tfrecord',
      );
    }
    const samples: Observable<Sample> =
      input.format === 'mongodb'
        ? source.pipe(map((document) => documentToSample(document as Record<string, unknown>)))
        : source.pipe(map((record, index) => exampleToSample(exampleOf(record as Uint8Array, index), index)));
    files = await writeShards(samples, output, options);
  }
  const totals = files.reduce(
    (sum, file) => ({ files: sum.files + 1, samples: sum.samples + file.samples, bytes: sum.bytes + file.bytes }),
    {
      files: 0,
      samples: 0,
      bytes: 0,
    },
  );
  return { input: input.name, from: input.format, to, files, totals };
}

/** Completes the source when `signal` aborts (Ctrl-C), so the writer below finishes or discards cleanly. */
function abortable<T>(signal: AbortSignal): (source: Observable<T>) => Observable<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const stop = (): void => subscriber.error(new InvalidArgumentError('convert', 'interrupted'));
      if (signal.aborted) return stop();
      signal.addEventListener('abort', stop);
      const subscription = source.subscribe(subscriber);
      return () => {
        signal.removeEventListener('abort', stop);
        subscription.unsubscribe();
      };
    });
}

/**
 * Write samples as tar shards with `toWebDataset`: to files (`out/train-%06d.tar`), or to S3
 * objects (`s3://bucket/train-%06d.tar`, multipart, each visible only once complete).
 */
async function writeShards(samples: Observable<Sample>, output: string, options: ConvertOptions): Promise<ConvertedFile[]> {
  const { toWebDataset } = await import('../../sources/webdataset/toWebDataset.js');
  const limits = { maxCount: options.maxCount, maxSize: options.maxSize };
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(output);
  if (output.startsWith('s3://') && s3 === null)
    throw new InvalidArgumentError('output', `${quoted(output, 200)} is not s3://bucket/pattern`);
  let writer;
  let named: (written: { path?: string; key?: string }) => string;
  if (s3 !== null) {
    const [, bucket, pattern] = s3 as unknown as [string, string, string];
    const { s3Store } = await import('../../sources/objectstore/s3Store.js');
    writer = toWebDataset({ store: s3Store({ bucket }), pattern }, limits);
    named = (written) => `s3://${bucket}/${written.key!}`;
  } else {
    writer = toWebDataset(output, limits);
    named = (written) => written.path!;
  }
  const written = await lastValueFrom(samples.pipe(writer, toArray()));
  return written.map((shard) => ({ path: named(shard), samples: shard.samples, bytes: shard.bytes }));
}

/** Example number `index` as a sample key. */
function keyOf(index: number): string {
  return String(index).padStart(9, '0');
}

/**
 * A feature or document field name as a member extension: `%`, `/` and backslash (a tar path's
 * separators), control characters, a leading `_` (which the writer reads as metadata) and the
 * dot before a typed suffix (`x.int64.json`) are percent-escaped, so every name is written and
 * reads back as itself.
 */
export function extensionOf(name: string): string {
  return (
    name
      .replace(/[%/\\\u0000-\u001f\u007f]|^_/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
      // A name ending like a typed field (`x.int64.json`) would read back as a list of that type.
      .replace(/\.(?=(?:int64|float|bytes)\.json$)/, '%2E')
  );
}

/** The feature name of an extension written by {@link extensionOf}. */
export function featureOf(extension: string): string {
  return extension.replace(/%([0-9A-F]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const ENCODER = new TextEncoder();
/** int64s within these are written as JSON numbers: a double holds them exactly. */
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Floats JSON has no number for, written as these strings (protobuf's JSON mapping does so for the first three). */
const FLOAT_WORDS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

function floatJson(value: number): number | string {
  if (Object.is(value, -0)) return '-0';
  return Number.isFinite(value) ? value : String(value);
}

/** A decimal past int64 would wrap (`BigInt64Array` keeps the low 64 bits): refused instead. */
function inInt64(value: bigint): boolean {
  return value >= -(2n ** 63n) && value < 2n ** 63n;
}

/**
 * A record as an Example, refusing a SequenceExample (its feature lists would be dropped without
 * a word: the mapping has no place for them).
 */
function exampleOf(record: Uint8Array, index: number): Example {
  const decoded = decodeRecord(record);
  if ('example' in decoded) return decoded.example;
  throw new InvalidArgumentError(
    'convert',
    `record ${index} is a SequenceExample: its ${Object.keys(decoded.sequence.featureLists).length} feature list(s) have no WebDataset mapping`,
  );
}

/** An Example as a WebDataset sample (see {@link CONVERT_HELP}). */
export function exampleToSample(example: Record<string, FeatureValue>, index: number): Sample {
  const sample: Sample = { __key__: keyOf(index) };
  for (const [name, value] of Object.entries(example)) {
    const extension = extensionOf(name);
    if (value === null) continue;
    if (Array.isArray(value)) {
      if (value.length === 1) sample[extension] = value[0]!;
      else sample[`${extension}.bytes.json`] = ENCODER.encode(JSON.stringify(value.map((bytes) => Buffer.from(bytes).toString('base64'))));
    } else if (value instanceof BigInt64Array) {
      const numbers = Array.from(value, (n) => (n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : String(n)));
      sample[`${extension}.int64.json`] = ENCODER.encode(JSON.stringify(numbers));
    } else {
      sample[`${extension}.float.json`] = ENCODER.encode(JSON.stringify(Array.from(value as ArrayLike<number>, floatJson)));
    }
  }
  return sample;
}

/** A WebDataset sample as an Example (see {@link CONVERT_HELP}). */
export function sampleToExample(sample: Sample): ExampleInput {
  const example: Record<string, FeatureInput> = {};
  for (const [field, value] of Object.entries(sample)) {
    if (field === '__key__' || field === '__url__' || typeof value === 'string') continue;
    const typed = /^(.*)\.(int64|float|bytes)\.json$/.exec(field);
    if (typed === null) {
      setFeature(example, featureOf(field), [value]);
      continue;
    }
    const [, name, kind] = typed as unknown as [string, string, string];
    const list = parseList(value, sample.__key__, field);
    const values =
      kind === 'int64'
        ? BigInt64Array.from(list, (entry) => BigInt(entry as number | string))
        : kind === 'float'
          ? Float32Array.from(list as (number | string)[], (entry) => (typeof entry === 'string' ? FLOAT_WORDS[entry]! : entry))
          : (list as string[]).map((text) => new Uint8Array(Buffer.from(text, 'base64')));
    setFeature(example, featureOf(name), values);
  }
  return example;
}

/** Defined, not assigned: a feature named `__proto__` is a feature, not the Example's prototype. */
function setFeature(example: Record<string, FeatureInput>, name: string, value: FeatureInput): void {
  Object.defineProperty(example, name, { value, enumerable: true, writable: true, configurable: true });
}

function parseList(bytes: Uint8Array, key: string, field: string): unknown[] {
  let list: unknown;
  try {
    list = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    list = undefined;
  }
  const kind = field.split('.').at(-2);
  const valid =
    Array.isArray(list) &&
    list.every((entry) =>
      kind === 'bytes'
        ? typeof entry === 'string'
        : kind === 'float'
          ? typeof entry === 'number' || (typeof entry === 'string' && Object.hasOwn(FLOAT_WORDS, entry))
          : Number.isSafeInteger(entry) || (typeof entry === 'string' && /^-?\d{1,19}$/.test(entry) && inInt64(BigInt(entry))),
    );
  if (!valid)
    throw new InvalidArgumentError('convert', `sample ${quoted(key, 80)} field ${quoted(field, 80)} is not a JSON list of ${kind} values`);
  return list as unknown[];
}

/** A MongoDB document as a WebDataset sample (see {@link CONVERT_HELP}). */
export function documentToSample(document: Record<string, unknown>): Sample {
  const sample: Sample = { __key__: idText(document._id) };
  const rest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(document)) {
    const binary = bsonBinaryBytes(value) ?? (value instanceof Uint8Array ? value : undefined);
    if (binary !== undefined) {
      sample[extensionOf(name)] = binary;
    } else if (name !== '_id') {
      rest[name] = value;
    }
  }
  sample.json = ENCODER.encode(JSON.stringify(rest, bigintsAsStrings));
  return sample;
}

/** `convert` as a table. */
export function convertTable(result: ConvertResult): string {
  return `${result.from} -> ${result.to}: ${result.input}\n${table(
    [{ header: 'file', align: 'left' }, { header: 'samples' }, { header: 'bytes' }, { header: 'size' }],
    [
      ...result.files.map((file) => [file.path, file.samples, file.bytes, formatBytes(file.bytes)]),
      [`total (${result.totals.files} files)`, result.totals.samples, result.totals.bytes, formatBytes(result.totals.bytes)],
    ],
  )}`;
}
