/**
 * The view a MongoDB dataset reads, shared by `fromMongo` and `loadFieldCache` (so a cache's rows
 * line up with the dataset's order), and its validation.
 *
 * @module
 */
import { BSON, type Document, type Filter } from 'mongodb';
import { InvalidArgumentError } from '../../src/errors.js';
import { describeReason } from './describe.js';
import type { ViewSpec } from './view.js';

/**
 * The view of a collection that a dataset reads: a find query or an aggregation pipeline, its
 * order, and how its reads are retried. Options of `fromMongo` and `loadFieldCache`.
 * @public
 */
export interface MongoViewOptions {
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
  /**
   * Documents per server batch; default `pageSize`, so a page is one reply (`find` or `getMore`).
   * Smaller values make a page span several `getMore`s; larger ones are cut to `pageSize` in a
   * cursor window (a batch never brings more than a page). When `pageSize` is not a multiple of
   * it, a cursor window's last batch of a page may leave up to `batchSize - 1` documents of the
   * next page in the driver's buffer, on top of the `2 x pageSize` bound.
   */
  readonly batchSize?: number;
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
}

/** Validate the view options of `fromMongo` or `loadFieldCache`. */
export function viewSpec(options: MongoViewOptions, where: string): ViewSpec {
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

/** A plain object (not an array). */
export function isDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(name, `must be a positive integer, got ${value}`);
  return value;
}

export function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, `must be a non-negative integer, got ${value}`);
  return value;
}
