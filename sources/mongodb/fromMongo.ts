/**
 * `fromMongo`: a sized, cursor-safe dataset over a MongoDB query or aggregation view.
 *
 * @module
 */
import { BSON, type Document, type Filter } from 'mongodb';
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import type { DatasetInfo } from '../../src/info.js';
import { fromPuller } from '../core/fromPuller.js';
import type { Chunk, Puller, PullContext } from '../core/puller.js';
import { CursorWindow } from './cursorWindow.js';
import { describeReason } from './describe.js';
import { MongoDecodeError, MongoReadError } from './errors.js';
import type { FieldCache } from './fieldCache.js';
import { checkInput, openTarget, type MongoCollectionInput } from './target.js';
import { idKey, MongoView, type KeysetBound, type ViewSpec } from './view.js';

/**
 * Options of {@link fromMongo}.
 * @public
 */
export interface FromMongoOptions<T> {
  /** Query filter of a find view; `{}` (every document) by default. Not with `pipeline`. */
  readonly filter?: Filter<Document>;
  /**
   * An aggregation pipeline: the dataset is its output. Pages are read by appending
   * `$match: { _id: { $gt: last } }`, `$sort` and `$limit`, so the output's `_id`s must be unique
   * (a `$group` key is; an `$unwind` repeats them: `$set` a unique `_id` after it).
   */
  readonly pipeline?: readonly Document[];
  /** Projection applied to every document. Excluding `_id` is allowed (it is read, then removed). */
  readonly projection?: Document;
  /**
   * Order of the dataset. Default `{ _id: 1 }`, read through cursor windows over `_id > last` (see
   * `cursorWindowMs`); `{ _id: -1 }` likewise. Any other sort lists the view's `_id`s once per
   * subscription (sorted, ties broken by `_id`) and fetches the documents in blocks of `pageSize`
   * with one `$in` query each.
   */
  readonly sort?: Document;
  /** Map each document (or cached row, with `cache`) to the element emitted; `index` is its position. */
  readonly getItem?: (document: Document, index: number) => T;
  /**
   * Documents per page (or id block), default 1000. One page is the source's pulled chunk, and with
   * `readAhead` one more page may be in flight, so at most `2 x pageSize` documents are held here
   * (in either `cursorWindowMs` mode; see `batchSize` for the one exception).
   */
  readonly pageSize?: number;
  /**
   * Documents per server batch; default `pageSize`, so a page is one reply (`find` or `getMore`).
   * Smaller values make a page span several `getMore`s; larger ones are cut to `pageSize` in a
   * cursor window (a batch never brings more than a page). When `pageSize` is not a multiple of
   * it, a cursor window's last batch of a page may leave up to `batchSize - 1` documents of the
   * next page in the driver's buffer, on top of the `2 x pageSize` bound.
   */
  readonly batchSize?: number;
  /**
   * Longest life of a server cursor, in milliseconds; default 30 000. Each subscription of an
   * `_id`-ordered view opens one server cursor over `_id > last` (sorted by `_id`, limited to the
   * range, in batches of `batchSize`) and reads one page from it per pull, so the server sorts the
   * view once rather than once per page. A cursor older than this when a page is read is closed
   * (`killCursors`) and reopened from the last page's last `_id`: far below the server's 10-minute
   * idle timeout, so a consumer that pauses never meets a stale cursor (`CursorNotFound`). A cursor
   * lost anyway (killed, a network error, a cleared pool) is reopened the same way within
   * `retries`, and no document is delivered twice or skipped. The cursor is closed at the end of
   * the range and on unsubscribe (a `break` waits for it).
   *
   * `0`: no cursor lives between pulls: every page is its own keyset query
   * (`_id > last`, `limit: pageSize`), drained in one call. Custom sorts (id blocks) and a `cache`
   * never hold a cursor and ignore this.
   */
  readonly cursorWindowMs?: number;
  /**
   * Fetch the next page while the current one is being consumed (default true): one query in
   * flight at most, started only when a page was pulled.
   */
  readonly readAhead?: boolean;
  /**
   * Attempts after the first for a read lost to the network or a killed cursor, or for which no
   * server could be selected; default 5. Each attempt waits for a server at most the client's
   * `serverSelectionTimeoutMS` (2 s for a client rxfeed creates, see {@link MongoTarget}), so a
   * dead server is reported, as a {@link MongoUnreachableError}, after about
   * `(retries + 1) x serverSelectionTimeoutMS + sum over k < retries of min(retryDelayMs x 2^k, 5000)`
   * milliseconds: 6 x 2 s + 1.55 s with the defaults.
   */
  readonly retries?: number;
  /** Delay before the first retry, doubled each time (at most 5 s); default 50 ms. */
  readonly retryDelayMs?: number;
  /**
   * Serve every element from this field cache (see {@link loadFieldCache}) instead of the
   * database: `getItem` receives the cached row. The view options must then be left out (the
   * cache was loaded with them).
   */
  readonly cache?: FieldCache;
}

const DEFAULT_PAGE_SIZE = 1000;
/** Far below MongoDB's default `cursorTimeoutMillis` (10 minutes), yet a few hundred pages long. */
const DEFAULT_CURSOR_WINDOW_MS = 30_000;

interface Settings<T> {
  readonly spec: ViewSpec;
  readonly pageSize: number;
  readonly readAhead: boolean;
  /** 0: one drained keyset query per page. */
  readonly cursorWindowMs: number;
  readonly getItem: ((document: Document, index: number) => T) | undefined;
}

/**
 * A dataset over a MongoDB collection, query or aggregation view, as a sized Observable.
 *
 * Resolves once the view's exact size is known (`countDocuments` on the view, or `$count` after a
 * pipeline), so `shard` and `padToBatch` can split it exactly: the Observable carries `size` and
 * `selectRange(start, end)` (see {@link DatasetInfo}). Each subscription (each epoch) reads
 * `find(filter AND _id > last).sort({ _id: 1 })` (or the pipeline with `$match`, `$sort`, `$limit`
 * appended) through a bounded cursor window: one server cursor, one page per pull, closed and
 * reopened from the last page's last `_id` once older than `cursorWindowMs` (30 s), so the server
 * sorts once per window rather than once per page and a slow consumer never meets an expired
 * cursor (`CursorNotFound`). With `cursorWindowMs: 0` every page is its own query drained in one
 * call. Either way it pulls only when the Flow gauge asks for more, with at most one page read
 * ahead. A page lost to the network or a killed cursor is read again from the last delivered
 * `_id` (bounded retries, then a {@link MongoReadError}); a missing collection is a
 * {@link MongoCollectionNotFoundError}, a bad filter a {@link MongoQueryError}, a dead server a
 * {@link MongoUnreachableError} (after `retries`, see there for how long), refused credentials a
 * {@link MongoAuthError}, a rejected connection string a {@link MongoUriError} and a document
 * `getItem` throws for a {@link MongoDecodeError} naming its `_id`: every failure is an
 * `RxfeedError` with the driver's error as `cause`, and no message contains the URI's credentials.
 *
 * With a `{ uri, db, collection }` target, each subscription leases the thread's shared client and
 * releases it on completion, error or unsubscribe (the last release closes the client).
 * `selectRange` finds its first `_id` with one `skip` query per subscription, then reads keyset
 * pages from there: the view must not change during an epoch for the ranks' ranges to tile it.
 *
 * @example
 * ```ts
 * const train = await fromMongo(
 *   { uri: process.env.MONGODB_URI!, db: 'ml', collection: 'samples' },
 *   { filter: { split: 'train' }, projection: { label: 1, path: 1 }, getItem: (d) => d.label as number },
 * );
 * for await (const batch of toLoader(train.pipe(shard(), bufferCount(64)))) await step(batch);
 * ```
 *
 * @param input - A driver `Collection` (your client), or a `{ uri, db, collection }` target.
 * @param options - The view and reading options; see {@link FromMongoOptions}.
 * @returns The sized dataset Observable; cold: every subscription reads the view again.
 * @public
 */
export async function fromMongo<T = Document>(
  input: MongoCollectionInput,
  options: FromMongoOptions<T> = {},
): Promise<Observable<T>> {
  checkInput(input, 'fromMongo input');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('fromMongo options', 'must be an object');
  const pageSize = positiveInteger(options.pageSize ?? DEFAULT_PAGE_SIZE, 'fromMongo.pageSize');
  if (options.getItem !== undefined && typeof options.getItem !== 'function') {
    throw new InvalidArgumentError('fromMongo.getItem', 'must be a function');
  }
  const getItem = options.getItem;
  if (options.cache !== undefined) {
    for (const name of ['filter', 'pipeline', 'projection', 'sort'] as const) {
      if (options[name] !== undefined) {
        throw new InvalidArgumentError(`fromMongo.${name}`, 'cannot be combined with `cache` (the cache was loaded with its own view)');
      }
    }
    return cacheRange(options.cache, 0, options.cache.size, pageSize, getItem);
  }
  const spec = viewSpec(options, 'fromMongo');
  const settings: Settings<T> = {
    spec,
    pageSize,
    readAhead: options.readAhead ?? true,
    cursorWindowMs: nonNegativeInteger(options.cursorWindowMs ?? DEFAULT_CURSOR_WINDOW_MS, 'fromMongo.cursorWindowMs'),
    getItem,
  };
  const opened = openTarget(input);
  let size: number;
  try {
    const view = new MongoView(opened.collection, spec, opened.namespace);
    await view.assertExists();
    size = await view.count();
  } finally {
    await opened.release();
  }
  return mongoRange(input, settings, 0, size);
}

/** Validate the view options of `fromMongo` or `loadFieldCache`. */
export function viewSpec(
  options: Pick<FromMongoOptions<unknown>, 'filter' | 'pipeline' | 'projection' | 'sort' | 'batchSize' | 'retries' | 'retryDelayMs'>,
  where: string,
): ViewSpec {
  if (options.pipeline !== undefined && options.filter !== undefined) {
    throw new InvalidArgumentError(`${where}.filter`, 'give a filter or a pipeline, not both (put a $match in the pipeline)');
  }
  if (options.pipeline !== undefined && (!Array.isArray(options.pipeline) || !options.pipeline.every(isDocument))) {
    throw new InvalidArgumentError(`${where}.pipeline`, 'must be an array of stages (objects)');
  }
  for (const name of ['filter', 'projection', 'sort'] as const) {
    if (options[name] !== undefined && !isDocument(options[name])) {
      throw new InvalidArgumentError(`${where}.${name}`, 'must be an object');
    }
  }
  // Checked here, before any connection: a query the driver cannot encode fails typed and early,
  // and a BSON error while reading can then only be a reply that does not decode.
  try {
    BSON.serialize({ filter: options.filter ?? {}, pipeline: options.pipeline ?? [], projection: options.projection ?? {} });
  } catch (error) {
    const name = options.pipeline === undefined ? 'filter' : 'pipeline';
    throw new InvalidArgumentError(`${where}.${name}`, `cannot be encoded as BSON: ${describeReason(error)}`);
  }
  const sort = options.sort;
  let idDirection: 1 | -1 = 1;
  let customSort: Document | undefined;
  if (sort !== undefined) {
    const keys = Object.keys(sort);
    for (const key of keys) {
      if (sort[key] !== 1 && sort[key] !== -1) {
        throw new InvalidArgumentError(`${where}.sort`, `'${key}' must be 1 or -1, got ${String(sort[key])}`);
      }
    }
    if (keys.length === 1 && keys[0] === '_id') idDirection = sort._id as 1 | -1;
    else if (keys.length > 0) {
      const { _id, ...rest } = sort;
      customSort = rest;
      if (_id !== undefined) idDirection = _id as 1 | -1;
    }
  }
  return {
    filter: options.filter ?? {},
    pipeline: options.pipeline,
    projection: options.projection,
    sort: customSort,
    idDirection,
    batchSize: options.batchSize === undefined ? undefined : positiveInteger(options.batchSize, `${where}.batchSize`),
    retries: nonNegativeInteger(options.retries ?? 5, `${where}.retries`),
    retryDelayMs: nonNegativeInteger(options.retryDelayMs ?? 50, `${where}.retryDelayMs`),
  };
}

/** The dataset elements `[start, end)` of the view's order, as a sized Observable. */
function mongoRange<T>(input: MongoCollectionInput, settings: Settings<T>, start: number, end: number): Observable<T> {
  const info: DatasetInfo<T> = {
    size: end - start,
    selectRange: (from, to) => {
      const [a, b] = checkRange(from, to, end - start);
      return mongoRange(input, settings, start + a, start + b);
    },
  };
  return fromPuller<T>((context) => openRangePuller(input, settings, start, end, context), info);
}

/** Open one subscription's puller: lease the client, find where the range starts. */
async function openRangePuller<T>(
  input: MongoCollectionInput,
  settings: Settings<T>,
  start: number,
  end: number,
  context: PullContext,
): Promise<Puller<T>> {
  const opened = openTarget(input);
  const view = new MongoView(opened.collection, settings.spec, opened.namespace);
  try {
    if (end <= start) return emptyPuller(opened.release);
    if (settings.spec.sort !== undefined) {
      const ids = (await view.ids(context.signal)).slice(start, end);
      if (ids.length < end - start) throw shortRead(view, ids.at(-1), end - start, ids.length);
      return new IdBlockPuller(view, settings, ids, start, context.signal, opened.release);
    }
    let bound: KeysetBound | undefined;
    if (start > 0) {
      const first = await view.idAt(start, context.signal);
      if (first === undefined) throw shortRead(view, undefined, end - start, 0);
      bound = { id: first, inclusive: true };
    }
    return new KeysetPuller(view, settings, bound, start, end - start, context.signal, opened.release);
  } catch (error) {
    await opened.release();
    throw error;
  }
}

function emptyPuller<T>(release: () => Promise<void>): Puller<T> {
  return { pull: () => null, close: release };
}

function shortRead(view: MongoView, lastId: unknown, expected: number, got: number): MongoReadError {
  return new MongoReadError(
    view.namespace,
    lastId,
    view.query,
    1,
    `the view changed during the epoch: expected ${expected} document(s) in this range, found ${got}`,
  );
}

/**
 * Reads `_id`-ordered keyset pages, one per pull, with at most one page read ahead: from a cursor
 * window, or (`cursorWindowMs: 0`) with one drained query each.
 */
class KeysetPuller<T> implements Puller<T> {
  readonly #view: MongoView;
  readonly #settings: Settings<T>;
  readonly #signal: AbortSignal;
  readonly #release: () => Promise<void>;
  readonly #window: CursorWindow | undefined;
  #bound: KeysetBound | undefined;
  #position: number;
  #remaining: number;
  #ahead: { limit: number; page: Promise<Document[]> } | undefined;
  #lastKey: string | undefined;

  constructor(
    view: MongoView,
    settings: Settings<T>,
    bound: KeysetBound | undefined,
    position: number,
    count: number,
    signal: AbortSignal,
    release: () => Promise<void>,
  ) {
    this.#view = view;
    this.#settings = settings;
    this.#bound = bound;
    this.#position = position;
    this.#remaining = count;
    this.#signal = signal;
    this.#release = release;
    if (settings.cursorWindowMs > 0) {
      const batchSize = Math.min(settings.spec.batchSize ?? settings.pageSize, settings.pageSize);
      this.#window = new CursorWindow(view, settings.cursorWindowMs, batchSize);
    }
  }

  async pull(): Promise<Chunk<T>> {
    if (this.#remaining === 0) return null;
    const ahead = this.#ahead ?? this.#fetch();
    this.#ahead = undefined;
    const page = await ahead.page;
    if (page.length < ahead.limit) {
      throw shortRead(this.#view, this.#bound?.id, this.#remaining, page.length);
    }
    this.#checkUnique(page);
    this.#remaining -= page.length;
    this.#bound = { id: page[page.length - 1]!._id, inclusive: false };
    // The range is read: give the server its cursor back now, not when the last page is consumed.
    if (this.#remaining === 0) await this.#window?.close();
    if (this.#remaining > 0 && this.#settings.readAhead) this.#ahead = this.#fetch();
    const first = this.#position;
    this.#position += page.length;
    return toItems(this.#view, this.#settings.getItem, page, first);
  }

  #fetch(): { limit: number; page: Promise<Document[]> } {
    const limit = Math.min(this.#settings.pageSize, this.#remaining);
    const page =
      this.#window === undefined
        ? this.#view.page(this.#bound, limit, this.#signal)
        : this.#window.read(this.#bound, limit, this.#remaining, this.#signal);
    // Awaited by the next pull; until then a failure must not count as unhandled.
    page.catch(() => undefined);
    return { limit, page };
  }

  /** Keyset paging silently skips repeated `_id`s; say so instead. */
  #checkUnique(page: readonly Document[]): void {
    let previous = this.#lastKey;
    for (const document of page) {
      const key = idKey(document._id);
      if (key === previous) {
        throw new MongoReadError(
          this.#view.namespace,
          document._id,
          this.#view.query,
          1,
          'the view yields this _id twice; keyset pages need unique _ids ($set a unique _id after an $unwind)',
        );
      }
      previous = key;
    }
    this.#lastKey = previous;
  }

  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    // The read in flight finishes first (it may be mid-getMore); then its cursor can be killed.
    if (ahead !== undefined) await ahead.page.catch(() => undefined);
    try {
      await this.#window?.close();
    } finally {
      await this.#release();
    }
  }
}

/** Reads a precomputed `_id` list in blocks, one `$in` query per pull (FiftyOne's `__getitems__`). */
class IdBlockPuller<T> implements Puller<T> {
  readonly #view: MongoView;
  readonly #settings: Settings<T>;
  readonly #ids: readonly unknown[];
  readonly #signal: AbortSignal;
  readonly #release: () => Promise<void>;
  readonly #first: number;
  #next = 0;
  #ahead: { at: number; block: Promise<Document[]> } | undefined;

  constructor(
    view: MongoView,
    settings: Settings<T>,
    ids: readonly unknown[],
    first: number,
    signal: AbortSignal,
    release: () => Promise<void>,
  ) {
    this.#view = view;
    this.#settings = settings;
    this.#ids = ids;
    this.#first = first;
    this.#signal = signal;
    this.#release = release;
  }

  async pull(): Promise<Chunk<T>> {
    if (this.#next >= this.#ids.length) return null;
    const ahead = this.#ahead ?? this.#fetch(this.#next);
    this.#ahead = undefined;
    const block = await ahead.block;
    this.#next = ahead.at + block.length;
    if (this.#next < this.#ids.length && this.#settings.readAhead) this.#ahead = this.#fetch(this.#next);
    return toItems(this.#view, this.#settings.getItem, block, this.#first + ahead.at);
  }

  #fetch(at: number): { at: number; block: Promise<Document[]> } {
    const block = this.#view.block(this.#ids.slice(at, at + this.#settings.pageSize), this.#signal);
    block.catch(() => undefined);
    return { at, block };
  }

  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined) await ahead.block.catch(() => undefined);
    await this.#release();
  }
}

function toItems<T>(
  view: MongoView,
  getItem: ((document: Document, index: number) => T) | undefined,
  page: Document[],
  first: number,
): T[] {
  if (getItem === undefined) return page.map((document) => view.strip(document)) as T[];
  return page.map((document, offset) => {
    const id: unknown = document._id;
    try {
      return getItem(view.strip(document), first + offset);
    } catch (error) {
      throw new MongoDecodeError(view.namespace, view.query, { documentId: id, index: first + offset }, error);
    }
  });
}

function isDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A dataset served from a field cache: no database reads at all. */
function cacheRange<T>(
  cache: FieldCache,
  start: number,
  end: number,
  pageSize: number,
  getItem: ((document: Document, index: number) => T) | undefined,
): Observable<T> {
  const info: DatasetInfo<T> = {
    size: end - start,
    selectRange: (from, to) => {
      const [a, b] = checkRange(from, to, end - start);
      return cacheRange(cache, start + a, start + b, pageSize, getItem);
    },
  };
  return fromPuller<T>(() => {
    let next = start;
    return {
      pull: (): Chunk<T> => {
        if (next >= end) return null;
        const stop = Math.min(next + pageSize, end);
        const items: T[] = [];
        for (let index = next; index < stop; index++) {
          const row = cache.row(index);
          items.push(getItem === undefined ? (row as T) : getItem(row, index));
        }
        next = stop;
        return items;
      },
    };
  }, info);
}

function checkRange(start: number, end: number, size: number): [number, number] {
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new InvalidArgumentError('selectRange.start', `must be a non-negative integer, got ${start}`);
  }
  if (!Number.isSafeInteger(end) || end < start) {
    throw new InvalidArgumentError('selectRange.end', `must be an integer >= start (${start}), got ${end}`);
  }
  return [Math.min(start, size), Math.min(end, size)];
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(name, `must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, `must be a non-negative integer, got ${value}`);
  return value;
}
