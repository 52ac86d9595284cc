/**
 * `mongoDataset`: a MongoDB view as a random-access dataset (the RandomAccess port).
 *
 * @module
 */
import type { Document } from 'mongodb';
import { InvalidArgumentError } from '../../src/errors.js';
import { DatasetClosedError, readCoalesced, type RandomAccess } from '../core/randomAccess.js';
import { MongoDocumentMissingError } from './errors.js';
import { listIds, type IdList } from './idList.js';
import { toItems } from './rangePullers.js';
import { checkInput, openTarget, type MongoCollectionInput, type OpenedTarget } from './target.js';
import { MongoView } from './view.js';
import { positiveInteger, viewSpec, type MongoViewOptions } from './viewOptions.js';

/**
 * Options of {@link mongoDataset}: the view (as for `fromMongo`) and how reads are split.
 * @public
 */
export interface MongoDatasetOptions<T> extends MongoViewOptions {
  /** Map each document to the element read; `index` is its index in the dataset (as in `fromMongo`). */
  readonly getItem?: (document: Document, index: number) => T;
  /**
   * Most documents one `$in` query fetches (default 256). A `read` holds at most
   * `concurrency x blockSize` documents in flight besides the elements it answers.
   */
  readonly blockSize?: number;
  /** `$in` queries in flight at once for one `read` (default 4). */
  readonly concurrency?: number;
}

/**
 * A MongoDB view read by index: element `i` is the `i`-th document of the view's order.
 * @public
 */
export interface MongoDataset<T> extends RandomAccess<T> {
  /** `db.collection` read. */
  readonly namespace: string;
  read(indices: readonly number[], signal?: AbortSignal): Promise<T[]>;
  close(): Promise<void>;
  /** {@link MongoDataset.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_BLOCK_SIZE = 256;
const DEFAULT_CONCURRENCY = 4;

/**
 * A MongoDB collection, query or aggregation view as a random-access dataset: the map-style
 * counterpart of {@link fromMongo}, with the same view options and the same elements, so that
 * `(await dataset.read([i]))[0]` deep-equals the `i`-th element `fromMongo` emits.
 *
 * Made once: the view's `_id`s are listed in its order (`_id` order, or `sort` with ties broken by
 * `_id`) with one streamed query (projection `{ _id: 1 }`) and kept: 12 bytes per document when
 * every `_id` is an ObjectId (packed), else a plain array of the ids (about 24-40 bytes per
 * document for numbers and short strings, more for larger ids). `size` is the number listed.
 *
 * `read(indices)` fetches the distinct indices asked, in index order, in blocks of at most
 * `blockSize` documents, one `find({ ...filter, _id: { $in: block } })` (or the pipeline then a
 * `$match`) with the view's projection per block, at most `concurrency` at once, and answers in the
 * order asked. Blocks are cut from the distinct indices whether or not they are neighbours: a `$in`
 * costs the same for any `_id`s (with the `_id` index; an aggregation view runs its pipeline again
 * for each block, as `fromMongo`'s id blocks do). Memory: the answer plus at most
 * `concurrency x blockSize` documents in flight. Lost reads are retried as `fromMongo`'s are
 * (`retries`, `retryDelayMs`), then typed. A document listed at creation and gone since (deleted,
 * or no longer matching the filter) fails the read with a {@link MongoDocumentMissingError}
 * naming its `_id` and index.
 *
 * With a `{ uri, db, collection }` target, the dataset leases the thread's shared client when made
 * and releases it on `close()`: close every dataset (or `await using` it). A driver `Collection`'s
 * client is yours and is never closed. `close()` waits for the queries in flight (a driver query is
 * not aborted: that would clear the shared client's pool), and reads after it fail with
 * `DatasetClosedError`.
 *
 * @example
 * ```ts
 * import { mongoDataset } from 'rxfeed/mongodb';
 * import { permutation } from 'rxfeed';
 * await using train = await mongoDataset(
 *   { uri: process.env.MONGODB_URI!, db: 'ml', collection: 'samples' },
 *   { filter: { split: 'train' }, projection: { label: 1, path: 1 } },
 * );
 * const order = permutation(train.size, 42);
 * const batch = await train.read(Array.from(order.subarray(0, 64)));
 * ```
 *
 * @param input - A driver `Collection` (your client), or a `{ uri, db, collection }` target.
 * @param options - The view and reading options; see {@link MongoDatasetOptions}.
 * @returns The dataset, once its `_id`s are listed.
 * @throws {@link MongoCollectionNotFoundError}, {@link MongoQueryError}, {@link MongoUnreachableError}
 *   and the other errors of `fromMongo` while listing; {@link InvalidArgumentError} for bad options.
 * @public
 */
export async function mongoDataset<T = Document>(
  input: MongoCollectionInput,
  options: MongoDatasetOptions<T> = {},
): Promise<MongoDataset<T>> {
  checkInput(input, 'mongoDataset input');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('mongoDataset options', 'must be an object');
  if (options.getItem !== undefined && typeof options.getItem !== 'function') {
    throw new InvalidArgumentError('mongoDataset.getItem', 'must be a function');
  }
  const blockSize = positiveInteger(options.blockSize ?? DEFAULT_BLOCK_SIZE, 'mongoDataset.blockSize');
  const concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, 'mongoDataset.concurrency');
  const spec = viewSpec(options, 'mongoDataset');
  const opened = openTarget(input);
  try {
    const view = new MongoView(opened.collection, spec, opened.namespace);
    await view.assertExists();
    const ids = await listIds(opened.collection, spec, view);
    return new ViewDataset(opened, view, ids, { getItem: options.getItem, blockSize, concurrency });
  } catch (error) {
    await opened.release();
    throw error;
  }
}

interface ReadSettings<T> {
  readonly getItem: ((document: Document, index: number) => T) | undefined;
  readonly blockSize: number;
  readonly concurrency: number;
}

class ViewDataset<T> implements MongoDataset<T> {
  readonly size: number;
  readonly namespace: string;
  readonly #opened: OpenedTarget;
  readonly #view: MongoView;
  readonly #ids: IdList;
  readonly #settings: ReadSettings<T>;
  /** Aborted by close: stops starting blocks and cuts retry waits. */
  readonly #closing = new AbortController();
  /** Reads in flight, settled either way: close waits for them before releasing the client. */
  readonly #reading = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  constructor(opened: OpenedTarget, view: MongoView, ids: IdList, settings: ReadSettings<T>) {
    this.#opened = opened;
    this.#view = view;
    this.#ids = ids;
    this.#settings = settings;
    this.size = ids.length;
    this.namespace = opened.namespace;
  }

  read(indices: readonly number[], signal?: AbortSignal): Promise<T[]> {
    if (this.#closed !== undefined) return Promise.reject(new DatasetClosedError(`mongoDataset '${this.namespace}'`));
    const reading = this.#read(indices, signal);
    const settled = reading.then(
      () => undefined,
      () => undefined,
    );
    this.#reading.add(settled);
    void settled.then(() => this.#reading.delete(settled));
    return reading;
  }

  async #read(indices: readonly number[], signal: AbortSignal | undefined): Promise<T[]> {
    const where = 'mongoDataset.read';
    const { blockSize, concurrency, getItem } = this.#settings;
    const signals = signal === undefined ? [this.#closing.signal] : [signal, this.#closing.signal];
    return readCoalesced<T>(
      indices,
      async (run, runSignal) => {
        runSignal.throwIfAborted();
        const block = Array.from(run.indices);
        const ids = block.map((index) => this.#ids.at(index));
        const documents = await this.#view.blockOrMissing(ids, runSignal, run.end - run.first === block.length);
        const missing = documents.indexOf(undefined);
        if (missing >= 0) throw new MongoDocumentMissingError(this.namespace, this.#view.query, ids[missing], block[missing]!);
        return block.map((index, offset) => toItems(this.#view, getItem, [documents[offset]!], index)[0]!);
      },
      // A `$in` costs the same for neighbours or not: a block is any `blockSize` distinct indices.
      { size: this.size, where, maxRun: blockSize, concurrency, contiguous: false, signal: AbortSignal.any(signals) },
    );
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(new DatasetClosedError(`mongoDataset '${this.namespace}'`));
      await Promise.all(this.#reading);
      await this.#opened.release();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
