import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import { LoaderStateError } from '../../src/loaderState.js';
import { deriveSeed, permutation } from '../../src/random.js';
import type { ByteSource } from '../core/byteSource.js';
import { STREAM_CHUNK } from '../core/fileByteSource.js';
import { expandBraces } from '../core/expandBraces.js';
import { fromPuller } from '../core/fromPuller.js';
import { checkPathOrUrl, pathOrUrlOpener, type HttpUrlOptions } from '../core/httpUrls.js';
import type { Puller, PullContext } from '../core/puller.js';
import { partsInfo, type Part } from '../core/selection.js';
import { checkObjectStore, type ObjectStore } from '../core/store.js';
import { RESERVED_FIELDS, ShardReader, type MissingFieldPolicy, type WebDatasetSample } from './shardReader.js';
import { BLOCK } from './tarHeader.js';
import { DEFAULT_MAX_MEMBER_SIZE, MAX_MEMBER_SIZE_LIMIT } from './tarReader.js';

/**
 * Where the shards of a WebDataset are.
 *
 * - A path or URL, or a list of them, in reading order, with WebDataset's brace patterns
 *   (`shards/train-{000000..000099}.tar`, `{train,val}-0.tar`; see `expandBraces`).
 *   `http://` and `https://` URLs are read through the HTTP object store (ranged GETs over
 *   undici, retried and resumed where a body breaks); anything else is a local file.
 * - A list of {@link ByteSource}s (an S3 or AIStore object opened with `store.open(key)`, or your
 *   own), mixed freely with paths and URLs.
 * - `{ store, keys }`: these objects of an {@link ObjectStore}.
 * - `{ store, prefix }`: every object under `prefix` whose name ends in `.tar`, `.tgz` or
 *   `.tar.gz`, in key order, listed again at each subscription. Its file list is not known before
 *   the listing, so `shard({ mode: 'file' })` cannot split it: list once with {@link listShards}
 *   and pass `{ store, keys }` for that.
 *
 * @example
 * ```ts
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * import { s3Store } from 'rxfeed/objectstore';
 * const s3 = s3Store({ bucket: 'data' });
 * fromWebDataset('/data/train-{000000..000099}.tar');
 * fromWebDataset(['https://example.com/wds/val-000000.tar', s3.open('val/val-000001.tar')]);
 * fromWebDataset({ store: s3, prefix: 'train/' });
 * ```
 * @public
 */
export type WebDatasetInput =
  | string
  | readonly (string | ByteSource)[]
  | { readonly store: ObjectStore; readonly keys: readonly string[] }
  | { readonly store: ObjectStore; readonly prefix: string };

/**
 * Options of {@link fromWebDataset}.
 *
 * @typeParam E - The expected extensions, inferred from `extensions`.
 *
 * @example
 * ```ts
 * import { type WebDatasetOptions } from 'rxfeed/webdataset';
 * const options: WebDatasetOptions = { extensions: ['png', 'cls'], missing: 'zero', shuffleShards: { seed: 1 } };
 * ```
 * @public
 */
export interface WebDatasetOptions<E extends string = string> {
  /**
   * Extensions every sample must have (`['png', 'cls']`), checked with `missing`. Other members
   * are kept too. Nothing is checked when absent.
   */
  readonly extensions?: readonly E[];
  /** What to do with a sample lacking one of `extensions`; `'error'` by default. See {@link MissingFieldPolicy}. */
  readonly missing?: MissingFieldPolicy;
  /**
   * Read the shards in a seeded random order that changes with each epoch (the `epoch` that the
   * `epochs` operator passes to sources): the same `(seed, epoch)` always gives the same order.
   * Samples inside a shard keep their order; follow with `shuffleBuffer` to mix them.
   */
  readonly shuffleShards?: { readonly seed: number };
  /**
   * Bytes read at a time from a local file (default 1 MiB, the measured best of 256 KiB, 1 MiB
   * and 4 MiB; see `fileByteSource`): the size of the stream chunk a shard reader holds, with
   * one more read ahead. Over HTTP and S3 chunks are what the network delivers; the read-ahead
   * there is `http.readAheadBytes` (or the store's `readAheadBytes`).
   */
  readonly chunkSize?: number;
  /**
   * Largest member read, in bytes (default 1 GiB, at most 4 GiB). A tar header's size is
   * untrusted: a member declaring more fails with a {@link MemberTooLargeError} (naming shard,
   * offset and member) before any of its data is buffered. Below the limit, a member's buffer
   * grows with the bytes that actually arrive, never ahead of them. Members that are skipped
   * (directories, links, names without an extension) are not buffered and not limited.
   */
  readonly maxMemberSize?: number;
  /**
   * Options of the HTTP store that reads `http(s)://` shards (headers, dispatcher, retry policy,
   * timeouts), applied to each origin that the listed URLs name; see `httpStore` in `rxfeed/objectstore`.
   */
  readonly http?: HttpUrlOptions;
}

/** A shard to read: a ByteSource, or a path or URL opened when its turn comes. */
type ShardRef = ByteSource | string;

const SHARD_NAME = /\.(tar|tgz|tar\.gz)$/;
const DEFAULT_CHUNK = STREAM_CHUNK;

/**
 * A dataset of WebDataset samples read from tar shards, streaming, one sample per pull.
 *
 * Each shard is streamed through rxfeed's own tar parser (gzip-compressed ones, recognised by
 * their first two bytes, through `node:zlib` first): POSIX ustar, GNU and v7 headers, GNU long
 * names, pax `path` and `size` records, checksums verified; the archive ends at its two zero
 * blocks. Consecutive members sharing a key (the name up to
 * the first dot of its basename: `a/0001.seg.png` has key `a/0001` and extension `seg.png`) form
 * one sample `{ __key__, __url__, [extension]: bytes }`. Non-file members, names with no
 * extension and `__meta__`-style top-level names are skipped, as WebDataset does.
 *
 * Backpressure and memory: a shard is parsed only while the pipeline pulls, one stream chunk at
 * a time, and read at most a bounded step ahead of that. A reader holds that chunk (`chunkSize`
 * for files) and what its stream reads ahead (one more chunk for a file; at most
 * `http.readAheadBytes`, 1 MiB by default, for a URL or store object), the sample it is assembling (each
 * field in a buffer of its size, at most `maxMemberSize`; a field spanning chunks grows with the
 * bytes that arrive, never ahead of them, since tar headers are untrusted), a 512-byte block for a
 * header split across chunks and a pending long-name or pax header (at most 1 MiB); for a gzip
 * shard add the compressed chunk being inflated and the inflater's output (its 16 KiB stream
 * high-water mark plus one 64 KiB chunk). At most two shards are open at a time: the one being
 * read and the next one, whose first chunk and read-ahead are fetched while the one before is
 * parsed (a GET's first byte took 8-16 ms from Ceph RGW). Unsubscribing (a `break`, `take`) destroys the inflater and the byte stream at once
 * and closes the file or HTTP body.
 *
 * Errors name the shard: {@link TruncatedShardError} (with the byte offset where it ended),
 * {@link CorruptShardError}, {@link UnsafeMemberError} (absolute or `..` member names: the shard
 * is rejected), {@link MemberTooLargeError} (a member over `maxMemberSize`),
 * {@link ReservedFieldError} (a member `x.__key__` or `x.__url__`), {@link SampleFieldError}
 * (a missing expected extension under `missing: 'error'`,
 * or an extension repeated within one sample).
 *
 * The Observable carries `files` (the shard names) and `selectFiles`, so
 * `shard({ mode: 'file' })` gives each rank x worker whole shards; with `shuffleShards` each
 * slot's shards are shuffled per epoch. To read several shards at once, give `zipShards` one
 * `fromWebDataset` per shard (or per group of shards).
 *
 * **Resume** (`Loader.state`): the state saves where the first sample not received begins,
 * `[shard, offset]`: the shard's position in this subscription's reading order (this epoch's,
 * after any `shard`) and the tar offset of the first header block of the sample's first member.
 * A resumed loader reads that shard from there: the shards before it are not opened. A gzip
 * shard cannot seek (its bookmark says `'gzip'`): it is inflated from its start and the members
 * before the offset are skipped unread. A bookmark that does not fit the shards (no member's
 * headers start at that offset) fails with a `LoaderStateError` `RXFEED_ERR_STATE_INVALID`
 * naming the shard and offset.
 *
 * @example
 * ```ts
 * import { fromWebDataset } from 'rxfeed/webdataset';
 * import { shard, toLoader } from 'rxfeed';
 * const train = fromWebDataset(['/data/train-000000.tar', '/data/train-000001.tar'], {
 *   extensions: ['png', 'cls'],
 *   shuffleShards: { seed: 17 },
 * }).pipe(shard({ mode: 'file' }));
 * for await (const sample of toLoader(train)) {
 *   const label = Number(new TextDecoder().decode(sample.cls)); // typed Uint8Array: expected
 * }
 * ```
 *
 * @typeParam E - The expected extensions, inferred from `options.extensions`: those fields are
 *   typed `Uint8Array` in the samples.
 * @param input - The shards; see {@link WebDatasetInput}.
 * @param options - See {@link WebDatasetOptions}.
 * @returns A cold Observable of samples; each subscription reads the shards again.
 * @public
 */
export function fromWebDataset<const E extends string = never>(
  input: WebDatasetInput,
  options: WebDatasetOptions<E> = {},
): Observable<WebDatasetSample<E>> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('fromWebDataset.options', 'expected an options object');
  }
  // The reader checks the expected fields at run time; here they only become types.
  return openDataset(input, checkOptions(options)) as Observable<WebDatasetSample<E>>;
}

function openDataset(input: WebDatasetInput, reading: ReadingOptions): Observable<WebDatasetSample> {
  if (typeof input === 'string') return fromShards(expandBraces(input), reading);
  if (isStoreInput(input)) {
    const { store } = input;
    checkObjectStore(store, 'fromWebDataset.input.store', ['open', 'list']);
    if ('keys' in input) {
      const keys: unknown = input.keys;
      if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
        throw new InvalidArgumentError('fromWebDataset.input.keys', 'expected a list of object keys (strings)');
      }
      return fromShards(
        input.keys.map((key) => store.open(key)),
        reading,
      );
    }
    if (typeof input.prefix !== 'string') {
      throw new InvalidArgumentError('fromWebDataset.input.prefix', `expected a string, got ${typeof input.prefix}`);
    }
    return fromPuller<WebDatasetSample>(
      async (context) => {
        const keys = await listShards(store, input.prefix, context.signal);
        return openShards(
          keys.map((key) => store.open(key)),
          reading,
          context,
        );
      },
      {},
      'fromWebDataset',
    );
  }
  if (!Array.isArray(input)) {
    throw new InvalidArgumentError(
      'fromWebDataset.input',
      'expected a path or URL, a list of them or of ByteSources, or { store, keys | prefix }',
    );
  }
  const shards = (input as readonly ShardRef[]).flatMap((shard): ShardRef[] => (typeof shard === 'string' ? expandBraces(shard) : [shard]));
  return fromShards(shards, reading);
}

/**
 * The keys of the shards under `prefix` in `store`: names ending in `.tar`, `.tgz` or `.tar.gz`,
 * in key order. List once, then pass `{ store, keys }` to {@link fromWebDataset} so that
 * `shard({ mode: 'file' })` can split them.
 *
 * @example
 * ```ts
 * import { fromWebDataset, listShards } from 'rxfeed/webdataset';
 * import { shard } from 'rxfeed';
 * import { s3Store } from 'rxfeed/objectstore';
 * const s3 = s3Store({ bucket: 'data' });
 * const keys = await listShards(s3, 'imagenet/train/');
 * const train = fromWebDataset({ store: s3, keys }).pipe(shard({ mode: 'file' }));
 * ```
 *
 * @param store - The object store.
 * @param prefix - Key prefix, e.g. `train/`.
 * @param signal - Aborts the listing.
 * @returns The shard keys, sorted.
 * @public
 */
export async function listShards(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<string[]> {
  checkObjectStore(store, 'listShards.store', ['list']);
  if (typeof prefix !== 'string') throw new InvalidArgumentError('listShards.prefix', `must be a string, got ${typeof prefix}`);
  const keys: string[] = [];
  for await (const entry of store.list(prefix, signal)) {
    if (SHARD_NAME.test(entry.key)) keys.push(entry.key);
  }
  return keys.sort();
}

interface ReadingOptions {
  readonly extensions: readonly string[] | undefined;
  readonly missing: MissingFieldPolicy;
  readonly seed: number | undefined;
  readonly maxMemberSize: number;
  /** Opens paths and `http(s)://` shards; one HTTP store per origin per `fromWebDataset` call, made on first use. */
  readonly open: (name: string) => Promise<ByteSource>;
}

function checkOptions(options: WebDatasetOptions<string>): ReadingOptions {
  const missing = options.missing ?? 'error';
  if (missing !== 'error' && missing !== 'skip' && missing !== 'zero') {
    throw new InvalidArgumentError('fromWebDataset.missing', `must be 'error', 'skip' or 'zero', got '${String(missing)}'`);
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 512) {
    throw new InvalidArgumentError('fromWebDataset.chunkSize', `must be an integer of at least 512, got ${chunkSize}`);
  }
  const seed = options.shuffleShards?.seed;
  if (options.shuffleShards !== undefined && !Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError('fromWebDataset.shuffleShards.seed', `must be a safe integer, got ${String(seed)}`);
  }
  const maxMemberSize = options.maxMemberSize ?? DEFAULT_MAX_MEMBER_SIZE;
  if (!Number.isSafeInteger(maxMemberSize) || maxMemberSize < 0 || maxMemberSize > MAX_MEMBER_SIZE_LIMIT) {
    throw new InvalidArgumentError(
      'fromWebDataset.maxMemberSize',
      `must be an integer from 0 to ${MAX_MEMBER_SIZE_LIMIT}, got ${maxMemberSize}`,
    );
  }
  const given: unknown = options.extensions;
  if (given !== undefined && (!Array.isArray(given) || !given.every((extension) => typeof extension === 'string'))) {
    throw new InvalidArgumentError('fromWebDataset.extensions', 'expected a list of extensions (strings)');
  }
  const extensions = options.extensions?.map((extension) => extension.toLowerCase());
  const reserved = extensions?.find((extension) => RESERVED_FIELDS.has(extension));
  if (reserved !== undefined) {
    throw new InvalidArgumentError('fromWebDataset.extensions', `'${reserved}' is a reserved field of every sample, not an extension`);
  }
  const open = pathOrUrlOpener(chunkSize, options.http);
  return { extensions: extensions?.length === 0 ? undefined : extensions, missing, seed, maxMemberSize, open };
}

function isStoreInput(
  input: WebDatasetInput,
): input is { readonly store: ObjectStore; readonly keys: readonly string[] } | { readonly store: ObjectStore; readonly prefix: string } {
  return typeof input === 'object' && input !== null && !Array.isArray(input) && 'store' in input;
}

/** A source over a known list of shards, with `files` and `selectFiles` for file sharding. */
function fromShards(shards: readonly ShardRef[], options: ReadingOptions): Observable<WebDatasetSample> {
  shards.forEach((shard, index) => {
    if (typeof shard === 'string') checkPathOrUrl(shard, `fromWebDataset.input[${index}]`);
    else if (typeof shard?.stream !== 'function') {
      throw new InvalidArgumentError(`fromWebDataset.input[${index}]`, 'expected a path, a URL or a ByteSource');
    }
  });
  return openParts(
    shards.map((shard) => ({ input: shard, first: 0, end: undefined })),
    options,
  );
}

/** The source over `parts` (whole shards, their sample counts unknown). */
function openParts(parts: readonly Part<ShardRef>[], options: ReadingOptions): Observable<WebDatasetSample> {
  const info = partsInfo<ShardRef, WebDatasetSample>(parts, {
    where: 'fromWebDataset',
    open: (selected) => openParts(selected, options),
    fileName: shardName,
  });
  const shards = parts.map((part) => part.input);
  return fromPuller<WebDatasetSample>((context) => openShards(shards, options, context), info, 'fromWebDataset');
}

function shardName(shard: ShardRef): string {
  return typeof shard === 'string' ? shard : shard.name;
}

/** The shards in this epoch's order: as given, or a seeded permutation of them. */
function epochOrder(shards: readonly ShardRef[], seed: number | undefined, epoch: number): readonly ShardRef[] {
  if (seed === undefined || shards.length < 2) return shards;
  return Array.from(permutation(shards.length, deriveSeed(seed, epoch)), (index) => shards[index]!);
}

/**
 * Where a sample begins, as a loader state saves it (see `Puller.bookmark`): the position of its
 * shard in the subscription's reading order (this epoch's, after any `shard`) and the tar offset
 * of its first member's first header block; `'gzip'` when the shard is compressed, so a resume
 * inflates it from its start and skips to that offset instead of seeking there.
 */
type Bookmark = readonly [shard: number, offset: number] | readonly [shard: number, offset: number, compression: 'gzip'];

/**
 * The shard and offset a bookmark names, checked against `order`: it is untrusted input (a state
 * read back from disk). Whether a sample starts there is checked when it is read (see `ShardReader`).
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID`.
 */
function resumePoint(bookmark: unknown, order: readonly ShardRef[]): { shard: number; offset: number; inflated: boolean } {
  const invalid = (why: string): never => {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `fromWebDataset: the state's bookmark ${describe(bookmark)} ${why}`,
      'fromWebDataset',
    );
  };
  const entries = bookmark as readonly unknown[];
  if (
    !Array.isArray(bookmark) ||
    (entries.length !== 2 && !(entries.length === 3 && entries[2] === 'gzip')) ||
    !entries.slice(0, 2).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
  ) {
    invalid("is not [shard, byte offset] or [shard, byte offset, 'gzip'] (non-negative integers)");
  }
  const [shard, offset] = bookmark as Bookmark;
  if (shard >= order.length) invalid(`names shard ${shard}; this subscription reads ${order.length}`);
  if (offset % BLOCK !== 0) invalid(`names byte ${offset} of ${shardName(order[shard]!)}, not on a ${BLOCK}-byte tar block`);
  return { shard, offset, inflated: entries.length === 3 };
}

/**
 * One subscription: the shards read one after another. While one is read, the next one is
 * started (its first chunk fetched, so that a GET's latency overlaps the parsing of the shard
 * before): at most two readers are open at a time. A resumed subscription starts at the
 * bookmarked sample: the shards before its own are not opened.
 */
function openShards(shards: readonly ShardRef[], options: ReadingOptions, context: PullContext): Puller<WebDatasetSample> {
  const order = epochOrder(shards, options.seed, context.epoch);
  const resume = context.resumeAt === undefined ? undefined : resumePoint(context.resumeAt, order);
  const readerOptions = { extensions: options.extensions, missing: options.missing, maxMemberSize: options.maxMemberSize };
  let position = resume?.shard ?? 0;
  let reader: ShardReader | undefined;
  /** The position in `order` of `reader`'s shard. */
  let readerPosition = position - 1;
  /** Where the sample last answered begins. */
  let sampleAt: Bookmark = [0, 0];
  /** The next shard's reader, started ahead (it settles with the reader, or its opener's failure). */
  let upcoming: Promise<ShardReader> | undefined;
  /** The close of a finished shard, in flight between two shards. */
  let finishing: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const openReader = async (shard: ShardRef, at: number): Promise<ShardReader> => {
    const source = typeof shard === 'string' ? await options.open(shard) : shard;
    const resumeAt = at === resume?.shard ? { offset: resume.offset, inflated: resume.inflated } : undefined;
    return new ShardReader(source, resumeAt === undefined ? readerOptions : { ...readerOptions, resumeAt }, context.signal);
  };
  const startNext = (): void => {
    if (upcoming !== undefined || position >= order.length || closing !== undefined) return;
    const at = position++;
    upcoming = openReader(order[at]!, at).then((next) => {
      if (closing !== undefined) {
        void next.close();
      } else {
        next.start();
      }
      return next;
    });
    upcoming.catch(noop);
  };
  const pull = async (): Promise<WebDatasetSample[] | null> => {
    for (;;) {
      if (reader === undefined) {
        startNext();
        if (upcoming === undefined) return null;
        const next = upcoming;
        upcoming = undefined;
        reader = await next;
        readerPosition++;
        if (context.signal.aborted) return null;
        reader.start();
        startNext();
      }
      const sample = await reader.next();
      if (sample !== null) {
        sampleAt = reader.inflated ? [readerPosition, reader.sampleStart, 'gzip'] : [readerPosition, reader.sampleStart];
        return [sample];
      }
      finishing = reader.close();
      reader = undefined;
      await finishing;
      finishing = undefined;
    }
  };
  return {
    pull,
    bookmark: () => sampleAt,
    close: () => {
      closing ??= Promise.all([reader?.close(), finishing, upcoming?.then((next) => next.close(), noop)]).then(() => undefined);
      return closing;
    },
  };
}

const noop = (): void => undefined;
