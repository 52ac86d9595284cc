/**
 * WebDataset tar shards as a random-access dataset: a sample index per shard, each read a range
 * read of the samples' bytes parsed by the same tar reader as `fromWebDataset`.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { ByteSource } from '../core/byteSource.js';
import { expandBraces } from '../core/expandBraces.js';
import { checkPathOrUrl, isHttpUrl, pathOrUrlOpener } from '../core/httpUrls.js';
import { DatasetClosedError, readCoalesced, type IndexRun, type RandomAccess, type RandomAccessLayout } from '../core/randomAccess.js';
import { SharedLru } from '../core/sharedLru.js';
import { checkObjectStore, type ObjectStore } from '../core/store.js';
import { CorruptShardError, SampleIndexError, StaleIndexError, TruncatedShardError } from './errors.js';
import { listShards, type WebDatasetInput, type WebDatasetOptions } from './fromWebDataset.js';
import { keptSamples, loadSidecar, saveSidecar, scanShard, type SampleIndex } from './sampleIndex.js';
import { loadDescriptor, resolveShard, type WidsDescriptor } from './wids.js';
import { RESERVED_FIELDS, ShardReader, type MissingFieldPolicy, type WebDatasetSample } from './shardReader.js';
import { DEFAULT_MAX_MEMBER_SIZE, MAX_MEMBER_SIZE_LIMIT } from './tarReader.js';

/**
 * Where the shards of {@link webDatasetIndexed} are: any {@link WebDatasetInput} of
 * `fromWebDataset` (paths, URLs and brace patterns, ByteSources, `{ store, keys }`,
 * `{ store, prefix }`, listed once), or `{ wids }`: a {@link WidsDescriptor}, given as an object
 * or as the path or URL of its JSON file.
 *
 * @example
 * ```ts
 * import { type WebDatasetIndexedInput } from 'rxfeed/webdataset';
 * const input: WebDatasetIndexedInput = { wids: 'https://example.com/imagenet/train.json' };
 * ```
 * @public
 */
export type WebDatasetIndexedInput = WebDatasetInput | { readonly wids: string | WidsDescriptor };

/**
 * Options of {@link webDatasetIndexed}: those of `fromWebDataset` that shape a sample, and how
 * the index is kept.
 *
 * @typeParam E - The expected extensions, inferred from `extensions`.
 * @example
 * ```ts
 * import { type WebDatasetIndexedOptions } from 'rxfeed/webdataset';
 * const options: WebDatasetIndexedOptions = { extensions: ['png', 'cls'], saveIndex: true };
 * ```
 * @public
 */
export interface WebDatasetIndexedOptions<E extends string = string> extends Pick<
  WebDatasetOptions<E>,
  'extensions' | 'missing' | 'maxMemberSize' | 'http'
> {
  /**
   * Save the sample index of each local shard that had none as a sidecar `<shard>.idx.json`
   * beside it (written to a temporary file, then renamed), so the next dataset over it skips the
   * scan. Default `false`. A sidecar present is always used (and checked).
   */
  readonly saveIndex?: boolean;
  /** Bytes per read while scanning a local shard's headers (default 256 KiB, at least 512). */
  readonly chunkSize?: number;
  /** Range reads in flight at once for one `read` (default 8, at most 64). */
  readonly concurrency?: number;
  /**
   * Keep up to this many whole shards in memory (default 0: none): the first read of a shard
   * streams it once (one GET) and parses it as `fromWebDataset` does; its samples are then served
   * from memory. For a `blockShuffle({ shardsPerBlock: k })` over shards in a store, set it to
   * `2 * k` and read a few thousand samples ahead (`fromRandomAccess`'s `readSize` x
   * `readsInFlight`): each shard is loaded once per epoch, as the stream loads it, instead of one
   * Range GET per sample, and the next block's shards load while this block is read. Memory: this
   * many idle shards' samples, plus the shards being read. With a global shuffle it would only
   * thrash: leave it 0.
   */
  readonly cacheShards?: number;
}

/** One shard: where it is, and its index once built. */
interface Shard {
  /** Its name in the layout and in errors: a path, a URL, a ByteSource's name. */
  readonly name: string;
  /** A local path: its sidecar is read and saved beside it, and its scan jumps over member data. */
  readonly local: boolean;
  readonly open: () => Promise<ByteSource>;
  /** Samples as a reader gives them, once indexed. */
  count: number;
  /** The count a `wids` descriptor gives: the layout before the scan, checked by it. */
  readonly expected?: number;
  indexed?: Promise<Indexed>;
}

/** A shard's index, and which of its samples the missing-field policy keeps. */
interface Indexed {
  readonly source: ByteSource;
  readonly index: SampleIndex;
  /** Positions in `index` of the samples given (all when `undefined`). */
  readonly kept: Uint32Array | undefined;
}

interface Settings {
  readonly extensions: readonly string[] | undefined;
  readonly missing: MissingFieldPolicy;
  readonly maxMemberSize: number;
  readonly chunkSize: number;
  readonly concurrency: number;
  readonly saveIndex: boolean;
  readonly cacheShards: number;
  readonly open: (name: string) => Promise<ByteSource>;
}

const WHERE = 'webDatasetIndexed';
/** Shards indexed at once while the dataset is made. */
const INDEX_CONCURRENCY = 4;

/**
 * A random-access dataset of WebDataset samples: `await dataset.read(indices)` gives the samples
 * that `fromWebDataset` with the same input and options emits at those positions, field for
 * field (`__url__` included).
 *
 * **Index.** Each shard's sample index (each sample's key and the byte range of its members,
 * which WebDataset writes one after another) is built once, when the dataset is made, by one
 * scan of its headers: a local shard is read header by header, jumping over member data; a shard
 * of a store or URL is streamed once (one GET). A local shard's sidecar `<shard>.idx.json` is
 * used instead when present (and written with `saveIndex`); it is untrusted and checked entry by
 * entry ({@link SampleIndexError}). With `{ wids }`, the sizes come from the descriptor and a
 * shard is scanned the first time one of its samples is read; a `nsamples` that differs from the
 * scan fails with {@link StaleIndexError}. Memory: about 24 bytes per sample plus its key string,
 * for every shard indexed (all of them, or those read so far with `wids`): the index is what
 * makes a read one range read, so it is kept until `close()`.
 *
 * **Reads.** The indices asked are sorted and neighbours inside one shard (up to 256) coalesced:
 * each run is ONE `ByteSource.read(start, end)` (one Range GET on a store or URL), split into
 * samples by `fromWebDataset`'s tar reader; at most `concurrency` run at once. A shard that no
 * longer matches its index (the sample at an indexed offset is not the one named) fails with
 * {@link StaleIndexError} naming the shard and offset.
 *
 * **Lifetime.** Local files are opened for each range read and closed after it, so no handle is
 * held between reads; store and URL reads use the store's own connection pool. `close()` drops
 * the indices; a read after it fails with `DatasetClosedError`.
 *
 * gzip-compressed shards (`.tgz`) cannot be read by range and fail with
 * {@link CompressedShardError}: stream them with `fromWebDataset`.
 *
 * @example
 * ```ts
 * import { webDatasetIndexed } from 'rxfeed/webdataset';
 * import { permutation } from 'rxfeed';
 * const dataset = await webDatasetIndexed('/data/train-{000000..000099}.tar', { extensions: ['jpg', 'cls'], saveIndex: true });
 * const order = permutation(dataset.size, 17);
 * const batch = await dataset.read(Array.from(order.subarray(0, 32)));
 * await dataset.close();
 * ```
 *
 * @typeParam E - The expected extensions, inferred from `options.extensions`.
 * @param input - The shards; see {@link WebDatasetIndexedInput}.
 * @param options - See {@link WebDatasetIndexedOptions}.
 * @returns The dataset, its `layout` one entry per shard.
 * @public
 */
export async function webDatasetIndexed<const E extends string = never>(
  input: WebDatasetIndexedInput,
  options: WebDatasetIndexedOptions<E> = {},
): Promise<RandomAccess<WebDatasetSample<E>>> {
  const settings = checkOptions(options);
  const shards = await shardsOf(input, settings);
  if (!(typeof input === 'object' && 'wids' in input)) {
    // Every index now: the sizes come from them.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < shards.length) await indexOf(shards[next++]!, settings);
    };
    await Promise.all(Array.from({ length: Math.min(INDEX_CONCURRENCY, shards.length) }, worker));
  }
  let total = 0;
  const shardEnds = shards.map((shard) => (total += shard.count));
  const layout: RandomAccessLayout = { shardEnds, shardNames: shards.map((shard) => shard.name) };
  let closed = false;
  // Whole shards, parsed, for a block shuffle over a store (see `cacheShards`): read by index, a
  // block shuffle's runs are one sample long, so without them each sample is one Range GET where
  // the stream makes one GET per shard (MosaicML Streaming keeps whole shards likewise).
  const cache = settings.cacheShards > 0 ? new SharedLru<WebDatasetSample[]>(settings.cacheShards) : undefined;

  const readerOptions = { extensions: settings.extensions, missing: settings.missing, maxMemberSize: settings.maxMemberSize };
  const readRun = async ({ first, end, shard: number, indices }: IndexRun, signal: AbortSignal): Promise<WebDatasetSample[]> => {
    const shard = shards[number]!;
    const { source, index, kept } = await indexOf(shard, settings, signal);
    // Positions among the shard's samples as a reader gives them, and in its index.
    const shardStart = number === 0 ? 0 : shardEnds[number - 1]!;
    const from = first - shardStart;
    const indexed = (at: number): number => (kept === undefined ? at : kept[at]!);
    if (cache !== undefined) {
      // The whole shard, streamed once and parsed as the stream parses it, then served from memory.
      const load = async (loadSignal: AbortSignal): Promise<WebDatasetSample[]> => {
        const all = await parse(shard.name, source, 0, loadSignal);
        checkKeys(
          shard.name,
          index,
          Array.from({ length: shard.count }, (_, at) => indexed(at)),
          all,
          0,
        );
        return all;
      };
      return cache.use(shard.name, load, (all) => Array.from(indices, (index) => all[index - shardStart]!), signal);
    }
    const positions = Array.from({ length: end - first }, (_, offset) => indexed(from + offset));
    const start = index.starts[positions[0]!]!;
    const stop = index.ends[positions.at(-1)!]!;
    const bytes = await source.read(start, stop, signal);
    if (bytes.byteLength !== stop - start) {
      throw new StaleIndexError(shard.name, start + bytes.byteLength, `the shard ends before the indexed byte ${stop}`);
    }
    const samples = await parse(shard.name, bytesSource(source.name, bytes), start, signal);
    checkKeys(shard.name, index, positions, samples, start);
    return samples;
  };

  /** The samples a reader gives for `source`, whose first byte is at `offset` in the shard. */
  const parse = async (name: string, source: ByteSource, offset: number, signal: AbortSignal): Promise<WebDatasetSample[]> => {
    const reader = new ShardReader(source, { ...readerOptions, offset }, signal);
    const samples: WebDatasetSample[] = [];
    try {
      for (let sample = await reader.next(); sample !== null; sample = await reader.next()) samples.push(sample);
    } catch (error) {
      // The scan read these headers whole: a shard that now fails to parse here was rewritten.
      if (error instanceof CorruptShardError || error instanceof TruncatedShardError) {
        throw new StaleIndexError(name, error.offset, error.message, { cause: error });
      }
      throw error;
    } finally {
      await reader.close();
    }
    return samples;
  };

  return {
    size: total,
    layout,
    read: (indices, signal) => {
      if (closed) return Promise.reject(new DatasetClosedError(`${WHERE}.read`));
      return readCoalesced(indices, readRun, {
        size: total,
        where: `${WHERE}.read`,
        shardEnds,
        concurrency: settings.concurrency,
        // Samples of a cached shard are served from memory, neighbours or not: one run per shard.
        contiguous: cache === undefined,
        signal,
      }) as Promise<WebDatasetSample<E>[]>;
    },
    close: () => {
      closed = true;
      for (const shard of shards) shard.indexed = undefined;
      return cache?.clear();
    },
  };
}

function checkOptions(options: WebDatasetIndexedOptions<string>): Settings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${WHERE}.options`, 'expected an options object');
  const missing = options.missing ?? 'error';
  if (missing !== 'error' && missing !== 'skip' && missing !== 'zero') {
    throw new InvalidArgumentError(`${WHERE}.missing`, `must be 'error', 'skip' or 'zero', got ${describe(missing)}`);
  }
  const integer = (name: string, value: number, min: number, max: number): number => {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${WHERE}.${name}`, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  };
  const chunkSize = integer('chunkSize', options.chunkSize ?? 256 * 1024, 512, 2 ** 30);
  const concurrency = integer('concurrency', options.concurrency ?? 8, 1, 64);
  const maxMemberSize = integer('maxMemberSize', options.maxMemberSize ?? DEFAULT_MAX_MEMBER_SIZE, 0, MAX_MEMBER_SIZE_LIMIT);
  const given: unknown = options.extensions;
  if (given !== undefined && (!Array.isArray(given) || !given.every((extension) => typeof extension === 'string'))) {
    throw new InvalidArgumentError(`${WHERE}.extensions`, 'expected a list of extensions (strings)');
  }
  const extensions = options.extensions?.map((extension) => extension.toLowerCase());
  const reserved = extensions?.find((extension) => RESERVED_FIELDS.has(extension));
  if (reserved !== undefined) {
    throw new InvalidArgumentError(`${WHERE}.extensions`, `'${reserved}' is a reserved field of every sample, not an extension`);
  }
  if (options.saveIndex !== undefined && typeof options.saveIndex !== 'boolean') {
    throw new InvalidArgumentError(`${WHERE}.saveIndex`, `must be a boolean, got ${describe(options.saveIndex)}`);
  }
  return {
    extensions: extensions?.length === 0 ? undefined : extensions,
    missing,
    maxMemberSize,
    chunkSize,
    concurrency,
    saveIndex: options.saveIndex ?? false,
    cacheShards: integer('cacheShards', options.cacheShards ?? 0, 0, 1_000_000),
    open: pathOrUrlOpener(chunkSize, options.http),
  };
}

/** The shards an input names, in order, none opened yet (a `{ store, prefix }` is listed now). */
async function shardsOf(input: WebDatasetIndexedInput, settings: Settings): Promise<Shard[]> {
  const named = (name: string, argument: string, expected?: number): Shard => {
    checkPathOrUrl(name, argument);
    return { name, local: !isHttpUrl(name), open: () => settings.open(name), count: expected ?? 0, expected };
  };
  const given = (source: ByteSource): Shard => ({ name: source.name, local: false, open: () => Promise.resolve(source), count: 0 });
  if (typeof input === 'string') return expandBraces(input).map((name, index) => named(name, `${WHERE}.input[${index}]`));
  if (Array.isArray(input)) {
    return (input as readonly (string | ByteSource)[]).flatMap((item, index) => {
      if (typeof item === 'string') return expandBraces(item).map((name) => named(name, `${WHERE}.input[${index}]`));
      if (typeof item?.read !== 'function' || typeof item.stream !== 'function') {
        throw new InvalidArgumentError(`${WHERE}.input[${index}]`, 'expected a path, a URL or a ByteSource');
      }
      return [given(item)];
    });
  }
  if (typeof input === 'object' && input !== null && 'wids' in input) {
    const { descriptor, file, base } = await loadDescriptor(input.wids, settings.open, WHERE);
    return descriptor.shardlist.map(({ url, nsamples }, index) => {
      const name = resolveShard(url, base);
      if (file !== undefined && isHttpUrl(file) && (!isHttpUrl(name) || new URL(name).origin !== new URL(file).origin)) {
        // A descriptor a server sent names that server's files only: not local files, not other hosts.
        throw new SampleIndexError(file, `shardlist[${index}].url`, `${describe(name)} is not on the descriptor's origin`);
      }
      return named(name, `${WHERE}.input.wids.shardlist[${index}].url`, nsamples);
    });
  }
  if (typeof input === 'object' && input !== null && 'store' in input) {
    const store: ObjectStore = input.store;
    checkObjectStore(store, `${WHERE}.input.store`, ['open', 'list']);
    let keys: unknown;
    if ('keys' in input) keys = input.keys;
    else if (typeof input.prefix === 'string') keys = await listShards(store, input.prefix);
    else throw new InvalidArgumentError(`${WHERE}.input.prefix`, `expected a string, got ${describe(input.prefix)}`);
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
      throw new InvalidArgumentError(`${WHERE}.input.keys`, 'expected a list of object keys (strings)');
    }
    return keys.map((key: string) => given(store.open(key)));
  }
  throw new InvalidArgumentError(
    `${WHERE}.input`,
    'expected a path or URL, a list of them or of ByteSources, { store, keys | prefix } or { wids }',
  );
}

/** A shard's index, built (or loaded) on first use and kept. */
function indexOf(shard: Shard, settings: Settings, signal?: AbortSignal): Promise<Indexed> {
  if (shard.indexed !== undefined) return shard.indexed;
  const indexed = (async (): Promise<Indexed> => {
    const source = await shard.open();
    const size = shard.local ? await source.size(signal) : undefined;
    let index = shard.local ? await loadSidecar(shard.name, size!) : undefined;
    if (index === undefined) {
      index = await scanShard(source, { maxMemberSize: settings.maxMemberSize, chunkSize: settings.chunkSize, seek: shard.local, signal });
      if (shard.local && settings.saveIndex) await saveSidecar(shard.name, index);
    }
    const kept = keptSamples(index, settings.extensions, settings.missing, source.name);
    const count = kept?.length ?? index.keys.length;
    if (shard.expected !== undefined && count !== shard.expected) {
      throw new StaleIndexError(shard.name, 0, `the wids descriptor says ${shard.expected} samples, the shard holds ${count}`);
    }
    shard.count = count;
    return { source, index, kept };
  })();
  shard.indexed = indexed;
  // A failed or aborted scan is not kept: the next read tries again.
  indexed.catch(() => {
    if (shard.indexed === indexed) shard.indexed = undefined;
  });
  return indexed;
}

/** Each sample read is the one the index has at its position: else the shard was rewritten. */
function checkKeys(
  shard: string,
  index: SampleIndex,
  positions: readonly number[],
  samples: readonly WebDatasetSample[],
  start: number,
): void {
  positions.forEach((position, offset) => {
    const found = samples[offset]?.__key__;
    if (found !== index.keys[position]) {
      const what = found === undefined ? 'no sample' : `sample '${found}'`;
      throw new StaleIndexError(shard, index.starts[position]!, `expected sample '${index.keys[position]}', found ${what}`);
    }
  });
  if (samples.length !== positions.length) {
    throw new StaleIndexError(shard, start, `expected ${positions.length} samples from byte ${start}, found ${samples.length}`);
  }
}

/** The bytes of one range read, as the ByteSource a shard reader streams. */
function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: () => Promise.resolve(bytes.byteLength),
    read: (start, end) => Promise.resolve(bytes.subarray(start, end)),
    stream: async function* () {
      yield bytes;
    },
  };
}
