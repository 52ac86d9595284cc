/**
 * What a dataset reads from or writes to: a driver `Collection`, or a `{ uri, db, collection }`
 * naming one through the shared client registry.
 *
 * @module
 */
import type { Collection, Document, MongoClientOptions } from 'mongodb';
import { InvalidArgumentError } from '../../src/errors.js';
import { acquireMongoClient } from './clients.js';
import { MongoCollectionNotFoundError } from './errors.js';

/**
 * A collection named by connection string: rxfeed opens (and closes) the shared client itself.
 * @public
 */
export interface MongoTarget {
  /** MongoDB connection string, e.g. `mongodb://127.0.0.1:27017/?directConnection=true`. */
  readonly uri: string;
  /** Database name. */
  readonly db: string;
  /** Collection (or view) name. */
  readonly collection: string;
  /**
   * Options of the shared client; clients are shared per (uri, options). Unless these or the
   * connection string set them, rxfeed's client waits `serverSelectionTimeoutMS: 2000` for a server
   * per attempt and `connectTimeoutMS: 10000` for a connection (see
   * {@link DEFAULT_SERVER_SELECTION_TIMEOUT_MS}): with `retries` attempts after the first, a dead
   * server is reported after about `(retries + 1) x serverSelectionTimeoutMS` plus the retry delays.
   */
  readonly clientOptions?: MongoClientOptions;
}

/**
 * Either a driver `Collection` (its client is yours: rxfeed never closes it, and that client's
 * `serverSelectionTimeoutMS`, 30 s by default, governs each attempt: a dead server is reported after
 * `(retries + 1) x` that) or a {@link MongoTarget} (rxfeed leases the shared client and releases it
 * with each loader).
 * @public
 */
export type MongoCollectionInput = Collection<Document> | MongoTarget;

/** An opened target: the collection, and how to give back what opening it took. */
export interface OpenedTarget {
  readonly collection: Collection<Document>;
  /** `db.collection`, for messages. */
  readonly namespace: string;
  release(): Promise<void>;
}

/** True for a `{ uri, db, collection }` target rather than a driver Collection. */
export function isMongoTarget(input: MongoCollectionInput): input is MongoTarget {
  return typeof (input as MongoTarget | undefined)?.uri === 'string';
}

/** Characters MongoDB refuses in a database name (the driver would quietly use `test` for `''`). */
const BAD_DB_NAME = /[/\\. "$\0]/;

/**
 * Check an input's shape before any connection: a driver Collection, or a target whose `db` and
 * `collection` are names MongoDB accepts.
 */
export function checkInput(input: MongoCollectionInput, where: string): void {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidArgumentError(where, 'must be a driver Collection or { uri, db, collection }');
  }
  if (!isMongoTarget(input)) {
    const { dbName, collectionName } = input as Partial<Collection<Document>>;
    if (typeof dbName !== 'string' || typeof collectionName !== 'string') {
      throw new InvalidArgumentError(where, 'must be a driver Collection or { uri, db, collection } (no string uri given)');
    }
    return;
  }
  if (typeof input.db !== 'string' || input.db === '' || BAD_DB_NAME.test(input.db)) {
    throw new InvalidArgumentError(
      `${where}.db`,
      `${JSON.stringify(input.db)} is not a database name (non-empty, without / \\ . " $ space or NUL)`,
    );
  }
  if (
    typeof input.collection !== 'string' ||
    input.collection === '' ||
    input.collection.includes('\0') ||
    input.collection.startsWith('$')
  ) {
    throw new InvalidArgumentError(
      `${where}.collection`,
      `${JSON.stringify(input.collection)} is not a collection name (non-empty, not starting with $, without NUL)`,
    );
  }
  if (input.clientOptions !== undefined && (typeof input.clientOptions !== 'object' || input.clientOptions === null)) {
    throw new InvalidArgumentError(`${where}.clientOptions`, 'must be an object of MongoClient options');
  }
}

/** `db.collection` of an input, without opening anything. */
export function namespaceOf(input: MongoCollectionInput): string {
  return isMongoTarget(input) ? `${input.db}.${input.collection}` : `${input.dbName}.${input.collectionName}`;
}

/** Open `input`: lease the shared client for a target; a driver Collection is used as it is. */
export function openTarget(input: MongoCollectionInput): OpenedTarget {
  if (!isMongoTarget(input)) {
    return { collection: input, namespace: namespaceOf(input), release: () => Promise.resolve() };
  }
  const lease = acquireMongoClient(input.uri, input.clientOptions);
  try {
    const collection = lease.client.db(input.db).collection(input.collection);
    return { collection, namespace: namespaceOf(input), release: () => lease.release() };
  } catch (error) {
    // The open error is the one to report; a close that fails after it must not surface as an
    // unhandled rejection, which `void` would leave it to be.
    lease.release().catch(() => undefined);
    throw error;
  }
}

/** Throw {@link MongoCollectionNotFoundError} unless the collection or view exists. */
export async function assertCollectionExists(collection: Collection<Document>, signal?: AbortSignal): Promise<void> {
  const found = await collection.db.listCollections({ name: collection.collectionName }, { nameOnly: true, signal }).toArray();
  if (found.length === 0) throw new MongoCollectionNotFoundError(`${collection.dbName}.${collection.collectionName}`);
}
