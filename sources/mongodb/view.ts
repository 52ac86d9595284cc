/**
 * The queries behind a MongoDB dataset: count, keyset pages, boundary ids, id lists and id blocks,
 * each one short-lived (drained by `toArray` in one call), retried from where it started; and the
 * keyset cursor a `CursorWindow` keeps open across pulls.
 *
 * The subscription's abort signal is NOT passed to the driver: aborting an operation mid-read
 * closes its socket and clears the client's connection pool, failing every other operation in
 * flight on the shared client (another loader's page, a `tapWrite` flush). A read in flight at
 * unsubscribe is at most one page; close waits for it instead. The signal only cuts retry waits.
 *
 * @module
 * @internal
 */
import { channel } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BSON,
  MongoError,
  type AbstractCursor,
  MongoAPIError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Document,
  type Filter,
} from 'mongodb';
import { RxfeedError } from '../../src/errors.js';
import { describeReason } from './describe.js';
import { assertCollectionExists } from './target.js';
import { MongoAuthError, MongoDecodeError, MongoQueryError, MongoReadError, MongoUnreachableError } from './errors.js';

/**
 * Each retry of a MongoDB read is published on this `node:diagnostics_channel` as
 * `{ namespace, attempt, error, lastId }`.
 * @public
 */
export const MONGO_RETRY_CHANNEL = 'rxfeed:mongodb:retry';
const retryChannel = channel(MONGO_RETRY_CHANNEL);

/** Server error codes that mean "the read was interrupted; the same query again will work". */
const RETRYABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  43, // CursorNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  175, // QueryPlanKilled
  189, // PrimarySteppedDown
  237, // CursorKilled
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/**
 * True when `error` is a lost connection, a cleared pool, a lost cursor or a failover: worth the
 * same operation again (rxfeed's reads restart from a known `_id`, its writes are idempotent).
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (!(error instanceof MongoError)) return false;
  if (['RetryableReadError', 'RetryableWriteError', 'PoolRequestedRetry', 'ResetPool'].some((label) => error.hasErrorLabel(label))) {
    return true;
  }
  return error instanceof MongoServerError && typeof error.code === 'number' && RETRYABLE_CODES.has(error.code);
}

/** Server codes of a refused login or missing rights: AuthenticationFailed, Unauthorized. */
const AUTH_CODES = new Set([18, 13]);

/**
 * True when `error` is a refused login: the server's AuthenticationFailed or Unauthorized, or the
 * driver failing inside its authentication mechanism (its `cmap/auth` code), as it does with a
 * plain TypeError when a server answers SASL with an empty payload.
 */
export function isAuthFailure(error: unknown): boolean {
  if (error instanceof MongoServerError) return typeof error.code === 'number' && AUTH_CODES.has(error.code);
  if (!(error instanceof Error) || error instanceof MongoError) return false;
  return /[/\\]cmap[/\\]auth[/\\]/.test(error.stack ?? '');
}

/** True for a failed DNS lookup of a host or an SRV/TXT record (`mongodb+srv://`). */
function isLookupFailure(error: unknown): boolean {
  const syscall = (error as { syscall?: unknown } | null)?.syscall;
  return typeof syscall === 'string' && /^(getaddrinfo|query)/.test(syscall);
}

/** The `host:port` list a server selection error names (its topology's servers). */
function serversOf(error: unknown): string[] {
  const servers = (error as { reason?: { servers?: unknown } } | null)?.reason?.servers;
  return servers instanceof Map ? [...servers.keys()].map(String) : [];
}

/**
 * Turn a driver error into rxfeed's typed error for the dataset `namespace` reading `query`,
 * after `attempts` attempts, `lastId` being the last `_id` delivered. An RxfeedError is kept.
 */
export function wrapDriverError(namespace: string, query: unknown, lastId: unknown, attempts: number, error: unknown): RxfeedError {
  if (error instanceof RxfeedError) return error;
  if (isAuthFailure(error)) return new MongoAuthError(namespace, query, error);
  if (error instanceof MongoServerSelectionError || isLookupFailure(error)) {
    return new MongoUnreachableError(namespace, query, lastId, attempts, serversOf(error), error);
  }
  if (isRetryable(error)) return new MongoReadError(namespace, lastId, query, attempts, describeReason(error), error);
  if (error instanceof MongoTopologyClosedError || error instanceof MongoNotConnectedError) {
    return new MongoReadError(namespace, lastId, query, attempts, `the client was closed: ${describeReason(error)}`, error);
  }
  // The query was checked for BSON at open, so a BSON error now is a reply that does not decode.
  if (error instanceof BSON.BSONError) return new MongoDecodeError(namespace, query, { lastId }, error);
  if (error instanceof MongoServerError || error instanceof MongoAPIError) return new MongoQueryError(namespace, query, error);
  return new MongoReadError(namespace, lastId, query, attempts, describeReason(error), error);
}

/**
 * Run `attempt` on `collection`, first connecting its client again when the last attempt found no
 * server. The driver closes a client's topology when its first connect fails, and every later
 * operation then fails with "Topology is closed"; `connect()` builds a new one (and returns at once
 * when the client is connected), which is what the driver's own first operation does.
 */
export async function afterSelectionFailure<R>(collection: Collection<Document>, previous: unknown, attempt: () => Promise<R>): Promise<R> {
  if (previous instanceof MongoServerSelectionError) await collection.db.client.connect();
  return attempt();
}

/** A stable string key for an `_id` value (ObjectId, number, string or anything BSON). */
export function idKey(id: unknown): string {
  if (id instanceof BSON.ObjectId) return `o${id.toHexString()}`;
  if (typeof id === 'number') return `n${id}`;
  if (typeof id === 'string') return `s${id}`;
  return `j${BSON.EJSON.stringify({ id } as Document, { relaxed: false })}`;
}

/** Where a keyset page starts: after `id` (exclusive) or at it (inclusive). */
export interface KeysetBound {
  readonly id: unknown;
  readonly inclusive: boolean;
}

/** The query a dataset reads, as given to `fromMongo`. */
export interface ViewSpec {
  readonly filter: Filter<Document>;
  readonly pipeline: readonly Document[] | undefined;
  readonly projection: Document | undefined;
  /** Sort by other keys than `_id` (read through an id list); undefined for `_id` order. */
  readonly sort: Document | undefined;
  /** 1 or -1: direction of the `_id` order (keyset mode), or of the tie-break (id-list mode). */
  readonly idDirection: 1 | -1;
  readonly batchSize: number | undefined;
  readonly retries: number;
  readonly retryDelayMs: number;
}

/** The queries of one view over one opened collection. */
export class MongoView {
  readonly #collection: Collection<Document>;
  readonly #spec: ViewSpec;
  readonly namespace: string;
  /** True when the projection drops `_id`: it is fetched anyway (keyset needs it) and removed after. */
  readonly #dropId: boolean;
  readonly #projection: Document | undefined;

  constructor(collection: Collection<Document>, spec: ViewSpec, namespace: string) {
    this.#collection = collection;
    this.#spec = spec;
    this.namespace = namespace;
    const projection = spec.projection;
    this.#dropId = projection !== undefined && (projection._id === 0 || projection._id === false);
    if (projection !== undefined && this.#dropId) {
      const { _id: _dropped, ...rest } = projection;
      // An exclusion projection keeps `_id` when it is not named; an inclusion one needs it named.
      const inclusion = Object.values(rest).some((value) => value !== 0 && value !== false);
      this.#projection = inclusion ? { ...rest, _id: 1 } : Object.keys(rest).length === 0 ? undefined : rest;
    } else {
      this.#projection = projection;
    }
  }

  /** The query as shown in errors. */
  get query(): unknown {
    const { filter, pipeline } = this.#spec;
    return pipeline === undefined ? filter : pipeline;
  }

  /** Remove the `_id` the caller's projection excluded. */
  strip(document: Document): Document {
    if (this.#dropId) delete document._id;
    return document;
  }

  /** Throw MongoCollectionNotFoundError unless the collection (or view) exists; retried like a read. */
  async assertExists(signal?: AbortSignal): Promise<void> {
    return this.retrying(undefined, signal, () => assertCollectionExists(this.#collection));
  }

  /** Exact number of documents the view yields. */
  async count(signal?: AbortSignal): Promise<number> {
    return this.retrying(undefined, signal, async () => {
      const { filter, pipeline } = this.#spec;
      if (pipeline === undefined) return this.#collection.countDocuments(filter);
      const [row] = await this.#collection.aggregate([...pipeline, { $count: 'n' }]).toArray();
      return typeof row?.n === 'number' ? row.n : 0;
    });
  }

  /** Up to `limit` documents in `_id` order from `bound` (from the start when undefined). */
  async page(bound: KeysetBound | undefined, limit: number, signal?: AbortSignal): Promise<Document[]> {
    // The whole page in one batch unless told otherwise: the server cursor then ends with the reply.
    const batchSize = this.#spec.batchSize ?? limit;
    return this.retrying(bound?.id, signal, () => this.keysetCursor(bound, limit, batchSize).toArray());
  }

  /** The `_id` at `position` of the `_id` order, or undefined past the end. */
  async idAt(position: number, signal?: AbortSignal): Promise<unknown> {
    return this.retrying(undefined, signal, async () => {
      const { filter, pipeline, idDirection } = this.#spec;
      const rows =
        pipeline === undefined
          ? await this.#collection.find(filter, { projection: { _id: 1 }, sort: { _id: idDirection }, skip: position, limit: 1 }).toArray()
          : await this.#collection
              .aggregate([...pipeline, { $sort: { _id: idDirection } }, { $skip: position }, { $limit: 1 }, { $project: { _id: 1 } }])
              .toArray();
      return rows[0]?._id;
    });
  }

  /** Every `_id` of the view in its sort order (id-list mode), read in one drained query. */
  async ids(signal?: AbortSignal): Promise<unknown[]> {
    return this.retrying(undefined, signal, async () => {
      const { filter, pipeline, sort, idDirection } = this.#spec;
      const order = { ...sort, _id: idDirection };
      const rows =
        pipeline === undefined
          ? await this.#collection.find(filter, { projection: { _id: 1 }, sort: order, batchSize: 100_000 }).toArray()
          : await this.#collection.aggregate([...pipeline, { $sort: order }, { $project: { _id: 1 } }], { batchSize: 100_000 }).toArray();
      return rows.map((row) => row._id);
    });
  }

  /** The documents with these `_id`s, in the order of `ids` (one `$in` query). */
  async block(ids: readonly unknown[], signal?: AbortSignal): Promise<Document[]> {
    const rows = await this.blockOrMissing(ids, signal);
    return rows.map((row, position) => {
      if (row === undefined) {
        throw new MongoReadError(
          this.namespace,
          ids[position],
          this.query,
          1,
          'a document listed at open is gone (deleted during the epoch)',
        );
      }
      return row;
    });
  }

  /**
   * Like {@link MongoView.block}, with `undefined` for each id the view no longer yields.
   *
   * With `consecutive`, the ids are neighbours in the view's order: in a view ordered by `_id`
   * alone they are then matched as one `_id` range, a single index range scan instead of one
   * seek per id (and one collection scan instead of a comparison per id and document on servers
   * without indexes).
   */
  async blockOrMissing(ids: readonly unknown[], signal?: AbortSignal, consecutive = false): Promise<(Document | undefined)[]> {
    const rows = await this.retrying(ids[0], signal, async () => {
      const { filter, pipeline, batchSize, sort, idDirection } = this.#spec;
      const [low, high] = idDirection === 1 ? [ids[0], ids[ids.length - 1]] : [ids[ids.length - 1], ids[0]];
      const match = consecutive && sort === undefined && ids.length > 1 ? { _id: { $gte: low, $lte: high } } : { _id: { $in: [...ids] } };
      const projection = this.#projection;
      if (pipeline === undefined) {
        return this.#collection.find(and(filter, match), { projection, batchSize: batchSize ?? Math.max(ids.length, 1) }).toArray();
      }
      const stages: Document[] = [...pipeline, { $match: match }];
      if (projection !== undefined) stages.push({ $project: projection });
      return this.#collection.aggregate(stages, { batchSize: batchSize ?? Math.max(ids.length, 1) }).toArray();
    });
    const byKey = new Map<string, Document>();
    for (const row of rows) byKey.set(idKey(row._id), row);
    return ids.map((id) => byKey.get(idKey(id)));
  }

  /**
   * A cursor (not yet sent: the driver sends the command on the first read) over at most `limit`
   * documents of the view after `bound`, in `_id` order, in server batches of `batchSize`.
   */
  keysetCursor(bound: KeysetBound | undefined, limit: number, batchSize: number): AbstractCursor<Document> {
    const { filter, pipeline, idDirection } = this.#spec;
    const projection = this.#projection;
    const operator = idDirection === 1 ? (bound?.inclusive ? '$gte' : '$gt') : bound?.inclusive ? '$lte' : '$lt';
    const after = bound === undefined ? undefined : { _id: { [operator]: bound.id } };
    if (pipeline === undefined) {
      const query = after === undefined ? filter : and(filter, after);
      return this.#collection.find(query, { projection, sort: { _id: idDirection }, limit, batchSize });
    }
    const stages: Document[] = [...pipeline];
    if (after !== undefined) stages.push({ $match: after });
    stages.push({ $sort: { _id: idDirection } }, { $limit: limit });
    if (projection !== undefined) stages.push({ $project: projection });
    return this.#collection.aggregate(stages, { batchSize });
  }

  /**
   * Run one read, again from the same start on a lost connection or cursor, or no server selected
   * (bounded, with doubling delays); then every failure is typed (see {@link wrapDriverError}): a
   * rejected query a MongoQueryError, a refused login a MongoAuthError, no server a
   * MongoUnreachableError, exhausted retries a MongoReadError. `read` must start over from scratch
   * on each call (the same query, or a reopened cursor).
   */
  async retrying<R>(lastId: unknown, signal: AbortSignal | undefined, read: () => Promise<R>): Promise<R> {
    const { retries, retryDelayMs } = this.#spec;
    let previous: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        return await afterSelectionFailure(this.#collection, previous, read);
      } catch (error) {
        previous = error;
        if (signal?.aborted) throw signal.reason;
        if (error instanceof RxfeedError || isAuthFailure(error) || !isRetryable(error) || attempt > retries) {
          throw wrapDriverError(this.namespace, this.query, lastId, attempt, error);
        }
        if (retryChannel.hasSubscribers) retryChannel.publish({ namespace: this.namespace, attempt, error, lastId });
        await sleep(Math.min(retryDelayMs * 2 ** (attempt - 1), 5_000), undefined, { signal });
      }
    }
  }
}

/** `filter AND extra`, keeping a plain filter when the user gave none. */
function and(filter: Filter<Document>, extra: Document): Filter<Document> {
  return Object.keys(filter).length === 0 ? extra : { $and: [filter, extra] };
}
