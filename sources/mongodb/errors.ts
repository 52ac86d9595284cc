/**
 * Typed errors of the MongoDB source, each with a stable `RXFEED_ERR_MONGO_*` code and the
 * collection, filter and document id it concerns.
 *
 * @module
 */
import { RxfeedError } from '../../src/errors.js';
import { describeReason, describeValue } from './describe.js';

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
 * The dataset's query was rejected: a bad filter, pipeline, projection or sort, refused by the
 * server (`cause` is the driver's `MongoServerError`) or by the driver before sending it.
 * @public
 */
export class MongoQueryError extends RxfeedError {
  /** `db.collection` the query ran on. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline) rejected, as Extended JSON (at most 300 characters). */
  readonly query: string;

  constructor(namespace: string, query: unknown, cause: unknown) {
    const reason = describeReason(cause);
    const shown = describeValue(query);
    super('RXFEED_ERR_MONGO_QUERY', `MongoDB rejected the query on '${namespace}' ${shown}: ${reason}`, { cause });
    this.namespace = namespace;
    this.query = shown;
  }
}

/**
 * Reading a dataset failed after its bounded retries (network loss, a killed cursor, a server
 * restart), the view broke the source's ordering contract (a repeated `_id`), or the driver failed
 * in a way no other class names (`cause` is its error; the message quotes at most 300 characters).
 * @public
 */
export class MongoReadError extends RxfeedError {
  /** `db.collection` being read. */
  readonly namespace: string;
  /** `_id` of the last document delivered before the failure, as Extended JSON (`null` at the start). */
  readonly lastId: string;
  /** Attempts made for the failing page. */
  readonly attempts: number;
  /** The filter (or aggregation pipeline) being read, as Extended JSON (at most 300 characters). */
  readonly query: string;

  constructor(namespace: string, lastId: unknown, query: unknown, attempts: number, message: string, cause?: unknown) {
    const last = lastId === undefined ? 'null' : describeValue(lastId);
    super(
      'RXFEED_ERR_MONGO_READ',
      `reading '${namespace}' ${describeValue(query)} failed after the document with _id ${last} ` + `(${attempts} attempt(s)): ${message}`,
      cause === undefined ? undefined : { cause },
    );
    this.namespace = namespace;
    this.lastId = last;
    this.attempts = attempts;
    this.query = describeValue(query);
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
    const reason = describeReason(cause);
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

/**
 * No MongoDB server could be selected for a dataset within its retries: nothing listens at the
 * address, the host does not resolve, or a server accepts connections and never answers.
 *
 * Each attempt waits the client's `serverSelectionTimeoutMS` (2 s by default for a client rxfeed
 * creates, see `MongoTarget.clientOptions`), so this is raised after about
 * `(retries + 1) x serverSelectionTimeoutMS` plus the retry delays. `cause` is the driver's last
 * error (`MongoServerSelectionError`).
 * @public
 */
export class MongoUnreachableError extends RxfeedError {
  /** `db.collection` being opened or read. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline), as Extended JSON (at most 300 characters). */
  readonly query: string;
  /** Attempts made. */
  readonly attempts: number;
  /** The servers (`host:port`) the driver tried, as it reported them; never credentials. */
  readonly servers: readonly string[];
  /** `_id` of the last document delivered before the failure, as Extended JSON (`null` at the start). */
  readonly lastId: string;

  constructor(namespace: string, query: unknown, lastId: unknown, attempts: number, servers: readonly string[], cause: unknown) {
    const shown = describeValue(query);
    const last = lastId === undefined ? 'null' : describeValue(lastId);
    const where = servers.length === 0 ? '' : ` at ${servers.join(', ')}`;
    const after = lastId === undefined ? '' : ` after the document with _id ${last}`;
    super(
      'RXFEED_ERR_MONGO_UNREACHABLE',
      `no MongoDB server${where} answered for '${namespace}' ${shown}${after} in ${attempts} attempt(s): ` +
        `${describeReason(cause)}. Check the address and that the server is up; each attempt waits ` +
        'serverSelectionTimeoutMS.',
      { cause },
    );
    this.namespace = namespace;
    this.query = shown;
    this.attempts = attempts;
    this.servers = [...servers];
    this.lastId = last;
  }
}

/**
 * The server refused the credentials (wrong user or password, unknown mechanism, no rights on the
 * database), or the authentication exchange failed. Not retried: the same credentials fail again.
 * The message never contains the credentials.
 * @public
 */
export class MongoAuthError extends RxfeedError {
  /** `db.collection` being opened or read. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline), as Extended JSON (at most 300 characters). */
  readonly query: string;

  constructor(namespace: string, query: unknown, cause: unknown) {
    const shown = describeValue(query);
    super(
      'RXFEED_ERR_MONGO_AUTH',
      `MongoDB authentication failed for '${namespace}' ${shown}: ${describeReason(cause)}. Check the ` +
        "user, password, authSource and the user's roles.",
      { cause },
    );
    this.namespace = namespace;
    this.query = shown;
  }
}

/**
 * The driver rejected a connection string (or the client options given with it) before
 * connecting. The message shows the string with its user name and password replaced by `***`.
 * @public
 */
export class MongoUriError extends RxfeedError {
  /** The connection string, credentials masked. */
  readonly uri: string;

  constructor(uri: string, reason: string, cause: unknown) {
    super('RXFEED_ERR_MONGO_URI', `MongoDB connection string ${uri} was rejected: ${reason}`, { cause });
    this.uri = uri;
  }
}

/**
 * A document of a dataset could not be turned into an element: `getItem` threw for it (`cause` is
 * its error), or the driver could not decode a reply (invalid BSON, e.g. bad UTF-8; the document is
 * then known only as following `lastId`).
 * @public
 */
export class MongoDecodeError extends RxfeedError {
  /** `db.collection` being read. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline), as Extended JSON (at most 300 characters). */
  readonly query: string;
  /** `_id` of the failing document, as Extended JSON; undefined when it could not be decoded. */
  readonly documentId: string | undefined;
  /** Position of the failing document in the dataset, when known. */
  readonly index: number | undefined;
  /** `_id` of the last document read before the failing one, as Extended JSON (`null` at the start). */
  readonly lastId: string;

  constructor(
    namespace: string,
    query: unknown,
    failing: { readonly documentId?: unknown; readonly index?: number; readonly lastId?: unknown },
    cause: unknown,
  ) {
    const shown = describeValue(query);
    const id = failing.documentId === undefined ? undefined : describeValue(failing.documentId);
    const last = failing.lastId === undefined ? 'null' : describeValue(failing.lastId);
    const which =
      id === undefined
        ? `a document after _id ${last}`
        : `the document with _id ${id}${failing.index === undefined ? '' : ` (element ${failing.index})`}`;
    super('RXFEED_ERR_MONGO_DECODE', `decoding ${which} of '${namespace}' ${shown} failed: ${describeReason(cause)}`, { cause });
    this.namespace = namespace;
    this.query = shown;
    this.documentId = id;
    this.index = failing.index;
    this.lastId = last;
  }
}

/**
 * A document a random-access dataset (`mongoDataset`) listed when it was made is no longer in its
 * view: deleted since, or changed so that the filter no longer matches it. The dataset's `_id` list
 * is a snapshot; make the dataset again to see the view as it is now.
 * @public
 */
export class MongoDocumentMissingError extends RxfeedError {
  /** `db.collection` being read. */
  readonly namespace: string;
  /** The filter (or aggregation pipeline), as Extended JSON (at most 300 characters). */
  readonly query: string;
  /** `_id` of the missing document, as Extended JSON. */
  readonly documentId: string;
  /** Its index in the dataset. */
  readonly index: number;

  constructor(namespace: string, query: unknown, documentId: unknown, index: number) {
    const shown = describeValue(query);
    const id = describeValue(documentId);
    super(
      'RXFEED_ERR_MONGO_MISSING',
      `the document with _id ${id} (element ${index}) of '${namespace}' ${shown} is gone: it was in the view when the ` +
        'dataset was made and was deleted since, or no longer matches the filter. Make the dataset again.',
    );
    this.namespace = namespace;
    this.query = shown;
    this.documentId = id;
    this.index = index;
  }
}
