/**
 * `rxfeed bench <input>`: how fast an input reads, and where the time goes.
 *
 * Three passes over the same work, one after another: `parse` reads samples through the source
 * (for `--seconds` or `--samples`, or the whole input), counting the raw bytes it pulled from the
 * files; `io` then streams those same raw bytes from the same files and does nothing with them;
 * with `--decode`, `decode` reads the same number of samples again and decodes each one (images
 * to RGB pixels, Examples to features, text and labels to values). Read I/O is the `io` pass's
 * time, parsing the difference between `parse` and `io`, decoding the difference between `decode`
 * and `parse`. The passes run one at a time on one core, so they add up; a file read a second time
 * comes from the page cache, as a warm epoch does.
 *
 * Memory: one sample at a time (decoded, with `--decode`) plus what the source reads ahead (see
 * each source's bounds); the io pass holds one stream chunk.
 *
 * @module
 * @internal
 */
import { gunzipSync } from 'node:zlib';
import { type Observable } from 'rxjs';
import type { ByteSource } from '../../sources/core/byteSource.js';
import { toLoader } from '../loader.js';
import type { InputFile, ResolvedInput } from './inputs.js';
import { bsonBinaryBytes, decodeRecord } from './inspect.js';
import { table, type CliRun } from './output.js';
import { itemsOf, tfdsSplits } from './read.js';

/** Options of `bench`. */
export interface BenchOptions {
  /** Read for this long (default 10 s when `samples` is not given). */
  readonly seconds?: number;
  /** Read this many samples (or all, when fewer). */
  readonly samples?: number;
  /** Also time decoding each sample. */
  readonly decode?: boolean;
}

/** One pass of `bench`. */
export interface BenchPass {
  readonly stage: 'io' | 'parse' | 'decode';
  /** Samples read (for `io`: those of the `parse` pass, whose bytes it read again). */
  readonly samples: number;
  /** Bytes: raw file bytes for `io`; the samples' payload (fields, records, values) for the others. */
  readonly bytes: number;
  readonly seconds: number;
  readonly samplesPerSecond: number;
  /** Megabytes (10^6 bytes) per second. */
  readonly mbPerSecond: number;
}

/** What `bench --json` prints. */
export interface BenchResult {
  readonly input: string;
  readonly format: ResolvedInput['format'];
  readonly passes: readonly BenchPass[];
  /**
   * Seconds spent per stage for the samples read: `io` (the io pass), `parse` (parse minus io),
   * `decode` (decode minus parse, with `--decode`); each never below 0.
   */
  readonly breakdown: Readonly<Partial<Record<'io' | 'parse' | 'decode', number>>>;
  /** Why a stage was not measured (a MongoDB view has no files to stream). */
  readonly notes: readonly string[];
}

const DEFAULT_SECONDS = 10;

/** Run the passes over `input`. */
export async function bench(input: ResolvedInput, options: BenchOptions, run: CliRun): Promise<BenchResult> {
  const limit = {
    samples: options.samples,
    seconds: options.samples === undefined ? (options.seconds ?? DEFAULT_SECONDS) : options.seconds,
  };
  const notes: string[] = [];
  const rawBytes = { count: 0 };
  const parse = await pass('parse', await counted(input, rawBytes), limit, run, undefined);
  const passes: BenchPass[] = [parse];
  const breakdown: Partial<Record<'io' | 'parse' | 'decode', number>> = {};
  const files = await filesOf(input);
  const raw = input.format === 'tfds' ? await tfdsRawBytes(input, files!, parse.samples) : rawBytes.count;
  if (files === undefined) {
    notes.push('io: a MongoDB view has no files to stream; parse includes the server and the network');
    breakdown.parse = parse.seconds;
  } else {
    const io = await ioPass(files, raw, parse.samples, run.signal);
    passes.unshift(io);
    breakdown.io = io.seconds;
    breakdown.parse = Math.max(0, parse.seconds - io.seconds);
  }
  if (options.decode === true && !run.signal.aborted) {
    if (input.format === 'mongodb') {
      notes.push('decode: documents arrive decoded from BSON; there is no further decoding to time');
    } else {
      const decoding = await pass(
        'decode',
        await itemsOf(input, { decodeImages: true }),
        { samples: parse.samples, seconds: undefined },
        run,
        decoderOf(input.format),
      );
      passes.push(decoding);
      breakdown.decode = Math.max(0, decoding.seconds - parse.seconds);
    }
  }
  return { input: input.name, format: input.format, passes, breakdown, notes };
}

/** The input's items, its files wrapped to count the raw bytes the source pulls. */
async function counted(input: ResolvedInput, counter: { count: number }): Promise<Observable<unknown>> {
  if (input.format !== 'tar' && input.format !== 'tfrecord') return itemsOf(input);
  const files = input.files.map((file) => ({ ...file, local: undefined, open: () => countingSource(file.open(), counter) }));
  return itemsOf({ ...input, files });
}

function countingSource(source: ByteSource, counter: { count: number }): ByteSource {
  return {
    name: source.name,
    size: (signal) => source.size(signal),
    read: async (start, end, signal) => {
      const bytes = await source.read(start, end, signal);
      counter.count += bytes.byteLength;
      return bytes;
    },
    async *stream(start, signal) {
      for await (const chunk of source.stream(start, signal)) {
        counter.count += chunk.byteLength;
        yield chunk;
      }
    },
  };
}

/** TFDS: the raw bytes of `samples` records, at the average record size of the split's files (an estimate). */
async function tfdsRawBytes(
  input: Extract<ResolvedInput, { format: 'tfds' }>,
  files: readonly InputFile[],
  samples: number,
): Promise<number> {
  const records = (await tfdsSplits(input.dataDir, input.split, 'default')).reduce((sum, split) => sum + split.numExamples, 0);
  const bytes = files.reduce((sum, file) => sum + file.bytes, 0);
  return records === 0 ? 0 : Math.min(bytes, Math.round((bytes / records) * samples));
}

/** The files an io pass streams: the shards, or the TFDS split's shard files; none for MongoDB. */
async function filesOf(input: ResolvedInput): Promise<readonly InputFile[] | undefined> {
  if (input.format === 'mongodb') return undefined;
  if (input.format !== 'tfds') return input.files;
  const { stat } = await import('node:fs/promises');
  const { fileByteSource } = await import('../../sources/core/fileByteSource.js');
  const files: InputFile[] = [];
  for (const split of await tfdsSplits(input.dataDir, input.split, 'default')) {
    for (const path of split.files)
      files.push({ name: path, bytes: (await stat(path)).size, local: path, open: () => fileByteSource(path) });
  }
  return files;
}

/** Stream `bytes` raw bytes of `files`, in order, doing nothing with them. */
async function ioPass(files: readonly InputFile[], bytes: number, samples: number, signal: AbortSignal): Promise<BenchPass> {
  const started = performance.now();
  let read = 0;
  for (const file of files) {
    if (read >= bytes || signal.aborted) break;
    for await (const chunk of file.open().stream(0, signal)) {
      read += chunk.byteLength;
      if (read >= bytes || signal.aborted) break;
    }
  }
  return summary('io', samples, read, (performance.now() - started) / 1000);
}

/** Read samples for the limit, each through `decode` when given; count their payload bytes. */
async function pass(
  stage: 'parse' | 'decode',
  source: Observable<unknown>,
  limit: { samples: number | undefined; seconds: number | undefined },
  run: CliRun,
  decode: ((item: unknown) => Promise<void> | void) | undefined,
): Promise<BenchPass> {
  const started = performance.now();
  const deadline = limit.seconds === undefined ? Infinity : started + limit.seconds * 1000;
  let samples = 0;
  let bytes = 0;
  if (limit.samples !== 0) {
    for await (const item of toLoader(source, { signal: run.signal })) {
      if (decode !== undefined) await decode(item);
      samples++;
      bytes += payloadBytes(item, 0);
      if (samples === limit.samples || performance.now() >= deadline || run.signal.aborted) break;
    }
  }
  return summary(stage, samples, bytes, (performance.now() - started) / 1000);
}

function summary(stage: BenchPass['stage'], samples: number, bytes: number, measured: number): BenchPass {
  // Microseconds are what a timer on a loaded machine can tell; the rates follow from the figures shown.
  const seconds = Math.round(measured * 1e6) / 1e6;
  const rate = (count: number): number => (seconds > 0 ? Math.round((count / seconds) * 100) / 100 : 0);
  return {
    stage,
    samples,
    bytes,
    seconds,
    samplesPerSecond: rate(samples),
    mbPerSecond: rate(bytes / 1e6),
  };
}

/**
 * Bytes a sample carries: binary and numeric data, strings' lengths, 8 per scalar, a WebDataset
 * sample's fields but not its `__key__` and `__url__`; nesting walked to a depth of 32.
 */
function payloadBytes(value: unknown, depth: number): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value === 'string') return value.length;
  if (typeof value !== 'object' || value === null) return 8;
  if (depth >= 32) return 0;
  const binary = bsonBinaryBytes(value);
  if (binary !== undefined) return binary.byteLength;
  if (typeof (value as { _bsontype?: unknown })._bsontype === 'string') return 12;
  let sum = 0;
  if (Array.isArray(value)) {
    for (const child of value) sum += payloadBytes(child, depth + 1);
    return sum;
  }
  for (const [name, child] of Object.entries(value)) {
    // A WebDataset sample's key and shard name are bookkeeping, not data read.
    if (depth === 0 && (name === '__key__' || name === '__url__')) continue;
    sum += payloadBytes(child, depth + 1);
  }
  return sum;
}

/** How `--decode` decodes one sample of a format. */
function decoderOf(format: ResolvedInput['format']): ((item: unknown) => Promise<void> | void) | undefined {
  if (format === 'tfrecord') {
    // A SequenceExample's feature lists too: an Example decode skips them.
    return (record) => void decodeRecord(record as Uint8Array);
  }
  if (format !== 'tar') return undefined; // TFDS: fromTfds decodes images itself with decodeImages.
  return async (item) => {
    const { decodeImage } = await import('../adapters/decodeImage.js');
    for (const [name, value] of Object.entries(item as Record<string, unknown>)) {
      if (!(value instanceof Uint8Array)) continue;
      const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
      const bytes = value.length >= 2 && value[0] === 0x1f && value[1] === 0x8b ? gunzipSync(value) : value;
      if (/^(?:png|jpe?g|webp|gif|tiff?|ppm|pgm|pnm|bmp)$/.test(extension)) await decodeImage(bytes);
      else if (extension === 'json' || extension === 'jsn') JSON.parse(new TextDecoder().decode(bytes));
      else if (/^(?:cls|cls2|index|inx|id)$/.test(extension)) Number(new TextDecoder().decode(bytes));
      else if (/^(?:txt|text|transcript)$/.test(extension) || name.endsWith('.gz')) new TextDecoder().decode(bytes);
    }
  };
}

/** `bench` as a table. */
export function benchTable(result: BenchResult): string {
  const total = Object.values(result.breakdown).reduce((sum, seconds) => sum + seconds, 0);
  const share = (stage: 'io' | 'parse' | 'decode'): string => {
    const seconds = result.breakdown[stage];
    return seconds === undefined ? '-' : `${seconds.toFixed(3)} s (${total > 0 ? Math.round((seconds / total) * 100) : 0}%)`;
  };
  const passes = table(
    [
      { header: 'pass', align: 'left' },
      { header: 'samples' },
      { header: 'MB' },
      { header: 'seconds' },
      { header: 'samples/s' },
      { header: 'MB/s' },
    ],
    result.passes.map((each) => [
      each.stage,
      each.samples,
      (each.bytes / 1e6).toFixed(2),
      each.seconds.toFixed(3),
      each.samplesPerSecond.toFixed(1),
      each.mbPerSecond.toFixed(1),
    ]),
  );
  const stages = table(
    [
      { header: 'where time goes', align: 'left' },
      { header: 'time', align: 'left' },
    ],
    (['io', 'parse', 'decode'] as const).filter((stage) => result.breakdown[stage] !== undefined).map((stage) => [stage, share(stage)]),
  );
  return [`${result.format}: ${result.input}`, passes, '', stages, ...result.notes].join('\n');
}
