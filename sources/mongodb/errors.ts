/**
 * Typed errors of the MongoDB source, each with a stable `RXFEED_ERR_MONGO_*` code and the
 * collection, filter and document id it concerns.
 *
 * @module
 */
import { RxfeedError } from '../../src/errors.js';
import { describeValue } from './describe.js';

/**
 * The collection (or view) a dataset names does not exist in its database.
 * @public
 */
export class MongoCollectionNotFoundError extends RxfeedError {
  /** `db.collection` of the missing collection. */
  readonly namespace: string;

  constructor(namespace: string) {
    super(
      'RXFEED_ERR_MONGO_NO_COLLECTION',
      `MongoDB collection '${namespace}' does not exist (no collection or view of that name in ` +
        'listCollections); check the database and collection names.',
    );
    this.namespace = namespace;
  }
}

/**
 * The server rejected the dataset's query: a bad filter, pipeline, projection or sort.
 * @public
 */
export class MongoQueryError extends RxfeedError {
  /** `db.collection` the query ran on. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline) the server rejected, as Extended JSON. */
  readonly query: string;

  constructor(namespace: string, query: unknown, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const shown = describeValue(query);
    super('RXFEED_ERR_MONGO_QUERY', `MongoDB rejected the query on '${namespace}' ${shown}: ${reason}`, { cause });
    this.namespace = namespace;
    this.query = shown;
  }
}

/**
 * Reading a dataset failed after its bounded retries (network loss, a killed cursor, a server
 * restart), or the view broke the source's ordering contract (a repeated `_id`).
 * @public
 */
export class MongoReadError extends RxfeedError {
  /** `db.collection` being read. */
  readonly namespace: string;
  /** `_id` of the last document delivered before the failure, as Extended JSON (`null` at the start). */
  readonly lastId: string;
  /** Attempts made for the failing page. */
  readonly attempts: number;

  constructor(namespace: string, lastId: unknown, query: unknown, attempts: number, message: string, cause?: unknown) {
    const last = lastId === undefined ? 'null' : describeValue(lastId);
    super(
      'RXFEED_ERR_MONGO_READ',
      `reading '${namespace}' ${describeValue(query)} failed after the document with _id ${last} ` +
        `(${attempts} attempt(s)): ${message}`,
      cause === undefined ? undefined : { cause },
    );
    this.namespace = namespace;
    this.lastId = last;
    this.attempts = attempts;
  }
}

/**
 * A batch of write-back updates failed (`tapWrite`).
 * @public
 */
export class MongoWriteError extends RxfeedError {
  /** `db.collection` written to. */
  readonly namespace: string;
  /** `_id` of the first document whose update failed, as Extended JSON, when the server said. */
  readonly documentId: string | undefined;

  constructor(namespace: string, documentId: unknown, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const id = documentId === undefined ? undefined : describeValue(documentId);
    super(
      'RXFEED_ERR_MONGO_WRITE',
      `writing to '${namespace}' failed${id === undefined ? '' : ` at the document with _id ${id}`}: ${reason}`,
      { cause },
    );
    this.namespace = namespace;
    this.documentId = id;
  }
}

/**
 * A shared MongoDB client was used from a worker thread other than the one that created it.
 *
 * Each thread must open its own client: a client's sockets, timers and pool belong to the event
 * loop of the thread that made it (the worker-thread form of the fork-safety rule of PyTorch's
 * DataLoader with pymongo). rxfeed's registry is per thread, so `fromMongo` with a
 * `{ uri, db, collection }` target does this by itself in every worker.
 * @public
 */
export class MongoThreadError extends RxfeedError {
  /** Thread that created the client. */
  readonly ownerThreadId: number;
  /** Thread that tried to use it. */
  readonly threadId: number;

  constructor(what: string, ownerThreadId: number, threadId: number) {
    super(
      'RXFEED_ERR_MONGO_THREAD',
      `${what} was created on thread ${ownerThreadId} and used on thread ${threadId}: a MongoClient's ` +
        'sockets and pool belong to the event loop that made them. Open the dataset from a ' +
        '{ uri, db, collection } target inside each worker (each thread gets its own client), or ' +
        'share data with a FieldCache (SharedArrayBuffer), never a client.',
    );
    this.ownerThreadId = ownerThreadId;
    this.threadId = threadId;
  }
}
