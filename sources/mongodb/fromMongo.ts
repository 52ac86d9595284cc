/**
 * `fromMongo`: a sized, cursor-safe dataset over a MongoDB query or aggregation view.
 *
 * @module
 */
import type { Document } from 'mongodb';
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import type { DatasetInfo } from '../../src/info.js';
import { fromPuller } from '../core/fromPuller.js';
import type { Chunk } from '../core/puller.js';
import { partsInfo } from '../core/selection.js';
import type { FieldCache } from './fieldCache.js';
import { openRangePuller, type Settings } from './rangePullers.js';
import { checkInput, openTarget, type MongoCollectionInput } from './target.js';
import { MongoView } from './view.js';
import { nonNegativeInteger, positiveInteger, viewSpec, type MongoViewOptions } from './viewOptions.js';

/**
 * Options of {@link fromMongo}.
 * @public
 */
export interface FromMongoOptions<T> extends MongoViewOptions {
  /** Map each document (or cached row, with `cache`) to the element emitted; `index` is its position. */
  readonly getItem?: (document: Document, index: number) => T;
  /**
   * Documents per page (or id block), default 1000. One page is the source's pulled chunk, and with
   * `readAhead` one more page may be in flight, so at most `2 x pageSize` documents are held here
   * (in either `cursorWindowMs` mode; see `batchSize` for the one exception).
   */
  readonly pageSize?: number;
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
   * Serve every element from this field cache (see {@link loadFieldCache}) instead of the
   * database: `getItem` receives the cached row. The view options must then be left out (the
   * cache was loaded with them).
   */
  readonly cache?: FieldCache;
}

const DEFAULT_PAGE_SIZE = 1000;
/** Far below MongoDB's default `cursorTimeoutMillis` (10 minutes), yet a few hundred pages long. */
const DEFAULT_CURSOR_WINDOW_MS = 30_000;

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
 * import { fromMongo } from 'rxfeed/mongodb';
 * import { shard, toLoader } from 'rxfeed';
 * import { bufferCount } from 'rxjs';
 * declare function step(batch: number[]): Promise<void>;
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
export async function fromMongo<T = Document>(input: MongoCollectionInput, options: FromMongoOptions<T> = {}): Promise<Observable<T>> {
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

/** The dataset elements `[start, end)` of the view's order, as a sized Observable. */
function mongoRange<T>(input: MongoCollectionInput, settings: Settings<T>, start: number, end: number): Observable<T> {
  const info = rangeInfo<T>(start, end, (from, to) => mongoRange(input, settings, from, to));
  return fromPuller<T>((context) => openRangePuller(input, settings, start, end, context), info, 'fromMongo');
}

/**
 * `size` and `selectRange` of the elements `[start, end)`. A range past the end is cut to it:
 * the size is a count taken when the dataset was made.
 */
function rangeInfo<T>(start: number, end: number, open: (start: number, end: number) => Observable<T>): DatasetInfo<T> {
  return partsInfo<undefined, T>([{ input: undefined, first: start, end }], {
    where: 'fromMongo',
    open: (parts) => (parts.length === 0 ? open(start, start) : open(parts[0]!.first, parts[0]!.end!)),
    pastEnd: 'clamp',
  });
}

/** A dataset served from a field cache: no database reads at all. */
function cacheRange<T>(
  cache: FieldCache,
  start: number,
  end: number,
  pageSize: number,
  getItem: ((document: Document, index: number) => T) | undefined,
): Observable<T> {
  const info = rangeInfo<T>(start, end, (from, to) => cacheRange(cache, from, to, pageSize, getItem));
  return fromPuller<T>(
    () => {
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
    },
    info,
    'fromMongo',
  );
}
